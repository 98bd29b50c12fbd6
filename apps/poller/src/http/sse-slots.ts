/**
 * A fixed number of slots for live-feed clients: `acquire` gives a release function (safe to
 * call more than once, so every way a connection ends may call it), or undefined when all are taken.
 */
export class SseSlots {
  private used = 0;

  constructor(readonly max: number) {}

  acquire(): (() => void) | undefined {
    if (this.used >= this.max) return undefined;
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
    };
  }

  get inUse(): number {
    return this.used;
  }
}
