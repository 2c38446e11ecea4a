/** proxy-from-env ships no types: the one function we use (HTTPS_PROXY / HTTP_PROXY / NO_PROXY). */
declare module 'proxy-from-env' {
  /** The proxy URL the environment names for `url`, or '' for a direct connection. */
  export function getProxyForUrl(url: string): string;
}
