import { parseArgs } from "node:util";

/** The server's base URL from `[host] [port]`. */
export function serverUrlFromArgs(args: string[]): string {
  const { positionals } = parseArgs({ args, allowPositionals: true, strict: true });
  if (positionals.length > 2) throw new Error("too many arguments");
  const host = positionals[0] ?? "127.0.0.1";
  const port = positionals[1] ?? "4000";
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error(`port must be a number from 1 to 65535, not "${port}"`);
  }
  const hostInUrl = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return new URL(`http://${hostInUrl}:${port}`).origin;
}
