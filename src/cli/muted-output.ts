import { Writable } from "node:stream";

/** The output readline echoes to, passed through to the real one except while muted (a password being typed). */
export class MutableOutput extends Writable {
  muted = false;

  constructor(private readonly target: Writable & { columns?: number }) {
    super({ decodeStrings: false });
    target.on("resize", () => this.emit("resize"));
  }

  /** Readline wraps long input lines at this width. */
  get columns(): number | undefined {
    return this.target.columns;
  }

  override _write(chunk: string | Buffer, encoding: BufferEncoding, callback: () => void): void {
    if (!this.muted) this.target.write(chunk, encoding);
    callback();
  }
}
