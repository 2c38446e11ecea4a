import { existsSync, readdirSync } from 'node:fs';
import { InputError } from '../../../common/src';
import { fromBase64, generateKeyPair, PUBLIC_KEY_BYTES, toBase64 } from '../envelope/keys';
import { COORDINATOR_ID, ID_PATTERN } from '../version';
import { readPublicKeyFile } from './key-files';
import { validateCoordinatorUrl, writeSiteKit } from './provision';
import { checkFingerprint } from './registry';

export interface SiteKeysRequest {
  siteId: string;
  /** The kit folder at the hospital (created 0700; must be empty or absent). */
  outDir: string;
  coordinatorUrl: string;
  /** The coordinator's public key: base64, or the path of its `coordinator.pub`. */
  coordinatorKey: string;
  /** The coordinator's fingerprint as read over the phone; the key must match it. */
  coordinatorFingerprint: string;
  now?: Date;
}

export interface SiteKeysResult {
  siteId: string;
  kitDir: string;
  /** What the hospital sends to the operator (public; the secret key stays in kitDir). */
  publicKey: string;
  fingerprint: string;
  coordinatorFingerprint: string;
}

/**
 * `keys init`: the site's key pair is born at the hospital, so its secret key never travels.
 * Writes the same kit `provision` writes for a site (site.key 0600, site.pub, coordinator.pub,
 * kit.json), so `phcc-fed agent --kit DIR` runs from it unchanged, after checking the
 * coordinator's key against the fingerprint the operator read out.
 */
export function initSiteKeys(request: SiteKeysRequest): SiteKeysResult {
  if (!ID_PATTERN.test(request.siteId) || request.siteId === COORDINATOR_ID) {
    throw new InputError(
      `--site "${request.siteId}" must be 1-64 of a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  validateCoordinatorUrl(request.coordinatorUrl);
  const coordinatorKey = coordinatorKeyOf(request.coordinatorKey);
  const coordinatorPublicKey = checkFingerprint(
    '--coordinator-key',
    coordinatorKey,
    request.coordinatorFingerprint,
  );
  if (existsSync(request.outDir) && readdirSync(request.outDir).length) {
    throw new InputError(
      `--out ${request.outDir} is not empty: a site key is never overwritten (choose a new folder)`,
    );
  }
  const kit = writeSiteKit(
    request.outDir,
    request.siteId,
    generateKeyPair(),
    { publicKey: coordinatorPublicKey, url: request.coordinatorUrl },
    request.now ?? new Date(),
  );
  return {
    siteId: request.siteId,
    kitDir: request.outDir,
    publicKey: kit.sitePublicKey,
    fingerprint: kit.siteFingerprint,
    coordinatorFingerprint: kit.coordinatorFingerprint,
  };
}

/** Base64 as given, or the key inside a `coordinator.pub` file. */
function coordinatorKeyOf(value: string): string {
  if (fromBase64(value, PUBLIC_KEY_BYTES)) return value;
  if (existsSync(value)) {
    const { id, publicKey } = readPublicKeyFile(value);
    if (id !== COORDINATOR_ID)
      throw new InputError(`--coordinator-key ${value}: a key of "${id}", not of the coordinator`);
    return toBase64(publicKey);
  }
  throw new InputError(
    `--coordinator-key: neither a 32-byte base64 key nor a coordinator.pub file ("${value.slice(0, 60)}")`,
  );
}
