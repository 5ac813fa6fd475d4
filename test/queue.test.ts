import { expect, test } from 'vitest';
import { KeyedQueue } from '../src/queue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('one conversation runs in order, different conversations in parallel, a failure does not block the next', async () => {
  const q = new KeyedQueue();
  const log: string[] = [];
  const task = (name: string, ms: number, fail = false) => async () => {
    log.push(`start ${name}`);
    await sleep(ms);
    log.push(`end ${name}`);
    if (fail) throw new Error(name);
  };
  const runs = [q.run('a', task('a1', 30, true)).catch(() => {}), q.run('a', task('a2', 5)), q.run('b', task('b1', 5))];
  await Promise.all(runs);
  expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
  expect(log.indexOf('end b1')).toBeLessThan(log.indexOf('end a1'));
  expect(q.size).toBe(0);
});
