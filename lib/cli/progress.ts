/** Where the CLI writes. `isTTY` on stderr switches the progress display to one rewritten line. */
export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * Progress of a long operation on stderr: one line rewritten in place on a terminal; otherwise
 * plain lines, printed only when the text changes and at most once per `plainIntervalMs`.
 */
export class Progress {
  private last = '';
  private lastPrinted = 0;
  private live = false;

  constructor(private readonly out: Output, private readonly plainIntervalMs = 10000, private readonly now = () => Date.now()) {}

  update(text: string): void {
    if (text === this.last) return;
    this.last = text;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${text}`);
      this.live = true;
      return;
    }
    const t = this.now();
    if (this.lastPrinted === 0 || t - this.lastPrinted >= this.plainIntervalMs) {
      this.out.write(`${text}\n`);
      this.lastPrinted = t;
    }
  }

  /** Ends the display with a final line (always printed). */
  done(text: string): void {
    if (this.out.isTTY && this.live) {
      this.out.write(`\r\x1b[K${text}\n`);
    } else {
      this.out.write(`${text}\n`);
    }
    this.live = false;
    this.last = text;
  }
}
