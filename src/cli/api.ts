import { z } from "zod";

type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

const problemSchema = z.object({
  code: z.string().optional(),
  title: z.string().optional(),
  detail: z.string().optional(),
  attemptsLeft: z.number().optional(),
});

/** A request the server refused, or could not be asked at all; `detail` is the text to show the user. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly attemptsLeft?: number,
  ) {
    super(detail);
  }

  /** The token no longer works: the session is over. */
  get sessionEnded(): boolean {
    return this.status === 401 && this.code !== "invalid_credentials";
  }
}

export type Api = {
  /** Sends a JSON request and returns the answer checked against `answer`; throws ApiError otherwise. */
  call<T>(method: HttpMethod, path: string, answer: z.ZodType<T>, body?: unknown): Promise<T>;
};

export function createApi(baseUrl: string, token?: string): Api {
  return {
    async call(method, path, answer, body) {
      const headers: Record<string, string> = { accept: "application/json" };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      let response: Response;
      try {
        response = await fetch(new URL(path, baseUrl), {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch {
        throw new ApiError(0, "unreachable", `Error. Cannot reach the server at ${baseUrl}`);
      }
      const json = await readJson(response);
      if (!response.ok) throw problemToError(response.status, json);
      const parsed = answer.safeParse(json ?? {});
      if (!parsed.success) {
        throw new ApiError(response.status, "unexpected_answer", "Error. The server sent an unexpected answer");
      }
      return parsed.data;
    },
  };
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => "");
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function problemToError(status: number, json: unknown): ApiError {
  const problem = problemSchema.safeParse(json);
  const fields = problem.success ? problem.data : {};
  const detail = fields.detail ?? fields.title ?? `Error. The server answered ${status}`;
  return new ApiError(status, fields.code ?? "unknown", detail, fields.attemptsLeft);
}
