import { describe, expect, test } from 'vitest';
import { CLAWDBOT, OPENCLAW } from '../src/host.ts';
import { hostPairing, PAIRING_ADAPTER } from '../src/pairing.ts';

describe('the host pairing store', () => {
  test('OpenClaw: the allow-from store is read per account with one object argument', async () => {
    const calls: unknown[][] = [];
    const store = hostPairing(
      {
        readAllowFromStore: (async (...args: unknown[]) => {
          calls.push(args);
          return ['dingtalk-ai:user002', 'user:user003'];
        }) as never,
        upsertPairingRequest: async (p) => ({ code: `C-${p.id}-${p.accountId}`, created: true }),
      },
      OPENCLAW,
      'ops',
    )!;
    expect(await store.approved()).toEqual(['user002', 'user003']);
    expect(calls[0]![0]).toMatchObject({ channel: 'dingtalk-ai', accountId: 'ops' });
    expect(await store.request('user009', {})).toEqual({ code: 'C-user009-ops', created: true });
    expect(store.approveCommand('ABCD2345')).toBe('openclaw pairing approve dingtalk-ai ABCD2345');
  });

  test('Clawdbot 2026.1.24-3: readAllowFromStore(channel, env) takes positional arguments', async () => {
    const calls: unknown[][] = [];
    const store = hostPairing(
      {
        readAllowFromStore: (async (...args: unknown[]) => {
          calls.push(args);
          return ['user002'];
        }) as never,
        upsertPairingRequest: async () => ({ code: 'X', created: false }),
      },
      CLAWDBOT,
      'default',
    )!;
    expect(await store.approved()).toEqual(['user002']);
    expect(calls[0]![0]).toBe('dingtalk-ai');
    expect(store.approveCommand('X')).toBe('clawdbot pairing approve dingtalk-ai X');
  });

  test('a host without the pairing API has no store', () => {
    expect(hostPairing(undefined, OPENCLAW, 'default')).toBeUndefined();
    expect(hostPairing({ upsertPairingRequest: async () => ({ code: '', created: false }) }, OPENCLAW, 'default')).toBeUndefined();
  });

  test('the channel adapter normalises what the pairing CLI and the store hand us', () => {
    expect(PAIRING_ADAPTER.normalizeAllowEntry('dingtalk:user002')).toBe('user002');
  });
});
