/**
 * Corporate proxies: DingTalk calls (REST, the Stream ticket, the Stream WebSocket) go through the proxy that
 * `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` name, unless `NO_PROXY` covers the host. The environment is read with
 * proxy-from-env (the rules curl and most tools use) and the tunnel is https-proxy-agent (CONNECT); axios's own
 * proxy option stays off (`proxy: false`): it does not tunnel https through an http proxy.
 */
import type { Agent } from 'node:http';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';

const agents = new Map<string, Agent>();

/** The proxy URL used for `url`, or undefined for a direct connection. */
export function proxyFor(url: string): string | undefined {
  try {
    return getProxyForUrl(url) || undefined;
  } catch {
    return undefined;
  }
}

/** An agent that tunnels to `url` through the configured proxy (one per proxy, reused), or undefined. */
export function proxyAgentFor(url: string): Agent | undefined {
  const proxy = proxyFor(url);
  if (!proxy) return undefined;
  let agent = agents.get(proxy);
  if (!agent) {
    agent = new HttpsProxyAgent(proxy, { keepAlive: true });
    agents.set(proxy, agent);
  }
  return agent;
}

/** Axios request options for `url`: the proxy tunnel when one applies, never axios's own proxy handling. */
export function axiosProxyOptions(url: string): { proxy: false; httpAgent?: Agent; httpsAgent?: Agent } {
  const agent = proxyAgentFor(url);
  return agent ? { proxy: false, httpAgent: agent, httpsAgent: agent } : { proxy: false };
}
