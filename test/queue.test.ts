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

test('depth counts the tasks a new one would wait behind, failures included, and drops to 0 when drained', async () => {
  const q = new KeyedQueue();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  expect(q.depth('a')).toBe(0);
  const first = q.run('a', () => gate);
  const second = q.run('a', async () => {
    throw new Error('boom');
  }).catch(() => {});
  expect(q.depth('a')).toBe(2);
  expect(q.depth('b')).toBe(0);
  release();
  await Promise.all([first, second]);
  await q.idle();
  expect(q.depth('a')).toBe(0);
});
