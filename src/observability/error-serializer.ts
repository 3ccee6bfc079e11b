/**
 * What a logged error may say: its name, its code (a SQLSTATE for database errors), a message that
 * holds no data, the stack frames, and the same for its cause. Never the SQL text or its parameters,
 * which postgres.js errors carry as `query` and `parameters`, PGlite's and drizzle's in their
 * message ("Failed query: ... params: ..."), and PostgreSQL in messages such as
 * `invalid input syntax for type integer: "<the value>"`: a message text or a token may be among them.
 */
export type SafeError = { type: string; code?: string; message: string; stack?: string; cause?: SafeError };

const SQLSTATE = /^[0-9A-Z]{5}$/;
const MAX_MESSAGE_LENGTH = 200;
const MAX_CAUSE_DEPTH = 5;

type ErrorFields = Error & { code?: unknown; query?: unknown; parameters?: unknown; params?: unknown };

/** A database error may quote its query, its parameters or a value it refused: its message is not kept. */
function isDatabaseError(error: ErrorFields): boolean {
  return (
    (typeof error.code === "string" && SQLSTATE.test(error.code)) ||
    error.query !== undefined ||
    error.parameters !== undefined ||
    error.params !== undefined ||
    error.message.startsWith("Failed query:")
  );
}

function safeMessage(error: ErrorFields): string {
  if (isDatabaseError(error)) return "database error (message withheld: it may quote the query or its parameters)";
  // JSON.parse quotes the text it could not read.
  if (error instanceof SyntaxError) return "syntax error (message withheld: it may quote the input)";
  const message = error.message.split("\n")[0]!;
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH)}...` : message;
}

/** The stack's frames under a first line of our own: V8 puts the whole message (query and all) on top. */
function safeStack(error: Error, headline: string): string | undefined {
  if (typeof error.stack !== "string") return undefined;
  const frames = error.stack.split("\n").filter((line) => /^\s+at /.test(line));
  return [headline, ...frames].join("\n");
}

export function serializeError(error: unknown, depth = 0): SafeError {
  if (!(error instanceof Error)) return { type: typeof error, message: "a thrown value that is not an Error (withheld)" };
  const fields = error as ErrorFields;
  const type = error.name || error.constructor.name;
  const message = safeMessage(fields);
  const stack = safeStack(error, `${type}: ${message}`);
  const cause = depth < MAX_CAUSE_DEPTH && error.cause !== undefined ? serializeError(error.cause, depth + 1) : undefined;
  return {
    type,
    ...(typeof fields.code === "string" ? { code: fields.code.slice(0, 40) } : {}),
    message,
    ...(stack ? { stack } : {}),
    ...(cause ? { cause } : {}),
  };
}
