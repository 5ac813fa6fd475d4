// proxy-from-env ships no types. Its one export: the proxy URL for `url` from HTTPS_PROXY / HTTP_PROXY /
// ALL_PROXY (and lower-case forms), or '' when NO_PROXY covers the host or none is set.
declare module 'proxy-from-env' {
  export function getProxyForUrl(url: string | URL): string;
}
