/**
 * Progress of a long command on stderr: a bar redrawn in place on a terminal; otherwise (a pipe,
 * a CI log) a plain line each time the whole percentage changes.
 */
export class Progress {
  private lastDraw = 0;
  private lastPercent = -1;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
    private readonly label: string,
    private readonly enabled = true,
  ) {}

  private get tty(): boolean {
    return this.stream.isTTY;
  }

  update(done: number, detail: string, force = false): void {
    if (!this.enabled) return;
    const percent = this.total > 0 ? Math.min(100, Math.floor((done / this.total) * 100)) : 100;
    if (this.tty) {
      const now = Date.now();
      if (!force && now - this.lastDraw < 100 && percent !== 100) return;
      this.lastDraw = now;
      const columns = this.stream.columns || 80;
      const width = Math.max(10, Math.min(30, columns - detail.length - this.label.length - 12));
      const filled = Math.round((percent / 100) * width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      this.stream.write(
        `\r\x1b[K${this.label} ${bar} ${String(percent).padStart(3)}%  ${detail}`.slice(0, columns + 8),
      );
      this.drawn = true;
      return;
    }
    if (percent === this.lastPercent && !force) return;
    this.lastPercent = percent;
    this.stream.write(`${this.label}: ${percent}% ${detail}\n`);
  }

  /** Takes the bar off the line, so other output can be written. */
  clear(): void {
    if (this.tty && this.drawn) {
      this.stream.write('\r\x1b[K');
      this.drawn = false;
    }
  }

  /** Leaves the last state of the bar on its own line. */
  finish(): void {
    if (this.tty && this.drawn) {
      this.stream.write('\n');
      this.drawn = false;
    }
  }
}
