/**
 * Messages of one conversation are answered in order; different conversations run in parallel.
 * A chain per key, dropped when it drains, so idle conversations cost nothing.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();
  /** Tasks queued or running per key. */
  private readonly counts = new Map<string, number>();

  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    this.counts.set(key, this.depth(key) + 1);
    const next = previous.then(task, task);
    const tail = next.catch(() => {}).then(() => {
      const left = this.depth(key) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    this.tails.set(key, tail);
    return next;
  }

  /** How many tasks of `key` are queued or running: a new task waits behind this many. */
  depth(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Resolves when every queued task has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  get size(): number {
    return this.tails.size;
  }
}
