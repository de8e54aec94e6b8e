/**
 * Bounds the Scrypt hashes handed to the hasher at once, and lets a broadcast pause new ones.
 *
 * Why: hashes run on libuv's thread pool, which on a 2-core machine competes with the main thread for the
 * CPU. Unbounded, every share in flight sits in libuv's queue, and nothing can make room for a job broadcast:
 * new work reached 10,000 miners about 1.9x slower with 200 miners submitting than with none. Bounded to a
 * few milliseconds of hashing, a pause empties the pool quickly, so the broadcast (once per block, and the
 * periodic refresh) gets the cores; the shares wait those few milliseconds instead. An overload (more shares
 * than the cores can hash) then queues here rather than in libuv, and the event loop stays responsive. The
 * bound is set deep enough that short main-thread stalls do not leave the hash threads idle.
 */
export class HashScheduler {
  private inFlight = 0;
  private pauses = 0;
  private waiters: Array<() => void> = [];
  private head = 0;

  constructor(
    private readonly maxInFlight: number,
    /** A pause never lasts longer than this, whatever its holder does. */
    private readonly maxPauseMs = 1000,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new Error(`maxInFlight must be an integer >= 1, got ${maxInFlight}`);
  }

  /** Runs `hash` when a slot is free and no pause holds. */
  async run<T>(hash: () => Promise<T>): Promise<T> {
    if (this.pauses === 0 && this.inFlight < this.maxInFlight) this.inFlight++;
    else await new Promise<void>((resolve) => this.waiters.push(resolve)); // the slot is handed over in dispatch()
    try {
      return await hash();
    } finally {
      this.inFlight--;
      this.dispatch();
    }
  }

  /** Stops starting new hashes (those running finish) until the returned function is called, or maxPauseMs. */
  pause(): () => void {
    this.pauses++;
    let resumed = false;
    const resume = (): void => {
      if (resumed) return;
      resumed = true;
      clearTimeout(timer);
      this.pauses--;
      this.dispatch();
    };
    const timer = setTimeout(resume, this.maxPauseMs);
    timer.unref?.();
    return resume;
  }

  stats(): { inFlight: number; waiting: number; paused: boolean } {
    return { inFlight: this.inFlight, waiting: this.waiters.length - this.head, paused: this.pauses > 0 };
  }

  private dispatch(): void {
    while (this.pauses === 0 && this.inFlight < this.maxInFlight && this.head < this.waiters.length) {
      this.inFlight++;
      const next = this.waiters[this.head++];
      next();
    }
    if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
  }
}
