import { describe, expect, test } from 'vitest';
import { activityOf, localDay, recordAnswer, recordOutbound } from '../src/activity.ts';

describe('account activity for the status view', () => {
  const day1 = new Date(2026, 10, 30, 9, 0).getTime();
  const day2 = new Date(2026, 11, 1, 0, 0, 1).getTime();

  test('answers count per account and per local day; a failed answer is not counted but still went out', () => {
    expect(activityOf('act-a', day1)).toEqual({ answersToday: 0, day: '2026-11-30', lastOutboundAt: null, lastAnswerError: null });
    recordAnswer('act-a', { delivered: true }, day1);
    recordAnswer('act-a', { delivered: true }, day1 + 1000);
    recordAnswer('act-b', { delivered: true }, day1);
    expect(activityOf('act-a', day1 + 2000)).toMatchObject({ answersToday: 2, lastOutboundAt: day1 + 1000 });
    expect(activityOf('act-b', day1 + 2000).answersToday).toBe(1);
    recordAnswer('act-a', { delivered: true, cause: 'unauthorized', status: 401 }, day1 + 3000);
    expect(activityOf('act-a', day1 + 4000)).toMatchObject({ answersToday: 2, lastOutboundAt: day1 + 3000 });
    // Past midnight the count starts over; the last outbound time stays.
    expect(activityOf('act-a', day2)).toMatchObject({ answersToday: 0, day: localDay(day2), lastOutboundAt: day1 + 3000 });
    expect(recordAnswer('act-a', { delivered: true }, day2).answersToday).toBe(1);
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
    expect(activityOf('act-d', day1 + 6000)).toMatchObject({ answersToday: 1, lastOutboundAt: day1 + 5000 });
  });
});
