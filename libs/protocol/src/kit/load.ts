import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../../common/src';
import { Keyring } from '../envelope/keyring';
import { fingerprint, fromBase64, PUBLIC_KEY_BYTES, SigningKeyPair, toBase64 } from '../envelope/keys';
import { COORDINATOR_ID, PROTOCOL_VERSION } from '../version';
import { readJsonFile, readPublicKeyFile, readSecretKeyFile } from './key-files';
import { COORDINATOR_DIR, coordinatorFiles, siteKitFiles, SITES_DIR } from './layout';
import { CoordinatorIdentityFile, SITE_KIT_FORMAT, SiteKitFile } from './provision';
import { keyringFromRegistry, readRegistry, SiteEnrolment } from './registry';

/** What a site agent needs to connect: its identity and keys, and whom to trust. */
export interface LoadedSiteKit {
  siteId: string;
  coordinatorUrl: string;
  namespace: string;
  keys: SigningKeyPair;
  coordinatorPublicKey: Uint8Array;
  /** Keyring holding only the coordinator: what a site verifies tasks and welcomes with. */
  keyring: Keyring;
}

export function loadSiteKit(kitDir: string): LoadedSiteKit {
  const files = siteKitFiles(kitDir);
  const kit = readJsonFile(files.kit) as Partial<SiteKitFile>;
  if (
    kit.format !== SITE_KIT_FORMAT ||
    typeof kit.siteId !== 'string' ||
    typeof kit.coordinatorUrl !== 'string'
  ) {
    throw new InputError(`${files.kit}: not a phcc-fed site kit (format ${SITE_KIT_FORMAT})`);
  }
  if (kit.protocolVersion !== PROTOCOL_VERSION) {
    throw new InputError(
      `${files.kit}: kit is for protocol version ${kit.protocolVersion}; this build speaks ${PROTOCOL_VERSION}`,
    );
  }
  const { id, keys } = readSecretKeyFile(files.secretKey);
  if (id !== kit.siteId || toBase64(keys.publicKey) !== kit.sitePublicKey) {
    throw new InputError(`${files.secretKey}: key does not belong to site ${kit.siteId} of ${files.kit}`);
  }
  const coordinatorPublicKey = fromBase64(kit.coordinatorPublicKey, PUBLIC_KEY_BYTES);
  if (!coordinatorPublicKey)
    throw new InputError(`${files.kit}: "coordinatorPublicKey" must be 32 bytes in base64`);
  return {
    siteId: kit.siteId,
    coordinatorUrl: kit.coordinatorUrl,
    namespace: kit.namespace ?? '/sites',
    keys,
    coordinatorPublicKey,
    keyring: new Keyring([[COORDINATOR_ID, coordinatorPublicKey]]),
  };
}

/** What the coordinator loads at start: its keys, URL, and the keyring of enrolled sites. */
export interface LoadedCoordinator {
  url: string;
  keys: SigningKeyPair;
  keyring: Keyring;
  sites: SiteEnrolment[];
}

export function loadCoordinator(coordinatorDir: string): LoadedCoordinator {
  const files = coordinatorFiles(coordinatorDir);
  const { keys } = readSecretKeyFile(files.secretKey);
  const identity = readJsonFile(files.identity) as Partial<CoordinatorIdentityFile>;
  if (identity.publicKey !== toBase64(keys.publicKey)) {
    throw new InputError(`${files.identity}: publicKey does not match ${files.secretKey}`);
  }
  const registry = readRegistry(coordinatorDir);
  return {
    url: String(identity.url),
    keys,
    keyring: keyringFromRegistry(registry, keys.publicKey),
    sites: registry.sites,
  };
}

/** Public facts only (for `keys show`): never a secret key. */
export interface KeyListing {
  kind: 'provision-root' | 'coordinator' | 'site-kit';
  coordinator?: { url: string; fingerprint: string; publicKey: string };
  /** `revoked` is known only where the registry is (absent for a lone site kit). */
  sites: {
    id: string;
    fingerprint: string;
    publicKey: string;
    revoked?: boolean;
    kitDir?: string;
    coordinatorFingerprint?: string;
  }[];
}

/** Which directory is the coordinator's (given a provision root or the coordinator dir itself). */
export function coordinatorDirOf(dir: string): string | undefined {
  if (existsSync(coordinatorFiles(dir).identity)) return dir;
  const nested = join(dir, COORDINATOR_DIR);
  return existsSync(coordinatorFiles(nested).identity) ? nested : undefined;
}

export function describeKeys(dir: string): KeyListing {
  if (existsSync(siteKitFiles(dir).kit)) return { kind: 'site-kit', sites: [describeKit(dir)] };
  const coordinatorDir = coordinatorDirOf(dir);
  if (!coordinatorDir) {
    throw new InputError(
      `${dir}: neither a provision directory, a coordinator directory nor a site kit (no kit.json or coordinator.json)`,
    );
  }
  const coordinatorPub = readPublicKeyFile(coordinatorFiles(coordinatorDir).publicKey).publicKey;
  const identity = readJsonFile(
    coordinatorFiles(coordinatorDir).identity,
  ) as Partial<CoordinatorIdentityFile>;
  const registry = readRegistry(coordinatorDir);
  const isRoot = coordinatorDir !== dir;
  const sites = registry.sites.map((s) => {
    const kitDir = join(dir, SITES_DIR, s.id);
    return {
      id: s.id,
      fingerprint: s.fingerprint,
      publicKey: s.publicKey,
      revoked: Boolean(s.revokedAt),
      ...(isRoot && existsSync(siteKitFiles(kitDir).kit) ? { kitDir } : {}),
    };
  });
  if (isRoot && existsSync(join(dir, SITES_DIR))) {
    // Kits present on disk but missing from the registry are worth seeing too.
    for (const id of readdirSync(join(dir, SITES_DIR))) {
      const kitDir = join(dir, SITES_DIR, id);
      if (!sites.some((s) => s.id === id) && existsSync(siteKitFiles(kitDir).kit))
        sites.push({ ...describeKit(kitDir), revoked: false });
    }
  }
  return {
    kind: isRoot ? 'provision-root' : 'coordinator',
    coordinator: {
      url: String(identity.url),
      fingerprint: fingerprint(coordinatorPub),
      publicKey: toBase64(coordinatorPub),
    },
    sites,
  };
}

function describeKit(kitDir: string): KeyListing['sites'][number] {
  const kit = readJsonFile(siteKitFiles(kitDir).kit) as Partial<SiteKitFile>;
  const { id, publicKey } = readPublicKeyFile(siteKitFiles(kitDir).publicKey);
  const coordinator = readPublicKeyFile(siteKitFiles(kitDir).coordinatorPublicKey).publicKey;
  if (kit.siteId !== id) throw new InputError(`${siteKitFiles(kitDir).kit}: siteId differs from site.pub`);
  return {
    id,
    fingerprint: fingerprint(publicKey),
    publicKey: toBase64(publicKey),
    kitDir,
    coordinatorFingerprint: fingerprint(coordinator),
  };
}
