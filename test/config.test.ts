import { describe, expect, test } from 'vitest';
import { accountConfigKey, assertUsable, ConfigError, configuredApps, defaultAccountId, listAccountIds, resolveAccount, type HostConfig } from '../src/config.ts';
import { isStopWord } from '../src/stop.ts';
import { CONFIG_SCHEMA } from '../src/config-schema.ts';
import { callBudgetWarning } from '../src/config-budget.ts';

const base: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingid', clientSecret: 'sec' } } };

describe('account resolution', () => {
  test('defaults follow the documentation', () => {
    const a = resolveAccount(base, 'default', {});
    expect(a.problems).toEqual([]);
    expect(a.gateway.url).toBe('http://127.0.0.1:18789/v1/chat/completions');
    expect(a.gateway.agentId).toBe('main');
    expect(a.sessionTimeoutMs).toBe(1_800_000);
    expect(a.enableMediaUpload).toBe(true);
    expect(a.cardTemplateId).toBe('382e4302-551d-4880-bf29-a30acfab2e71.schema');
    expect(a.apiBaseUrl).toBe('https://api.dingtalk.com');
    expect(a.oapiBaseUrl).toBe('https://oapi.dingtalk.com');
    expect(a.streamGatewayUrl).toBe('https://api.dingtalk.com/v1.0/gateway/connections/open');
  });

  test('gatewayUrl follows the host gateway port; streamGatewayUrl follows apiBaseUrl', () => {
    const a = resolveAccount({ ...base, gateway: { port: 19001 }, channels: { 'dingtalk-ai': { ...base.channels!['dingtalk-ai'], apiBaseUrl: 'http://127.0.0.1:5000/' } } }, 'default', {});
    expect(a.gateway.url).toBe('http://127.0.0.1:19001/v1/chat/completions');
    expect(a.streamGatewayUrl).toBe('http://127.0.0.1:5000/v1.0/gateway/connections/open');
  });

  test('env fallbacks fill the default account and say where values came from', () => {
    const a = resolveAccount({}, 'default', { DINGTALK_CLIENT_ID: 'envid', DINGTALK_CLIENT_SECRET: 'envsec', MOLTBOT_GATEWAY_TOKEN: 'tok' });
    expect(a.clientId).toBe('envid');
    expect(a.sources).toEqual({ clientId: 'env', clientSecret: 'env', gatewayCredential: 'env' });
    expect(a.gateway.credential).toBe('tok');
    expect(resolveAccount({}, 'default', { OPENCLAW_GATEWAY_TOKEN: 'o' }).gateway.credential).toBe('o');
    expect(resolveAccount({}, 'default', { CLAWDBOT_GATEWAY_TOKEN: 'c' }).gateway.credential).toBe('c');
  });

  test("the host's own gateway auth is used when the channel names no credential", () => {
    const a = resolveAccount({ ...base, gateway: { auth: { mode: 'token', token: 'host-token' } } }, 'default', {});
    expect(a.gateway.credential).toBe('host-token');
    expect(a.sources.gatewayCredential).toBe('host');
  });

  test('accounts inherit top-level settings and override them', () => {
    const cfg: HostConfig = {
      channels: { 'dingtalk-ai': { systemPrompt: 'be brief', accounts: { sales: { clientId: 'a', clientSecret: 'b', systemPrompt: 'sell' }, hr: { clientId: 'c', clientSecret: 'd' } } } },
    };
    expect(listAccountIds(cfg, {})).toEqual(['sales', 'hr']);
    expect(resolveAccount(cfg, 'sales', {}).systemPrompt).toBe('sell');
    expect(resolveAccount(cfg, 'hr', {}).systemPrompt).toBe('be brief');
    // No top-level robot: the default account is the first listed, and errors name keys where they are set.
    expect(defaultAccountId(cfg, {})).toBe('sales');
    // A retired robot kept above the live one (enabled: false) is not the default: sends without an account reach "hr".
    const retired: HostConfig = { channels: { 'dingtalk-ai': { accounts: { old: { enabled: false, clientId: 'dingO', clientSecret: 's' }, hr: { clientId: 'c', clientSecret: 'd' } } } } };
    expect(defaultAccountId(retired, {})).toBe('hr');
    expect(defaultAccountId({ channels: { 'dingtalk-ai': { enabled: false, clientId: 'dingT', clientSecret: 's', accounts: { hr: { enabled: true, clientId: 'c', clientSecret: 'd' } } } } }, {})).toBe('hr');
    // None enabled: the first listed (its sends say it is disabled).
    expect(defaultAccountId({ channels: { 'dingtalk-ai': { accounts: { old: { enabled: false, clientId: 'dingO', clientSecret: 's' } } } } }, {})).toBe('old');
    expect(accountConfigKey('hr', 'systemPrompt', cfg)).toBe('channels.dingtalk-ai.systemPrompt');
    expect(accountConfigKey('sales', 'systemPrompt', cfg)).toBe('channels.dingtalk-ai.accounts.sales.systemPrompt');
    expect(accountConfigKey('hr', 'monthlyCallBudget', cfg)).toBe('channels.dingtalk-ai.accounts.hr.monthlyCallBudget');
    expect(accountConfigKey('hr', 'monthlyCallBudget')).toBe('channels.dingtalk-ai.accounts.hr.monthlyCallBudget');
    expect(accountConfigKey('default', 'monthlyCallBudget')).toBe('channels.dingtalk-ai.monthlyCallBudget');
  });

  test('a top-level robot is the default account; named accounts inherit every other top-level key but the name, and an inherited stateDir gets their own sub-folder', () => {
    const cfg: HostConfig = {
      channels: {
        'dingtalk-ai': {
          clientId: 'dingA', clientSecret: 'sa', name: 'Main robot', engine: 'runtime', agentId: 'helpdesk', stateDir: '/var/dt', dingtalkEdition: 'professional',
          accounts: { sales: { clientId: 'dingB', clientSecret: 'sb', agentId: 'sales' }, hr: { clientId: 'dingC', clientSecret: 'sc', name: 'HR', stateDir: '/srv/hr' } },
        },
      },
    };
    expect(listAccountIds(cfg, {})).toEqual(['default', 'sales', 'hr']);
    const [main, sales, hr] = ['default', 'sales', 'hr'].map((id) => resolveAccount(cfg, id, {}, { pairing: true }));
    expect(main).toMatchObject({ name: 'Main robot', clientId: 'dingA', engine: 'runtime', stateDir: '/var/dt', problems: [] });
    expect(main!.gateway.agentId).toBe('helpdesk');
    expect(sales).toMatchObject({ name: 'sales', clientId: 'dingB', clientSecret: 'sb', engine: 'runtime', dingtalkEdition: 'professional', stateDir: '/var/dt/sales', problems: [] });
    expect(sales!.gateway.agentId).toBe('sales');
    expect(hr).toMatchObject({ name: 'HR', stateDir: '/srv/hr', problems: [] });
    expect(hr!.gateway.agentId).toBe('helpdesk');
  });

  test("named accounts still inherit the top-level keys after the host fills the config schema's defaults (OpenClaw does: a default there gave a named account the real api.dingtalk.com, groupPolicy allowlist and a whole 4,000-call budget)", () => {
    // What OpenClaw 2026.9.6 does to the channel section before the plugin sees it (dist/json-schema-defaults-*.mjs):
    // every missing property whose schema has a `default` gets it, inside `accounts.<id>` too.
    const fillDefaults = (schema: any, value: any): any => {
      if (!schema || typeof value !== 'object' || value === null || Array.isArray(value)) return value;
      const out: Record<string, unknown> = { ...value };
      for (const [k, sub] of Object.entries<any>(schema.properties ?? {})) {
        if (out[k] === undefined && sub && 'default' in sub) out[k] = structuredClone(sub.default);
        if (out[k] !== undefined) out[k] = fillDefaults(sub, out[k]);
      }
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        for (const k of Object.keys(out)) if (!(k in (schema.properties ?? {}))) out[k] = fillDefaults(schema.additionalProperties, out[k]);
      }
      return out;
    };
    const section = {
      clientId: 'dingA', clientSecret: 'sa', apiBaseUrl: 'http://127.0.0.1:5000', oapiBaseUrl: 'http://127.0.0.1:5001', groupPolicy: 'open', engine: 'runtime', streaming: 'dm',
      accounts: { sales: { clientId: 'dingB', clientSecret: 'sb', agentId: 'sales' } },
    };
    const cfg: HostConfig = { channels: { 'dingtalk-ai': fillDefaults(CONFIG_SCHEMA, section) } };
    const [main, sales] = ['default', 'sales'].map((id) => resolveAccount(cfg, id, {}, { pairing: true }));
    for (const a of [main!, sales!]) {
      expect(a).toMatchObject({ apiBaseUrl: 'http://127.0.0.1:5000', oapiBaseUrl: 'http://127.0.0.1:5001', streamGatewayUrl: 'http://127.0.0.1:5000/v1.0/gateway/connections/open', engine: 'runtime', streaming: 'dm', problems: [] });
      expect(a.access.groupPolicy).toBe('open');
      // Two apps share the default 4,000 calls: 2,000 each, and no warning.
      expect(a.monthlyCallBudget).toBe(2000);
    }
    expect(sales!.gateway.agentId).toBe('sales');
    expect(callBudgetWarning(configuredApps(cfg, {}))).toBeUndefined();
  });

  test('two enabled accounts on one clientId: the later one is refused, naming both keys; the first runs', () => {
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { sales: { clientId: 'dingA', clientSecret: 's' }, support: { clientId: ' dingA ', clientSecret: 's2' } } } } };
    expect(resolveAccount(cfg, 'sales', {}).problems).toEqual([]);
    const b = resolveAccount(cfg, 'support', {});
    expect(b.problems).toEqual([
      'channels.dingtalk-ai.accounts.support.clientId names the same robot (clientId dingA) as channels.dingtalk-ai.accounts.sales.clientId (account "sales"): ' +
        "DingTalk pushes each message to only one of a robot's connections, so the two accounts would split the messages between them. " +
        "Set this account's own robot's clientId and clientSecret, or disable one of them (enabled: false)",
    ]);
    expect(() => assertUsable(b)).toThrow(ConfigError);
    // Disabling either one resolves it.
    const off = (id: string): HostConfig => ({ channels: { 'dingtalk-ai': { accounts: { ...cfg.channels!['dingtalk-ai']!.accounts, [id]: { ...cfg.channels!['dingtalk-ai']!.accounts![id], enabled: false } } } } });
    expect(resolveAccount(off('sales'), 'support', {}).problems).toEqual([]);
    expect(resolveAccount(off('support'), 'support', {}).problems).toEqual([]);
  });

  test('near-twin clientIds (case, a zero-width space) name the same robot; an invisible character in a credential is refused naming its key', () => {
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { sales: { clientId: 'dingABC', clientSecret: 's' }, support: { clientId: 'DINGabc', clientSecret: 's2' }, ops: { clientId: 'dingABC\u200B', clientSecret: 's3\u2060x' } } } } };
    expect(resolveAccount(cfg, 'support', {}).problems).toEqual([expect.stringMatching(/^channels\.dingtalk-ai\.accounts\.support\.clientId names the same robot .* as channels\.dingtalk-ai\.accounts\.sales\.clientId \(account "sales"\)/)]);
    const ops = resolveAccount(cfg, 'ops', {}).problems;
    expect(ops).toContain(
      'channels.dingtalk-ai.accounts.ops.clientId contains an invisible character (U+200B) at position 8, usually pasted from a chat or a document: type or copy the value again without it',
    );
    expect(ops).toContain(
      'channels.dingtalk-ai.accounts.ops.clientSecret contains an invisible character (U+2060) at position 3, usually pasted from a chat or a document: type or copy the value again without it',
    );
    expect(ops.some((p) => p.includes('names the same robot'))).toBe(true);
    expect(ops.join(' ')).not.toContain('s3');
    const env = resolveAccount({}, 'default', { DINGTALK_CLIENT_ID: 'dingA', DINGTALK_CLIENT_SECRET: 'se\u200Bcret' }).problems;
    expect(env).toEqual([expect.stringMatching(/^DINGTALK_CLIENT_SECRET contains an invisible character \(U\+200B\) at position 3/)]);
  });

  test('account ids the hosts cannot route as written are refused naming the key and the name to use; none shares or escapes the state folder', () => {
    const rule = 'an account id must be lower-case letters a-z, digits, "-" or "_" (not starting or ending with "-", at most 64 characters, not "__proto__", "constructor" or "prototype"): OpenClaw and Clawdbot route sends and restarts by that form';
    const bad: Array<[string, string, string]> = [
      // "sales" is taken by another account here: the name suggested is a free one.
      ['Sales', 'channels.dingtalk-ai.accounts["Sales"]', '(`--account Sales` reaches this plugin as "sales"), and it names the account\'s state folder; rename the key, e.g. "sales-2"'],
      ['sales.cn', 'channels.dingtalk-ai.accounts["sales.cn"]', '(`--account sales.cn` reaches this plugin as "sales-cn"), and it names the account\'s state folder; rename the key to "sales-cn"'],
      ['销售', 'channels.dingtalk-ai.accounts["销售"]', '(`--account 销售` reaches this plugin as "default"), and it names the account\'s state folder; rename the key, e.g. "sales-2"'],
      ['销售-2', 'channels.dingtalk-ai.accounts["销售-2"]', '(`--account 销售-2` reaches this plugin as "2"), and it names the account\'s state folder; rename the key to "2"'],
      ['x/../sales', 'channels.dingtalk-ai.accounts["x/../sales"]', '(`--account x/../sales` reaches this plugin as "x-sales"), and it names the account\'s state folder; rename the key to "x-sales"'],
      ['SALES_', 'channels.dingtalk-ai.accounts["SALES_"]', '(`--account SALES_` reaches this plugin as "sales_"), and it names the account\'s state folder; rename the key to "sales_"'],
      ['-ops', 'channels.dingtalk-ai.accounts["-ops"]', '(`--account -ops` reaches this plugin as "ops"), and it names the account\'s state folder; rename the key, e.g. "ops-2"'],
      ['..', 'channels.dingtalk-ai.accounts[".."]', '(`--account ..` reaches this plugin as "default"), and it names the account\'s state folder; rename the key, e.g. "sales-2"'],
      ['', 'channels.dingtalk-ai.accounts[""]', '(`--account ` reaches this plugin as "default"), and it names the account\'s state folder; rename the key, e.g. "sales-2"'],
      [' sales', 'channels.dingtalk-ai.accounts[" sales"]', '(`--account  sales` reaches this plugin as "sales"), and it names the account\'s state folder; rename the key, e.g. "sales-2"'],
      ['a\u200Bb', 'channels.dingtalk-ai.accounts["a\u200Bb"]', '(`--account a\u200Bb` reaches this plugin as "a-b"), and it names the account\'s state folder; rename the key to "a-b"'],
      // OpenClaw reads the prototype keys as "default" (dist/prototype-keys-*.mjs); Clawdbot keeps them as written.
      ['__proto__', 'channels.dingtalk-ai.accounts.__proto__', '(`--account __proto__` reaches this plugin as "default" on OpenClaw), and it names the account\'s state folder; rename the key, e.g. "sales-2"'],
      ['constructor', 'channels.dingtalk-ai.accounts.constructor', '(`--account constructor` reaches this plugin as "default" on OpenClaw), and it names the account\'s state folder; rename the key, e.g. "sales-2"'],
      ['a'.repeat(65), `channels.dingtalk-ai.accounts["${'a'.repeat(40)}…"]`, `(\`--account ${'a'.repeat(40)}…\` reaches this plugin as "${'a'.repeat(64)}"), and it names the account's state folder; rename the key to "${'a'.repeat(64)}"`],
    ];
    const accounts = Object.fromEntries(['sales', 'ops', ...bad.map(([id]) => id)].map((id, i) => [id, { clientId: `ding${i}`, clientSecret: 's' }]));
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { stateDir: '/tmp/st', accounts } } };
    expect(resolveAccount(cfg, 'sales', {})).toMatchObject({ stateDir: '/tmp/st/sales', problems: [] });
    // "_ops": both hosts trim only "-" (OpenClaw dist/account-id-*.mjs canonicalizeAccountId), so it routes as written.
    for (const ok of ['ops', 'a', '0', 'sales_2', 'sales-cn', '_ops', '_', 'x'.repeat(64)]) expect(resolveAccount({ channels: { 'dingtalk-ai': { accounts: { [ok]: { clientId: 'dingA', clientSecret: 's' } } } } }, ok, {}).problems, ok).toEqual([]);
    for (const [id, key, tail] of bad) {
      const a = resolveAccount(cfg, id, {});
      expect(a.problems, id).toEqual([`${key}: ${rule} ${tail}`]);
      expect(a.stateDir).toBeUndefined();
      expect(() => assertUsable(a)).toThrow(ConfigError);
    }
  });

  test('`message send --account Sales` reaches the plugin as "sales": that account says which key to rename, not that its clientId is missing', () => {
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { Sales: { clientId: 'dingS', clientSecret: 's', name: '销售助手' } } } } };
    // What OpenClaw hands the plugin (dist/message-account-selection-*.mjs passes the rewritten id to resolveAccount).
    const a = resolveAccount(cfg, 'sales', {});
    expect(a).toMatchObject({ accountId: 'sales', clientId: 'dingS', name: '销售助手' });
    expect(a.problems).toEqual([expect.stringMatching(/^channels\.dingtalk-ai\.accounts\["Sales"\]: an account id must be lower-case .*; rename the key to "sales"$/)]);
    expect(() => assertUsable(a)).toThrow(ConfigError);
    // The default account stays the top level's when an `accounts.Default` is written next to it.
    const withTop: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingTop', clientSecret: 's', accounts: { Default: { clientId: 'dingD', clientSecret: 's' } } } } };
    expect(resolveAccount(withTop, 'default', {})).toMatchObject({ clientId: 'dingTop', problems: [] });
  });

  test('a named account without its own clientId inherits the default robot and is refused, naming the inherited key', () => {
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { clientId: 'dingA', clientSecret: 's', accounts: { ops: { clientSecret: 'other', agentId: 'ops' } } } } };
    expect(resolveAccount(cfg, 'default', {}).problems).toEqual([]);
    expect(resolveAccount(cfg, 'ops', {}).problems).toEqual([
      expect.stringMatching(/^channels\.dingtalk-ai\.clientId \(inherited by accounts\.ops\) names the same robot \(clientId dingA\) as channels\.dingtalk-ai\.clientId \(account "default"\): /),
    ]);
  });

  test('the env robot is the default account; a named account on the same clientId is refused', () => {
    const env = { DINGTALK_CLIENT_ID: 'dingEnv', DINGTALK_CLIENT_SECRET: 's' };
    const cfg: HostConfig = { channels: { 'dingtalk-ai': { accounts: { default: {}, two: { clientId: 'dingEnv', clientSecret: 's' } } } } };
    expect(resolveAccount(cfg, 'default', env).problems).toEqual([]);
    expect(resolveAccount(cfg, 'two', env).problems).toEqual([expect.stringContaining('as DINGTALK_CLIENT_ID (account "default")')]);
  });

  test('missing and wrong values give one error naming every key', () => {
    const a = resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'x', sessionTimeout: -5, gatewayUrl: 'not a url' } } }, 'default', {});
    expect(() => assertUsable(a)).toThrow(ConfigError);
    const msg = (() => {
      try {
        assertUsable(a);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(msg).toContain('channels.dingtalk-ai.clientSecret is missing');
    expect(msg).toContain('channels.dingtalk-ai.sessionTimeout must be a positive number');
    expect(msg).toContain('channels.dingtalk-ai.gatewayUrl is not a valid http(s) URL');
  });

  test('an account key is named with its account path', () => {
    const a = resolveAccount({ channels: { 'dingtalk-ai': { accounts: { ops: { clientId: 'x' } } } } }, 'ops', { DINGTALK_CLIENT_SECRET: 'ignored-for-named-accounts' });
    expect(a.problems).toEqual([expect.stringContaining('channels.dingtalk-ai.accounts.ops.clientSecret is missing')]);
  });
});

describe('configuredApps', () => {
  test('the enabled apps in account order, once per clientId, each with the budget key its first account writes (or inherits)', () => {
    const cfg: HostConfig = {
      channels: {
        'dingtalk-ai': {
          monthlyCallBudget: 1000,
          accounts: { sales: { clientId: 'dingA', clientSecret: 's', monthlyCallBudget: 3000 }, off: { clientId: 'dingC', clientSecret: 's', enabled: false }, hr: { clientId: 'dingB', clientSecret: 's' } },
        },
      },
    };
    expect(configuredApps(cfg, {})).toEqual([
      { clientId: 'dingA', accountId: 'sales', budget: 3000, key: 'channels.dingtalk-ai.accounts.sales.monthlyCallBudget' },
      { clientId: 'dingB', accountId: 'hr', budget: 1000, key: 'channels.dingtalk-ai.monthlyCallBudget' },
    ]);
    // The default account's robot may come from the environment alone.
    expect(configuredApps({}, { DINGTALK_CLIENT_ID: 'dingENV' })).toEqual([{ clientId: 'dingENV', accountId: 'default', budget: undefined, key: 'channels.dingtalk-ai.monthlyCallBudget' }]);
  });

  test('a twin of a robot (its clientId in other case or with an invisible character) is refused, not a second app: the robot keeps the whole default budget', () => {
    const cfg: HostConfig = {
      channels: {
        'dingtalk-ai': {
          clientId: 'dingabc123',
          clientSecret: 'secret-one-123',
          accounts: { sales: { clientId: 'dingabc123\u200b', clientSecret: 'secret-two-456' }, hr: { clientId: ' DINGABC123', clientSecret: 'secret-three-789' } },
        },
      },
    };
    expect(resolveAccount(cfg, 'sales', {}).problems.join(' ')).toContain('names the same robot');
    expect(configuredApps(cfg, {})).toEqual([{ clientId: 'dingabc123', accountId: 'default', budget: undefined, key: 'channels.dingtalk-ai.monthlyCallBudget' }]);
    expect(resolveAccount(cfg, 'default', {}).monthlyCallBudget).toBe(4000);
  });
});

describe('access policy resolution', () => {
  const withAccess = (extra: Record<string, unknown>): HostConfig => ({ channels: { 'dingtalk-ai': { ...base.channels!['dingtalk-ai'], ...extra } } });

  test('defaults are the host channels\' own: DMs by pairing where the host pairs, groups by allowlist, mention required', () => {
    const a = resolveAccount(base, 'default', {}, { pairing: true });
    expect(a.problems).toEqual([]);
    expect(a.access).toEqual({ dmPolicy: 'pairing', allowFrom: [], groupPolicy: 'allowlist', groupAllowFrom: [], groups: {}, requireMention: true });
    expect(a.refusalMessage).toBeUndefined();
    expect(a.stopWords).toEqual(['停止', '/stop', 'stop', '取消']);
  });

  test('ids pasted with a zero-width space or typed with full-width characters still name their user or group', () => {
    const cid = 'cid8tfOR+7uip234mJoPjImGsuJt4fHDZ7qaZmlW1GdaOk=';
    const a = resolveAccount(withAccess({ dmPolicy: 'allowlist', allowFrom: ['user\uff1a0300085512\u200b'], groupAllowFrom: [`\u200b${cid}`], groups: { [`${cid}\ufeff`]: { requireMention: false } } }), 'default', {});
    expect(a.problems).toEqual([]);
    expect(a.access).toMatchObject({ allowFrom: ['0300085512'], groupAllowFrom: [cid], groups: { [cid]: { requireMention: false } } });
  });

  test('stop words are normalised as messages are ("Stop!" matches "stop"); a word of punctuation only is refused naming the key', () => {
    const a = resolveAccount(withAccess({ stopWords: ['Stop!', ' 暂停。 ', '/Halt'] }), 'default', {});
    expect(a.problems).toEqual([]);
    expect(a.stopWords).toEqual(['stop', '暂停', '/halt']);
    for (const msg of ['stop', 'STOP!', '暂停', '/halt.']) expect(isStopWord(msg, a.stopWords), msg).toBe(true);
    expect(resolveAccount(withAccess({ stopWords: ['停止', '!!!'] }), 'default', {}).problems).toEqual([
      'channels.dingtalk-ai.stopWords: "!!!" is only punctuation, which is ignored at the end of a message, so it could never match; write the word itself, e.g. "停止"',
    ]);
  });

  test('a host without pairing: the default falls back to the allowlist; asking for pairing is a problem naming the key and the fix', () => {
    expect(resolveAccount(base, 'default', {}).access.dmPolicy).toBe('allowlist');
    const a = resolveAccount(withAccess({ dmPolicy: 'pairing' }), 'default', {});
    expect(a.problems).toEqual([
      'channels.dingtalk-ai.dmPolicy is "pairing" but this host offers no pairing to channel plugins: set it to "allowlist" and list the allowed senders in channels.dingtalk-ai.allowFrom',
    ]);
  });

  test('"open" needs "*" in allowFrom, as OpenClaw requires of its channels', () => {
    expect(resolveAccount(withAccess({ dmPolicy: 'open' }), 'default', {}).problems).toEqual([
      'channels.dingtalk-ai.dmPolicy is "open" but channels.dingtalk-ai.allowFrom does not include "*": set channels.dingtalk-ai.allowFrom to ["*"] to answer everyone, or use "pairing"/"allowlist"',
    ]);
    expect(resolveAccount(withAccess({ dmPolicy: 'open', allowFrom: ['*'] }), 'default', {}).problems).toEqual([]);
  });

  test('allowFrom accepts what users paste; per-group lists too', () => {
    const a = resolveAccount(
      withAccess({ allowFrom: ['user:0123', 'dingtalk:abc', ' $:LWCP_v1:$x== '], groups: { 'cidG==': { allowFrom: ['staffId:9'], requireMention: false } } }),
      'default',
      {},
    );
    expect(a.problems).toEqual([]);
    expect(a.access.allowFrom).toEqual(['0123', 'abc', '$:LWCP_v1:$x==']);
    expect(a.access.groups).toEqual({ 'cidG==': { allowFrom: ['9'], requireMention: false } });
  });

  test('bad access settings are named with their key and the fix', () => {
    const a = resolveAccount(
      withAccess({ dmPolicy: 'everyone', allowFrom: 'user001', groups: { 'cidG==': { allowfrom: ['x'] } }, stopWords: [''] }),
      'default',
      {},
    );
    expect(a.problems).toEqual([
      'channels.dingtalk-ai.dmPolicy must be one of "pairing", "allowlist", "open", "disabled", got "everyone"',
      'channels.dingtalk-ai.allowFrom must be a list of DingTalk user ids (staffId / userId / senderId)',
      'channels.dingtalk-ai.groups.cidG==.allowfrom is not a known setting (misspelt?); use enabled, allowFrom, requireMention or systemPrompt',
      'channels.dingtalk-ai.stopWords must be a list of words',
    ]);
  });
});

describe('a value of the wrong type is a problem naming its key, never silently dropped', () => {
  const resolve = (extra: Record<string, unknown>) =>
    resolveAccount({ channels: { 'dingtalk-ai': { clientId: 'dingid', clientSecret: 'sec', ...extra } } } as HostConfig, 'default', {}, { pairing: true });

  test('groups.<cid>.enabled: "false" (a string) is an error, and the group is not opened by it', () => {
    const a = resolve({ groups: { cidA: { enabled: 'false' } } });
    expect(a.problems).toEqual(['channels.dingtalk-ai.groups.cidA.enabled must be true or false without quotes, got "false"']);
    expect(a.access.groups.cidA).toEqual({ enabled: false });
    expect(() => assertUsable(a)).toThrow(ConfigError);
  });

  test.each([
    [{ requireMention: 'false' }, 'channels.dingtalk-ai.requireMention must be true or false without quotes, got "false"'],
    [{ groups: { cidA: { requireMention: 'no' } } }, 'channels.dingtalk-ai.groups.cidA.requireMention must be true or false without quotes, got "no"'],
    [{ enabled: 'false' }, 'channels.dingtalk-ai.enabled must be true or false without quotes, got "false"'],
    [{ enableMediaUpload: 0 }, 'channels.dingtalk-ai.enableMediaUpload must be true or false without quotes, got 0'],
    [{ debug: 'true' }, 'channels.dingtalk-ai.debug must be true or false without quotes, got "true"'],
    [{ systemPrompt: 42 }, 'channels.dingtalk-ai.systemPrompt must be a string (in quotes), got 42'],
    [{ groups: { cidA: { systemPrompt: ['be brief'] } } }, 'channels.dingtalk-ai.groups.cidA.systemPrompt must be a string (in quotes), got ["be brief"]'],
    [{ refusalMessage: false }, 'channels.dingtalk-ai.refusalMessage must be a string (in quotes), got false'],
  ])('%j', (extra, problem) => {
    expect(resolve(extra).problems).toContain(problem);
  });

  test.each([
    [{ clientSecret: 123456 }, 'channels.dingtalk-ai.clientSecret must be a string (in quotes), got a number', '123456'],
    [{ gatewayPassword: 73915820 }, 'channels.dingtalk-ai.gatewayPassword must be a string (in quotes), got a number', '73915820'],
    [{ gatewayToken: ['tok-3141592'] }, 'channels.dingtalk-ai.gatewayToken must be a string (in quotes), got a list', '3141592'],
    [{ accounts: { ops: { clientId: 'dingOps', clientSecret: 99887766 } } }, 'channels.dingtalk-ai.accounts.ops.clientSecret must be a string (in quotes), got a number', '99887766'],
  ])('a secret written without quotes (%j) is named by its type, its value never shown', (extra, problem, secret) => {
    const cfg = { channels: { 'dingtalk-ai': { clientId: 'dingid', clientSecret: 'sec', ...extra } } } as unknown as HostConfig;
    const problems = resolveAccount(cfg, 'ops' in ((extra as { accounts?: object }).accounts ?? {}) ? 'ops' : 'default', {}).problems;
    expect(problems).toContain(problem);
    expect(problems.join(' ')).not.toContain(secret);
  });

  test.each([
    ['gatewayUrl', 'http://admin:s3cretPW@127.0.0.1:18789/v1/chat/completions', 'channels.dingtalk-ai.gatewayUrl carries a user name or password ("http://***@127.0.0.1:18789/v1/chat/completions"): remove it from the URL and put the gateway\'s token or password in gatewayToken or gatewayPassword'],
    ['apiBaseUrl', 'https://proxyuser:s3cretPW@dt-proxy.corp.example', 'channels.dingtalk-ai.apiBaseUrl carries a user name or password ("https://***@dt-proxy.corp.example"): remove it from the URL'],
    ['oapiBaseUrl', 'oapi:s3cretPW@not a url', 'channels.dingtalk-ai.oapiBaseUrl is not a valid http(s) URL: "oapi:***@not a url"'],
    ['streamGatewayUrl', 'ftp://u:s3cretPW@host/x', 'channels.dingtalk-ai.streamGatewayUrl is not a valid http(s) URL: "ftp://***@host/x"'],
  ])('a %s with a user name or password is a problem that shows the URL without them', (k, value, problem) => {
    const problems = resolve({ [k]: value }).problems;
    expect(problems).toEqual([problem]);
  });

  test.each([
    ['gatewayUrl', 'http://127.0.0.1:18789/?token=gw-tok-998877', 'channels.dingtalk-ai.gatewayUrl carries a credential in its query ("token"): remove it from the URL and put the gateway\'s token or password in gatewayToken or gatewayPassword'],
    ['gatewayUrl', 'http://127.0.0.1:18789/v1/chat/completions?Password=gw-tok-998877&x=1&api_key=gw-tok-998877', 'channels.dingtalk-ai.gatewayUrl carries a credential in its query ("Password", "api_key"): remove it from the URL and put the gateway\'s token or password in gatewayToken or gatewayPassword'],
    ['apiBaseUrl', 'https://dt-proxy.corp.example/?secret=gw-tok-998877', 'channels.dingtalk-ai.apiBaseUrl carries a credential in its query ("secret"): remove it from the URL'],
  ])('a %s with a credential in its query is a problem naming the parameter, never its value', (k, value, problem) => {
    const problems = resolve({ [k]: value }).problems;
    expect(problems).toEqual([problem]);
    // Ordinary parameters are no problem.
    expect(resolve({ [k]: 'http://127.0.0.1:18789/?monkey=1&keyboard=2&page=3' }).problems).toEqual([]);
  });

  test('allowFrom with numbers: quote ids as strings; one beyond 2^53 is said to be corrupted already', () => {
    // 123456789012345678 is not a safe integer: JSON.parse already turned it into 123456789012345680.
    const a = resolve({ allowFrom: [JSON.parse('123456789012345678'), 42] });
    expect(a.problems).toEqual([
      'channels.dingtalk-ai.allowFrom has numbers (123456789012345680, 42): write every id as a string in quotes, e.g. "0123456789"; 123456789012345680 is beyond 2^53, so JSON already changed its last digits: copy the id again from DingTalk',
    ]);
    expect(a.access.allowFrom).toEqual([]);
    expect(resolve({ groups: { cidA: { allowFrom: [7] } } }).problems).toEqual(['channels.dingtalk-ai.groups.cidA.allowFrom has numbers (7): write every id as a string in quotes, e.g. "0123456789"']);
  });

  test('groups."*" is every group (OpenClaw’s meaning), not a literal id: no problem', () => {
    const a = resolve({ groups: { '*': { requireMention: false } } });
    expect(a.problems).toEqual([]);
    expect(a.access.groups['*']).toEqual({ requireMention: false });
  });
});
