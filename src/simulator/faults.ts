/**
 * The page's fault buttons, each mapped onto one of the fake DingTalk's fault knobs (or the echo model's
 * listener), so a user can break one thing at a time and watch the plugin recover.
 */
import type { FakeDingTalk, FaultHandle } from '../../test/fake-dingtalk/index.ts';
import type { EchoModel } from './echo-model.ts';

export type FaultName = 'cardPermission' | 'qpsStorm' | 'socketDrop' | 'gatewayDown' | 'webhookExpired';

export interface FaultInfo {
  name: FaultName;
  /** Chinese label with English where it helps. */
  label: string;
  /** What it does, shown as the button's tooltip. */
  hint: string;
  /** A switch (on until turned off) or a one-shot action. */
  toggle: boolean;
  on: boolean;
  /** Why the button cannot be used, if it cannot. */
  unavailable?: string;
}

const CARD_SCOPES = ['Card.Instance.Write', 'Card.Streaming.Write'];

export class SimulatorFaults {
  private readonly fake: FakeDingTalk;
  private readonly echo: EchoModel | undefined;
  private readonly state = new Map<FaultName, boolean>();
  private storm: FaultHandle | undefined;

  constructor(fake: FakeDingTalk, echo: EchoModel | undefined) {
    this.fake = fake;
    this.echo = echo;
  }

  list(): FaultInfo[] {
    const on = (n: FaultName) => this.state.get(n) ?? false;
    return [
      { name: 'cardPermission', label: '卡片权限缺失 403', hint: '撤销应用的 Card.Instance.Write / Card.Streaming.Write 权限：创建卡片返回 403 AccessTokenPermissionDenied，插件改用 markdown 消息回答。', toggle: true, on: on('cardPermission') },
      { name: 'qpsStorm', label: 'QPS 风暴 (throttling)', hint: '每隔一次卡片/机器人调用返回 403 QpsLimitForAppkeyAndApi：插件放慢、重试，最终文本仍然送达。', toggle: true, on: on('qpsStorm') },
      { name: 'socketDrop', label: '断开 Stream 连接', hint: '立即切断插件的 WebSocket（不发关闭帧）：插件重新申请连接并重连。', toggle: false, on: false },
      {
        name: 'gatewayDown', label: '网关宕机 (gateway down)', hint: '关闭回答来源（本地回声模型）的端口：卡片以「失败」结束并说明原因；恢复后下一条消息正常回答。', toggle: true, on: on('gatewayDown'),
        ...(this.echo ? {} : { unavailable: '使用外部网关（--gateway-url）时不可用' }),
      },
      { name: 'webhookExpired', label: 'sessionWebhook 过期', hint: '此后收到的消息的 sessionWebhook 一律已过期：markdown 回答改走机器人 API（与「卡片权限缺失」一起打开最明显）。', toggle: true, on: on('webhookExpired') },
    ];
  }

  isOn(name: FaultName): boolean {
    return this.state.get(name) ?? false;
  }

  /** Apply a fault; `on` is ignored for one-shot faults. Throws when the fault cannot be used here. */
  async set(name: FaultName, on: boolean): Promise<void> {
    const info = this.list().find((f) => f.name === name);
    if (!info) throw new Error(`unknown fault ${name}`);
    if (info.unavailable) throw new Error(info.unavailable);
    switch (name) {
      case 'cardPermission':
        for (const app of this.fake.apps) {
          app.scopes = app.scopes.filter((s) => !CARD_SCOPES.includes(s));
          if (!on) app.scopes.push(...CARD_SCOPES);
        }
        break;
      case 'qpsStorm':
        this.storm?.remove();
        this.storm = undefined;
        if (on) {
          let n = 0;
          this.storm = this.fake.faults.add({
            match: { host: 'api', path: /^\/v1\.0\/(card|robot)\//, when: () => n++ % 2 === 0 },
            action: { status: 403, body: { code: 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi', message: '应用调用该接口的并发量超过限制', requestid: 'simulator-qps-storm' } },
          });
        }
        break;
      case 'socketDrop':
        this.fake.ws.drop();
        return;
      case 'gatewayDown':
        await this.echo!.setDown(on);
        break;
      case 'webhookExpired':
        if (on) this.fake.faults.sessionExpired();
        break;
    }
    this.state.set(name, on);
  }

  /** Called for each new message's session while its fault is on. */
  onNewSession(session: string): void {
    if (this.isOn('webhookExpired')) this.fake.faults.sessionExpired(session);
  }
}
