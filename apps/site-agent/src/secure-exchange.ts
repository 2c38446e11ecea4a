import {
  directoryFromWire,
  inboxFromWire,
  keysToWire,
  maskedToWire,
  sharesToWire,
  unmaskRequestFromWire,
  unmaskToWire,
} from '../../../libs/federated/src';
import type {
  SecAggDirectoryBody,
  SecAggInboxBody,
  SecAggUnmaskRequestBody,
  SecureAggregationConfigDto,
} from '../../../libs/protocol/src';
import type { SecureOutgoing } from './site-work';

/** The coordinator's SecAgg messages a site waits for, by event name. */
export const SECURE_INCOMING_TYPES = ['secagg-directory', 'secagg-inbox', 'secagg-unmask-request'] as const;

/** Their bodies (keys: SECURE_INCOMING_TYPES). */
export interface SecureIncoming {
  'secagg-directory': SecAggDirectoryBody;
  'secagg-inbox': SecAggInboxBody;
  'secagg-unmask-request': SecAggUnmaskRequestBody;
}

/** How the exchange reaches the coordinator: the agent signs and sends, and hands over what came. */
export interface SecureExchangePorts {
  /** Signs and sends a payload-less secagg message of the task; throws if it was refused. */
  send(
    type: 'secagg-keys' | 'secagg-shares' | 'secagg-unmask',
    fields: Record<string, unknown>,
  ): Promise<void>;
  /** Signs and sends the masked input as a transfer; throws if it was refused. */
  sendMasked(fields: { ringBits: number; vectorLength: number }, payload: Uint8Array): Promise<void>;
  /** The coordinator's next message of this type for the task (verified, signed by it). */
  receive<T extends keyof SecureIncoming>(type: T): Promise<SecureIncoming[T]>;
}

/**
 * A site's four SecAgg steps after training (docs/PROTOCOL.md §10): keys → (directory) shares →
 * (inbox) masked input → (unmask request) revealed shares. What leaves is two public keys, shares
 * sealed for neighbours, the masked vector and the shares the coordinator may have; the clear
 * input never does. The state machine (`SecAggSite`) refuses any step out of order and any
 * request that would reveal both secrets of one site.
 */
export async function runSecureExchange(
  siteId: string,
  settings: SecureAggregationConfigDto,
  prepared: SecureOutgoing,
  metrics: Record<string, number>,
  ports: SecureExchangePorts,
): Promise<void> {
  const session = { sessionId: settings.sessionId };
  const { site, input } = prepared;
  await ports.send('secagg-keys', { ...session, ...keysToWire(site.advertise()), metrics });
  const directory = await ports.receive('secagg-directory');
  await ports.send('secagg-shares', {
    ...session,
    ...sharesToWire(site.shareKeys(directoryFromWire(settings.sessionId, directory.sites))),
  });
  const inbox = await ports.receive('secagg-inbox');
  const masked = site.maskInput(inboxFromWire(siteId, inbox.shares), input);
  await ports.sendMasked(
    { ringBits: settings.ringBits, vectorLength: input.length },
    maskedToWire(masked, settings.ringBits),
  );
  const request = await ports.receive('secagg-unmask-request');
  await ports.send('secagg-unmask', {
    ...session,
    ...unmaskToWire(site.unmask(unmaskRequestFromWire(settings.sessionId, request))),
  });
}
