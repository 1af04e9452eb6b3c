/**
 * Runs an async job for the most recent request only: while one runs, newer requests replace each
 * other and only the last runs next. A slider dragged across fifty values probes a handful of times,
 * never queueing fifty probes behind the GPU.
 */
export class LatestOnly<A> {
  private pending: { args: A } | null = null;
  private running = false;

  constructor(private readonly job: (args: A) => Promise<void>) {}

  request(args: A): void {
    this.pending = { args };
    if (!this.running) void this.drain();
  }

  /** True while a job runs or waits. */
  get busy(): boolean {
    return this.running;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending) {
        const { args } = this.pending;
        this.pending = null;
        await this.job(args);
      }
    } finally {
      this.running = false;
    }
  }
}
