import { HttpsProxyAgent } from 'https-proxy-agent';
import { existsSync, readFileSync } from 'node:fs';
import { getProxyForUrl } from 'proxy-from-env';
import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import { InputError } from '../../../libs/common/src';

/** How a hospital's network lets the agent out. */
export interface NetworkOptions {
  /** PEM file of the CA that signed the coordinator's (or its reverse proxy's) certificate. */
  caFile?: string;
  /**
   * 'auto' (default): HTTP long-polling first, upgraded to WebSocket when the path allows it, so
   * a proxy that strips upgrades leaves a working (slower) connection; 'websocket': WebSocket only.
   */
  transport?: 'auto' | 'websocket';
}

/** What the agent tells its operator about the path it takes. */
export interface ConnectionPlan {
  options: Partial<ManagerOptions & SocketOptions>;
  /** The proxy in use (credentials removed), or undefined for a direct connection. */
  proxy?: string;
}

/**
 * socket.io client options for the hospital's network: the proxy HTTPS_PROXY / HTTP_PROXY name
 * for the coordinator's URL unless NO_PROXY excludes it (tunnelled with HTTP CONNECT, so TLS
 * stays end to end and the proxy sees only the host name), a private CA for a self-signed
 * consortium certificate, and long-polling with WebSocket upgrade so a proxy that refuses
 * upgrades still lets the agent work.
 */
export function connectionOptions(coordinatorUrl: string, network: NetworkOptions = {}): ConnectionPlan {
  const ca = network.caFile === undefined ? undefined : readCa(network.caFile);
  const proxy = getProxyForUrl(coordinatorUrl.replace(/^ws(s?):/, 'http$1:')) || undefined;
  const options: Partial<ManagerOptions & SocketOptions> = {
    transports: network.transport === 'websocket' ? ['websocket'] : ['polling', 'websocket'],
    upgrade: network.transport !== 'websocket',
    // Never accept a certificate that does not chain to the system's or --ca's roots.
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
  };
  if (proxy) {
    // engine.io passes `agent` to both the polling requests and the WebSocket; the CA travels with
    // each request to the TLS connection made through the tunnel.
    (options as { agent?: unknown }).agent = new HttpsProxyAgent(proxy, { keepAlive: true });
  }
  return { options, proxy: proxy && redact(proxy) };
}

function readCa(file: string): string {
  if (!existsSync(file)) throw new InputError(`--ca ${file}: file not found`);
  const pem = readFileSync(file, 'utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InputError(`--ca ${file}: not a PEM certificate (expected "-----BEGIN CERTIFICATE-----")`);
  }
  return pem;
}

function redact(proxy: string): string {
  try {
    const url = new URL(proxy);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return 'a proxy (unparsable URL)';
  }
}
