import type { Manager } from 'socket.io-client';
import { InputError } from '../../../libs/common/src';
import { connectionOptions, NetworkOptions } from './connection-options';

/**
 * `--coordinator URL[,URL…]` (the flag may also repeat): the coordinators of a consortium that runs
 * an active one and a standby (deploy/README.md, "Failover"). Each must be http(s) or ws(s) with a
 * host; duplicates are dropped, order kept (the first is tried first).
 */
export function parseCoordinatorUrls(values: readonly string[]): string[] {
  const urls: string[] = [];
  for (const value of values.flatMap((v) => v.split(','))) {
    const text = value.trim();
    if (!text) continue;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new InputError(`--coordinator ${text}: not a URL (expected e.g. https://fl.example.org)`);
    }
    if (!/^(https?|wss?):$/.test(parsed.protocol) || !parsed.hostname) {
      throw new InputError(`--coordinator ${text}: must be an http(s):// or ws(s):// URL with a host`);
    }
    const url = text.replace(/\/+$/, '');
    if (!urls.includes(url)) urls.push(url);
  }
  if (!urls.length) throw new InputError('--coordinator: no URL given');
  return urls;
}

/**
 * Which of several coordinator URLs the agent's one socket.io connection goes to. The connection
 * stays with a URL that works; after a failed attempt (a dead coordinator, or a standby that answers
 * 503) the next attempt goes to the next URL, round-robin, with socket.io's own backoff between
 * attempts. One connection object for all URLs keeps everything bound to it (transfers, the
 * outgoing channel, its handlers) as it is across a plain reconnect.
 */
export class CoordinatorRotation {
  private index = 0;

  constructor(
    readonly urls: readonly string[],
    private readonly namespace: string,
    private readonly network: NetworkOptions | undefined,
  ) {}

  get current(): string {
    return this.urls[this.index];
  }

  /** The address socket.io is given for the current URL (URL + namespace). */
  get address(): string {
    return this.current + this.namespace;
  }

  /**
   * Points the manager's next connection attempt at the next URL (and that URL's proxy, since
   * NO_PROXY may treat them differently). Returns the URL, or undefined with a single URL.
   */
  advance(manager: Manager): string | undefined {
    if (this.urls.length < 2) return undefined;
    this.index = (this.index + 1) % this.urls.length;
    // socket.io-client builds each attempt's engine from the manager's `uri` (private in its
    // types, stable since 3.0; coordinator-urls.spec.ts pins it) and its public `opts`.
    (manager as unknown as { uri: string }).uri = this.address;
    if (this.network) {
      const agent = (connectionOptions(this.current, this.network).options as { agent?: unknown }).agent;
      (manager.opts as { agent?: unknown }).agent = agent;
    }
    return this.current;
  }
}
