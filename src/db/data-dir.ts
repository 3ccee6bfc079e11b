import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";

/** The embedded database's folder cannot be kept private to this user; start-up stops with this message. */
export class DataDirectoryError extends Error {}

const GROUP_OR_OTHER = 0o077;

/**
 * Makes the embedded database's folder private to this user: the folder and every folder inside
 * 0700, every file 0600 (the JWT signing secret is stored in the database). Creates the folder if
 * missing. Symbolic links are left alone. Throws DataDirectoryError when it cannot (another owner,
 * a file system without modes), so the service never runs on a folder others can read.
 */
export function makeDataDirectoryPrivate(directory: string): void {
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    // The folder itself may be a link to the real one; links inside it are left alone.
    restrict(directory, statSync(directory));
  } catch (error) {
    throw new DataDirectoryError(
      `data-dir ${directory}: cannot make it readable by this user only (${(error as Error).message}); ` +
        "it holds the database and the token signing secret. Fix its owner or permissions, or choose another --data-dir",
    );
  }
  const mode = statSync(directory).mode & 0o777;
  if ((mode & GROUP_OR_OTHER) !== 0) {
    throw new DataDirectoryError(
      `data-dir ${directory}: its mode stays ${mode.toString(8).padStart(4, "0")} after chmod 0700 (a file system without ` +
        "Unix permissions?); it holds the database and the token signing secret. Choose another --data-dir",
    );
  }
}

function restrict(path: string, stats: Stats): void {
  if (stats.isSymbolicLink()) return;
  if (stats.isDirectory()) {
    if ((stats.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
    for (const entry of readdirSync(path)) restrict(join(path, entry), lstatSync(join(path, entry)));
  } else if ((stats.mode & GROUP_OR_OTHER) !== 0) {
    chmodSync(path, stats.mode & 0o700);
  }
}
