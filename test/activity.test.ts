import { describe, expect, test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activityOf, answersToday, countAnswer, localDay, recordAnswer, recordOutbound } from '../src/activity.ts';
import { FileStore, MemoryStore } from '../src/store.ts';

describe('account activity for the status view', () => {
  const day1 = new Date(2026, 10, 30, 9, 0).getTime();
  const day2 = new Date(2026, 11, 1, 0, 0, 1).getTime();

  test('answers count per account and per local day in the state store; a failed answer is not counted but still went out', async () => {
    const store = new MemoryStore(() => day1);
    expect(await answersToday(store, 'act-a', day1)).toEqual({ answersToday: 0, day: '2026-11-30' });
    await countAnswer(store, 'act-a', { delivered: true }, day1);
    recordAnswer('act-a', { delivered: true }, day1 + 1000);
    expect(await countAnswer(store, 'act-a', { delivered: true }, day1 + 1000)).toEqual({ answersToday: 2, day: '2026-11-30' });
    await countAnswer(store, 'act-b', { delivered: true }, day1);
    expect(activityOf('act-a')).toMatchObject({ lastOutboundAt: day1 + 1000 });
    expect((await answersToday(store, 'act-b', day1 + 2000)).answersToday).toBe(1);
    recordAnswer('act-a', { delivered: true, cause: 'unauthorized', status: 401 }, day1 + 3000);
    expect(await countAnswer(store, 'act-a', { delivered: true, cause: 'unauthorized', status: 401 }, day1 + 3000)).toEqual({ answersToday: 2, day: '2026-11-30' });
    expect(await countAnswer(store, 'act-a', { delivered: false }, day1 + 3500)).toEqual({ answersToday: 2, day: '2026-11-30' });
    expect(activityOf('act-a')).toMatchObject({ lastOutboundAt: day1 + 3000 });
    // Past midnight the count starts over; the last outbound time stays.
    expect(await answersToday(store, 'act-a', day2)).toEqual({ answersToday: 0, day: localDay(day2) });
    expect((await countAnswer(store, 'act-a', { delivered: true }, day2)).answersToday).toBe(1);
    expect(activityOf('act-a')).toMatchObject({ lastOutboundAt: day1 + 3000 });
  });

  test('a gateway restart at noon still shows the morning\'s answers (a new process on the same state folder)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dt-activity-'));
    const morning = new FileStore({ dir });
    for (let i = 0; i < 3; i++) await countAnswer(morning, 'act-e', { delivered: true }, day1 + i);
    await morning.flush();
    const noon = new FileStore({ dir });
    expect(await answersToday(noon, 'act-e', day1 + 3 * 3_600_000)).toEqual({ answersToday: 3, day: '2026-11-30' });
    expect((await countAnswer(noon, 'act-e', { delivered: true }, day1 + 3 * 3_600_000)).answersToday).toBe(4);
  });

  test('the last failed answer names its fix (no reference id, no upstream detail) until an answer goes out again; a stop for shutdown is no fault', () => {
    const at = day1 + 60_000;
    const failed = recordAnswer('act-c', { delivered: true, cause: 'endpoint-disabled', status: 404 }, at);
    expect(failed.lastAnswerError).toBe(
      `answer failed at ${new Date(at).toISOString()}: The gateway’s OpenAI-compatible endpoint is off (HTTP 404). Set gateway.http.endpoints.chatCompletions.enabled = true in the gateway config (it reloads by itself).`,
    );
    expect(recordAnswer('act-c', { delivered: false, cause: 'shutdown' }, at + 1).lastAnswerError).toBe(failed.lastAnswerError);
    expect(recordAnswer('act-c', { delivered: true }, at + 2).lastAnswerError).toBeNull();
  });

  test('a message the agent sends first sets the last outbound time and is not an answer', () => {
    recordAnswer('act-d', { delivered: true }, day1);
    recordOutbound('act-d', day1 + 5000);
    expect(activityOf('act-d')).toEqual({ lastOutboundAt: day1 + 5000, lastAnswerError: null });
  });
});
