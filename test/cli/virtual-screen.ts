import { Writable } from "node:stream";

/**
 * A tiny terminal emulator for tests: applies what readline writes (text, CR/LF, and the cursor and
 * erase sequences it uses) to a grid, so a test can assert what the user would see.
 */
export class VirtualScreen extends Writable {
  private readonly grid: string[][] = [[]];
  private row = 0;
  private column = 0;

  constructor(readonly columns?: number) {
    super({ decodeStrings: false });
  }

  /** The visible rows, trailing spaces trimmed, trailing empty rows dropped. */
  get lines(): string[] {
    const lines = this.grid.map((cells) => cells.join("").trimEnd());
    while (lines.length > 1 && lines.at(-1) === "") lines.pop();
    return lines;
  }

  get cursor(): { row: number; column: number } {
    return { row: this.row, column: this.column };
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.apply(String(chunk));
    callback();
  }

  private apply(text: string): void {
    // eslint-disable-next-line no-control-regex -- terminal escape sequences are what this screen reads
    const sequence = /\x1b\[(\d*)([A-Za-z])|\r|\n|[^\x1b\r\n]/g;
    for (const [token, parameter, command] of text.matchAll(sequence)) {
      if (command !== undefined) this.control(command, parameter ? Number(parameter) : undefined);
      else if (token === "\r") this.column = 0;
      else if (token === "\n")
        this.moveTo(this.row + 1, 0); // a terminal's ONLCR turns LF into CR LF
      else this.put(token);
    }
  }

  private control(command: string, parameter: number | undefined): void {
    const count = parameter ?? 1;
    switch (command) {
      case "A":
        return this.moveTo(Math.max(0, this.row - count), this.column);
      case "B":
        return this.moveTo(this.row + count, this.column);
      case "C":
        this.column += count;
        return;
      case "D":
        this.column = Math.max(0, this.column - count);
        return;
      case "G":
        this.column = count - 1;
        return;
      case "K":
        return this.eraseInLine(parameter ?? 0);
      case "J":
        this.eraseInLine(0);
        this.grid.length = this.row + 1;
        return;
    }
  }

  private eraseInLine(mode: number): void {
    const cells = this.currentRow();
    if (mode === 2) cells.length = 0;
    else if (mode === 0) cells.length = Math.min(cells.length, this.column);
    else for (let index = 0; index <= this.column && index < cells.length; index++) cells[index] = " ";
  }

  private put(character: string): void {
    if (this.columns !== undefined && this.column >= this.columns) this.moveTo(this.row + 1, 0);
    const cells = this.currentRow();
    while (cells.length < this.column) cells.push(" ");
    cells[this.column] = character;
    this.column++;
  }

  private moveTo(row: number, column: number): void {
    this.row = row;
    this.column = column;
    while (this.grid.length <= row) this.grid.push([]);
  }

  private currentRow(): string[] {
    return this.grid[this.row] ?? [];
  }
}
