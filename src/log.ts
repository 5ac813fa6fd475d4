/**
 * Logging with the `[dingtalk-ai]` prefix, the account id, and secrets scrubbed.
 * Every secret the plugin learns (client secrets, gateway tokens, access tokens, webhook sessions) is
 * registered here so that no log line can carry it, whoever formats the message.
 */

export interface HostLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  /** A logger whose lines also name the account. */
  child(accountId: string): Logger;
}

const secrets = new Set<string>();

/** Remember a secret value so that `redact` removes it from any later log line. */
export function registerSecret(value: string | undefined): void {
  // Very short values would scrub ordinary words out of log lines.
  if (value && value.length >= 6) secrets.add(value);
}

/** Query parameters whose values are credentials: DingTalk's and OSS's, and the usual names (`?token=`, `?password=`). */
const SECRET_QUERY = /([?&](?:[\w-]*[_-])?(?:access_token|session|ticket|appsecret|signature|OSSAccessKeyId|token|password|passwd|pwd|secret|key|apikey|auth|authorization|credentials?|sig)=)[^&\s"']+/gi;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;

/** The user part of URLs (`scheme://user:password@`). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;

/** `text` with every URL's user name and password replaced by `***` (`http://***@host/`). */
export function withoutUserinfo(text: string): string {
  return text.replace(URL_USERINFO, '$1***@');
}

export function redact(text: string): string {
  let out = withoutUserinfo(text).replace(SECRET_QUERY, '$1***').replace(BEARER, '$1***');
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

const consoleLogger: HostLogger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
  debug: (m) => console.debug(m),
};

export function createLogger(host: HostLogger = consoleLogger, opts: { debug?: boolean; accountId?: string } = {}): Logger {
  const prefix = opts.accountId ? `[dingtalk-ai] [${opts.accountId}] ` : '[dingtalk-ai] ';
  const line = (m: string) => redact(prefix + m);
  return {
    info: (m) => host.info(line(m)),
    warn: (m) => host.warn(line(m)),
    error: (m) => host.error(line(m)),
    debug: (m) => {
      if (opts.debug) (host.debug ?? host.info).call(host, line(m));
    },
    child: (accountId) => createLogger(host, { ...opts, accountId }),
  };
}

/** Message of an unknown thrown value, for logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : JSON.stringify(err);
}
