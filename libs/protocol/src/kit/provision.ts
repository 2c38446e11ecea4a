import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, Log, PRIVATE_DIR_MODE, silentLog } from '../../../common/src';
import { fingerprint, generateKeyPair, SigningKeyPair, toBase64 } from '../envelope/keys';
import { COORDINATOR_ID, ID_PATTERN, PROTOCOL_VERSION, SITES_NAMESPACE } from '../version';
import {
  readSecretKeyFile,
  writeJsonAtomic,
  writePublicKeyFile,
  writeSecretKeyFile,
  readJsonFile,
} from './key-files';
import { COORDINATOR_DIR, coordinatorFiles, RETIRED_DIR, siteKitFiles, SITES_DIR } from './layout';
import { readRegistry, SiteEnrolment, writeRegistry } from './registry';

export interface ProvisionRequest {
  outDir: string;
  /** Required when the coordinator is created; later runs default to the URL in coordinator.json. */
  coordinatorUrl?: string;
  siteIds: string[];
  /** Replace existing kits of these sites (the old kit is moved to DIR/retired/, not deleted). */
  force?: boolean;
  now?: Date;
  log?: Log;
}

export interface ProvisionedSite {
  id: string;
  fingerprint: string;
  kitDir: string;
  /** Where the replaced kit went, when --force replaced one. */
  retiredTo?: string;
}

export interface ProvisionResult {
  coordinator: { dir: string; fingerprint: string; created: boolean; url: string };
  sites: ProvisionedSite[];
}

export const COORDINATOR_IDENTITY_FORMAT = 'phcc-fed-coordinator-v1';
export const SITE_KIT_FORMAT = 'phcc-fed-site-kit-v1';

export interface CoordinatorIdentityFile {
  format: typeof COORDINATOR_IDENTITY_FORMAT;
  id: typeof COORDINATOR_ID;
  url: string;
  publicKey: string;
  fingerprint: string;
  protocolVersion: number;
  created: string;
}

export interface SiteKitFile {
  format: typeof SITE_KIT_FORMAT;
  siteId: string;
  coordinatorUrl: string;
  namespace: string;
  coordinatorPublicKey: string;
  coordinatorFingerprint: string;
  sitePublicKey: string;
  siteFingerprint: string;
  protocolVersion: number;
  created: string;
}

/**
 * Creates the coordinator key pair (once) and one site kit per site, and enrols the sites in the
 * coordinator's sites.json. Refuses to overwrite a kit unless `force`; even then the old kit is
 * moved aside, never deleted. Secret keys are written 0600 and never returned.
 */
export function provision(request: ProvisionRequest): ProvisionResult {
  const log = request.log ?? silentLog;
  const now = request.now ?? new Date();
  validateSiteIds(request.siteIds);
  const coordinatorDir = join(request.outDir, COORDINATOR_DIR);
  const coordinator = ensureCoordinator(coordinatorDir, request.coordinatorUrl, now, log);

  const registry = readRegistry(coordinatorDir);
  const sites: ProvisionedSite[] = [];
  // Check every kit first, so a refusal leaves nothing half done.
  for (const id of request.siteIds) {
    const kitDir = join(request.outDir, SITES_DIR, id);
    if (existsSync(kitDir) && !request.force) {
      throw new InputError(
        `site kit ${kitDir} already exists; use --force to replace it (the old kit is kept under ${RETIRED_DIR}/)`,
      );
    }
  }
  for (const id of request.siteIds) {
    const kitDir = join(request.outDir, SITES_DIR, id);
    let retiredTo: string | undefined;
    if (existsSync(kitDir)) {
      retiredTo = join(request.outDir, RETIRED_DIR, `${id}-${now.toISOString().replace(/[:.]/g, '-')}`);
      mkdirSync(join(request.outDir, RETIRED_DIR), { recursive: true, mode: PRIVATE_DIR_MODE });
      renameSync(kitDir, retiredTo);
      log.warn({ site: id, retiredTo }, 'existing site kit moved aside (--force)');
    }
    const keys = generateKeyPair();
    writeSiteKit(kitDir, id, keys, { publicKey: coordinator.keys.publicKey, url: coordinator.url }, now);
    enrol(registry.sites, id, keys.publicKey, now);
    sites.push({ id, fingerprint: fingerprint(keys.publicKey), kitDir, retiredTo });
    log.info({ site: id, fingerprint: fingerprint(keys.publicKey) }, 'site kit written');
  }
  writeRegistry(coordinatorDir, registry);
  return {
    coordinator: {
      dir: coordinatorDir,
      fingerprint: fingerprint(coordinator.keys.publicKey),
      created: coordinator.created,
      url: coordinator.url,
    },
    sites,
  };
}

function validateSiteIds(ids: string[]): void {
  if (!ids.length) throw new InputError('name at least one site with --site ID');
  const seen = new Set<string>();
  for (const id of ids) {
    if (!ID_PATTERN.test(id)) {
      throw new InputError(`site id "${id}" must be 1-64 of a-z 0-9 . _ - starting with a letter or digit`);
    }
    if (id === COORDINATOR_ID)
      throw new InputError(`"${COORDINATOR_ID}" is reserved and cannot be a site id`);
    if (seen.has(id)) throw new InputError(`site "${id}" is named twice`);
    seen.add(id);
  }
}

export function validateCoordinatorUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(`--coordinator-url "${url}" is not a URL`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) {
    throw new InputError(`--coordinator-url must use http, https, ws or wss (got ${parsed.protocol})`);
  }
  return url;
}

interface CoordinatorState {
  keys: SigningKeyPair;
  url: string;
  created: boolean;
}

function ensureCoordinator(dir: string, url: string | undefined, now: Date, log: Log): CoordinatorState {
  const files = coordinatorFiles(dir);
  if (existsSync(files.secretKey)) {
    const { keys } = readSecretKeyFile(files.secretKey);
    const identity = readJsonFile(files.identity) as Partial<CoordinatorIdentityFile>;
    if (identity.publicKey !== toBase64(keys.publicKey)) {
      throw new InputError(`${files.identity}: publicKey does not match ${files.secretKey}`);
    }
    const knownUrl = String(identity.url);
    if (url && url !== knownUrl) {
      log.warn(
        { given: url, inCoordinatorJson: knownUrl },
        'kits get the given --coordinator-url, which differs from coordinator.json',
      );
    }
    return { keys, url: url ? validateCoordinatorUrl(url) : knownUrl, created: false };
  }
  if (!url)
    throw new InputError('--coordinator-url is required the first time (no coordinator key exists yet)');
  validateCoordinatorUrl(url);
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const keys = generateKeyPair();
  writeSecretKeyFile(files.secretKey, COORDINATOR_ID, keys);
  writePublicKeyFile(files.publicKey, COORDINATOR_ID, keys.publicKey);
  const identity: CoordinatorIdentityFile = {
    format: COORDINATOR_IDENTITY_FORMAT,
    id: COORDINATOR_ID,
    url,
    publicKey: toBase64(keys.publicKey),
    fingerprint: fingerprint(keys.publicKey),
    protocolVersion: PROTOCOL_VERSION,
    created: now.toISOString(),
  };
  writeJsonAtomic(files.identity, identity);
  log.info({ fingerprint: identity.fingerprint }, 'coordinator key pair created');
  return { keys, url, created: true };
}

/** A site's kit folder (0700): its key pair (secret 0600), the coordinator's public key, kit.json. */
export function writeSiteKit(
  kitDir: string,
  id: string,
  keys: SigningKeyPair,
  coordinator: { publicKey: Uint8Array; url: string },
  now: Date,
): SiteKitFile {
  mkdirSync(kitDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const files = siteKitFiles(kitDir);
  writeSecretKeyFile(files.secretKey, id, keys);
  writePublicKeyFile(files.publicKey, id, keys.publicKey);
  writePublicKeyFile(files.coordinatorPublicKey, COORDINATOR_ID, coordinator.publicKey);
  const kit: SiteKitFile = {
    format: SITE_KIT_FORMAT,
    siteId: id,
    coordinatorUrl: coordinator.url,
    namespace: SITES_NAMESPACE,
    coordinatorPublicKey: toBase64(coordinator.publicKey),
    coordinatorFingerprint: fingerprint(coordinator.publicKey),
    sitePublicKey: toBase64(keys.publicKey),
    siteFingerprint: fingerprint(keys.publicKey),
    protocolVersion: PROTOCOL_VERSION,
    created: now.toISOString(),
  };
  writeJsonAtomic(files.kit, kit);
  return kit;
}

function enrol(sites: SiteEnrolment[], id: string, publicKey: Uint8Array, now: Date): void {
  const entry: SiteEnrolment = {
    id,
    publicKey: toBase64(publicKey),
    fingerprint: fingerprint(publicKey),
    enrolledAt: now.toISOString(),
  };
  const existing = sites.findIndex((s) => s.id === id);
  if (existing < 0) {
    sites.push(entry);
    return;
  }
  const old = sites[existing];
  // A re-provisioned site gets a fresh key and a fresh (unrevoked) enrolment; the old key is listed as replaced.
  entry.replacedKeys = [
    ...(old.replacedKeys ?? []),
    { publicKey: old.publicKey, fingerprint: old.fingerprint, replacedAt: now.toISOString() },
  ];
  sites[existing] = entry;
}
