import { existsSync } from 'node:fs';
import { InputError } from '../../../common/src';
import { Keyring } from '../envelope/keyring';
import { fingerprint, fromBase64, PUBLIC_KEY_BYTES } from '../envelope/keys';
import { COORDINATOR_ID, ID_PATTERN } from '../version';
import { readJsonFile, writeJsonAtomic } from './key-files';
import { coordinatorFiles } from './layout';

/** One enrolled site in the coordinator's `sites.json`. */
export interface SiteEnrolment {
  id: string;
  publicKey: string;
  fingerprint: string;
  enrolledAt: string;
  revokedAt?: string;
  revokedReason?: string;
  /** Keys this site had before a `provision --force` replaced its kit. */
  replacedKeys?: { publicKey: string; fingerprint: string; replacedAt: string }[];
}

export interface SitesRegistry {
  format: 'phcc-fed-sites-v1';
  sites: SiteEnrolment[];
}

const EMPTY: SitesRegistry = { format: 'phcc-fed-sites-v1', sites: [] };

/** Reads `sites.json` (an empty registry if absent), checking every entry. */
export function readRegistry(coordinatorDir: string): SitesRegistry {
  const path = coordinatorFiles(coordinatorDir).registry;
  if (!existsSync(path)) return { ...EMPTY, sites: [] };
  const doc = readJsonFile(path) as Partial<SitesRegistry>;
  if (doc.format !== EMPTY.format || !Array.isArray(doc.sites)) {
    throw new InputError(`${path}: not a phcc-fed site registry (format ${EMPTY.format})`);
  }
  doc.sites.forEach((site: Partial<SiteEnrolment>, i) => {
    const key = fromBase64(site.publicKey, PUBLIC_KEY_BYTES);
    if (typeof site.id !== 'string' || !ID_PATTERN.test(site.id) || !key) {
      throw new InputError(`${path}: sites[${i}] needs a valid "id" and a 32-byte base64 "publicKey"`);
    }
    if (site.fingerprint !== fingerprint(key)) {
      throw new InputError(`${path}: sites[${i}] (${site.id}) fingerprint does not match its public key`);
    }
  });
  return doc as SitesRegistry;
}

export function writeRegistry(coordinatorDir: string, registry: SitesRegistry): void {
  writeJsonAtomic(coordinatorFiles(coordinatorDir).registry, registry);
}

/** The coordinator's keyring: its own key plus every enrolled site, revoked ones marked. */
export function keyringFromRegistry(registry: SitesRegistry, coordinatorPublicKey: Uint8Array): Keyring {
  const ring = new Keyring([[COORDINATOR_ID, coordinatorPublicKey]]);
  for (const site of registry.sites) {
    ring.add(site.id, fromBase64(site.publicKey, PUBLIC_KEY_BYTES)!);
    if (site.revokedAt) ring.revoke(site.id);
  }
  return ring;
}

/**
 * Marks a site revoked in `sites.json`: from the next start (or reload) of the coordinator its
 * handshakes and envelopes are refused with REVOKED_SIGNER. Returns the updated entry.
 */
export function revokeSite(
  coordinatorDir: string,
  siteId: string,
  reason: string,
  now = new Date(),
): SiteEnrolment {
  const registry = readRegistry(coordinatorDir);
  const site = registry.sites.find((s) => s.id === siteId);
  if (!site) {
    const known = registry.sites.map((s) => s.id).join(', ') || 'none';
    throw new InputError(
      `site "${siteId}" is not enrolled in ${coordinatorFiles(coordinatorDir).registry} (enrolled: ${known})`,
    );
  }
  if (!site.revokedAt) {
    site.revokedAt = now.toISOString();
    site.revokedReason = reason;
    writeRegistry(coordinatorDir, registry);
  }
  return site;
}

/**
 * Checks a public key sent by a hospital against the fingerprint read to the operator over a
 * second channel (the phone), so a key swapped in transit is refused. Returns the key's bytes.
 */
export function checkFingerprint(what: string, publicKeyBase64: string, expected: string): Uint8Array {
  const key = fromBase64(publicKeyBase64, PUBLIC_KEY_BYTES);
  if (!key)
    throw new InputError(
      `${what}: the public key must be 32 bytes in base64 (got "${publicKeyBase64.slice(0, 60)}")`,
    );
  const actual = fingerprint(key);
  if (actual !== expected.trim().toLowerCase()) {
    throw new InputError(
      `${what}: the fingerprint ${expected} does not match the public key (its fingerprint is ${actual}): do not enrol it, ask the hospital again`,
    );
  }
  return key;
}

/**
 * Enrols a site whose key was made at the hospital (`keys init`): appends it to `sites.json`.
 * The same key again is a no-op; another key for an enrolled id is refused unless `replace`
 * (key rotation), which keeps the old key under `replacedKeys`; a revoked id stays revoked.
 */
export function enrolSite(
  coordinatorDir: string,
  request: { id: string; publicKey: string; fingerprint: string; replace?: boolean },
  now = new Date(),
): SiteEnrolment {
  if (!ID_PATTERN.test(request.id) || request.id === COORDINATOR_ID) {
    throw new InputError(`site id "${request.id}" must be 1-64 of a-z 0-9 . _ - and not "${COORDINATOR_ID}"`);
  }
  checkFingerprint(`site ${request.id}`, request.publicKey, request.fingerprint);
  const registry = readRegistry(coordinatorDir);
  const existing = registry.sites.find((s) => s.id === request.id);
  if (existing?.revokedAt) {
    throw new InputError(
      `site "${request.id}" was revoked (${existing.revokedReason ?? 'no reason'}); enrol the hospital under a new id`,
    );
  }
  if (existing && existing.publicKey === request.publicKey) return existing;
  if (existing && !request.replace) {
    throw new InputError(
      `site "${request.id}" is enrolled with another key (${existing.fingerprint}); rotating it needs --replace`,
    );
  }
  const entry: SiteEnrolment = {
    id: request.id,
    publicKey: request.publicKey,
    fingerprint: fingerprint(fromBase64(request.publicKey, PUBLIC_KEY_BYTES)!),
    enrolledAt: now.toISOString(),
  };
  if (existing) {
    entry.replacedKeys = [
      ...(existing.replacedKeys ?? []),
      { publicKey: existing.publicKey, fingerprint: existing.fingerprint, replacedAt: now.toISOString() },
    ];
    registry.sites[registry.sites.indexOf(existing)] = entry;
  } else {
    registry.sites.push(entry);
  }
  writeRegistry(coordinatorDir, registry);
  return entry;
}
