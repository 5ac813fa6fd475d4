/**
 * Messages of one conversation are answered in order; different conversations run in parallel.
 * A chain per key, dropped when it drains, so idle conversations cost nothing. Each task may name its member (the
 * sender), so that the caller can see how many of one member's tasks wait (a per-sender cap in groups, pipeline.ts).
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();
  /** Tasks queued or running per key, and per key + member. */
  private readonly counts = new Map<string, number>();

  run(key: string, task: () => Promise<void>, member?: string): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const counters = member === undefined ? [key] : [key, memberKey(key, member)];
    for (const k of counters) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    const next = previous.then(task, task);
    const tail = next.catch(() => {}).then(() => {
      for (const k of counters) {
        const left = (this.counts.get(k) ?? 0) - 1;
        if (left > 0) this.counts.set(k, left);
        else this.counts.delete(k);
      }
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    this.tails.set(key, tail);
    return next;
  }

  /** How many tasks of `key` (of its `member`, when given) are queued or running: a new task waits behind `depth(key)`. */
  depth(key: string, member?: string): number {
    return this.counts.get(member === undefined ? key : memberKey(key, member)) ?? 0;
  }

  /** Resolves when every queued task has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  get size(): number {
    return this.tails.size;
  }
}

function memberKey(key: string, member: string): string {
  return `${key}\0${member}`;
}
