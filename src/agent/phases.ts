// How long each step of a start or a reload took, for its status line: "1.2 s (check 0.1 s, ...)".

export class Phases {
  private readonly start = performance.now();
  private last = this.start;
  private readonly steps: string[] = [];

  /** The step that ends now, named. */
  mark(name: string): void {
    const now = performance.now();
    this.steps.push(`${name} ${((now - this.last) / 1000).toFixed(2)} s`);
    this.last = now;
  }

  toString(): string {
    return `${((performance.now() - this.start) / 1000).toFixed(2)} s (${this.steps.join(", ")})`;
  }
}
