import {
  BadRequestException,
  Inject,
  Injectable,
  NotFoundException,
  OnModuleDestroy,
  OnModuleInit,
} from '@nestjs/common';
import { Stats, unwatchFile, watchFile } from 'node:fs';
import { ConfigService } from '@nestjs/config';
import { InputError, Log } from '../../../../libs/common/src';
import {
  coordinatorDirOf,
  coordinatorFiles,
  enrolSite,
  fromBase64,
  Keyring,
  PUBLIC_KEY_BYTES,
  loadCoordinator,
  revokeSite as revokeInRegistry,
  SigningKeyPair,
  fingerprint,
} from '../../../../libs/protocol/src';
import { coordinatorConfig } from '../config/coordinator-config';
import { COORDINATOR_LOG } from '../logging/nest-log-adapter';
import { SiteRecord } from '../persistence/records';
import { ConnectedSites } from './connected-sites';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';

/** How often sites.json is polled for `keys revoke` / `provision` done while the coordinator runs. */
export const REGISTRY_POLL_MS = 2000;

/** What the gateway and envelope verifiers need: whom to trust, and the coordinator's own keys. */
export interface KeyringProvider {
  /** Live keyring: a revocation through the API takes effect on the next handshake or message. */
  readonly keyring: Keyring;
  readonly coordinatorKeys: SigningKeyPair;
  readonly coordinatorUrl: string;
}

/**
 * Enrolment comes from the provisioning kit (`sites.json`, written by `phcc-fed provision`); the
 * database mirrors it and adds what only the running coordinator knows (API revocations). A site
 * revoked in either place stays revoked.
 */
@Injectable()
export class SitesService implements OnModuleInit, OnModuleDestroy, KeyringProvider {
  private readonly ring = new Keyring();
  private keys?: SigningKeyPair;
  private url = '';
  private coordinatorDir = '';
  private registryWatch?: { file: string; listener: (current: Stats, previous: Stats) => void };

  constructor(
    private readonly config: ConfigService,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    @Inject(COORDINATOR_LOG) private readonly log: Log,
    private readonly connected: ConnectedSites,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.watchRegistry();
  }

  onModuleDestroy(): void {
    // With this listener only: other coordinators in the process (tests) may watch the same file.
    if (this.registryWatch) unwatchFile(this.registryWatch.file, this.registryWatch.listener);
  }

  /**
   * Re-reads the kit's registry and updates the keyring in place: sites provisioned since start
   * are enrolled, sites revoked there (`keys revoke`) are refused and their connection closed,
   * and a revoked site provisioned again under a new key (`provision --force`) is readmitted
   * (docs/PROTOCOL.md §2.2). A registry that cannot be read changes nothing and throws one line.
   */
  async reload(): Promise<SiteRecord[]> {
    const { kitDir } = coordinatorConfig(this.config);
    const dir = coordinatorDirOf(kitDir);
    if (!dir) {
      throw new InputError(
        `${kitDir}: no coordinator kit here (expected coordinator/coordinator.json; create one with "phcc-fed provision --out ${kitDir} …")`,
      );
    }
    const loaded = loadCoordinator(dir);
    const before = new Map((await this.store.sites.list()).map((s) => [s.id, s]));
    for (const site of loaded.sites) {
      const known = before.get(site.id);
      if (known?.revokedAt && !site.revokedAt && known.publicKey !== site.publicKey) {
        // Re-provisioned: the revocation was of the old key, which no longer verifies anything.
        await this.store.sites.readmit(site.id);
        this.ring.readmit(site.id);
        this.log.warn(
          { site: site.id, fingerprint: site.fingerprint },
          'revoked site readmitted under a new key',
        );
      }
      await this.store.sites.upsert({
        id: site.id,
        publicKey: site.publicKey,
        fingerprint: site.fingerprint,
        enrolledAt: site.enrolledAt,
        revokedAt: site.revokedAt,
        revokedReason: site.revokedReason,
      });
    }
    const sites = await this.store.sites.list();
    const enrolled = new Set(loaded.sites.map((s) => s.id));
    // One Keyring for the coordinator's lifetime, updated in place: the gateway and verifiers
    // hold a reference to it, so a reload or a revocation reaches them without re-wiring.
    for (const id of loaded.keyring.ids()) this.ring.add(id, loaded.keyring.publicKey(id)!);
    for (const site of sites) {
      // Enrolled through the API but not in sites.json (the file was read-only): still trusted.
      if (!this.ring.publicKey(site.id))
        this.ring.add(site.id, fromBase64(site.publicKey, PUBLIC_KEY_BYTES)!);
      // Revoked here or in sites.json (e.g. the file was read-only): refused, and cut off now.
      if (site.revokedAt && !this.ring.isRevoked(site.id)) {
        this.ring.revoke(site.id);
        this.connected.disconnect(site.id, `site revoked: ${site.revokedReason ?? 'no reason given'}`);
      }
    }
    this.coordinatorDir = dir;
    this.keys = loaded.keys;
    this.url = loaded.url;
    this.log.info(
      { kit: dir, coordinator: fingerprint(loaded.keys.publicKey), sites: enrolled.size },
      'coordinator kit loaded',
    );
    return sites.filter((s) => enrolled.has(s.id));
  }

  /**
   * `keys revoke` and `provision` edit sites.json while the coordinator runs: polled (fs.watch
   * misses the write-then-rename of writeJsonAtomic on some file systems), so a revocation takes
   * effect within REGISTRY_POLL_MS without a restart or `POST /sites/reload`.
   */
  private watchRegistry(): void {
    const file = coordinatorFiles(this.coordinatorDir).registry;
    const listener = (current: Stats, previous: Stats) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
      this.reload().catch((err: unknown) =>
        this.log.error(
          { file, err: err instanceof Error ? err.message : String(err) },
          'sites.json changed but could not be loaded; the previous registry stays in force',
        ),
      );
    };
    watchFile(file, { interval: REGISTRY_POLL_MS, persistent: false }, listener);
    this.registryWatch = { file, listener };
  }

  get keyring(): Keyring {
    return this.ring;
  }

  get coordinatorKeys(): SigningKeyPair {
    if (!this.keys) throw new Error('coordinator kit not loaded yet');
    return this.keys;
  }

  get coordinatorUrl(): string {
    return this.url;
  }

  list(): Promise<SiteRecord[]> {
    return this.store.sites.list();
  }

  async get(id: string): Promise<SiteRecord> {
    const site = await this.store.sites.get(id);
    if (!site) throw new NotFoundException(`site "${id}" is not enrolled`);
    return site;
  }

  /**
   * Enrols a site whose key was made at the hospital (`keys init`), after checking the key
   * against the fingerprint read over the phone: sites.json first (the kit stays the record an
   * operator can read), then the database and the live keyring. A replaced key drops the site's
   * connection, which must reconnect with the new key.
   */
  async enrol(request: {
    id: string;
    publicKey: string;
    fingerprint: string;
    replace?: boolean;
  }): Promise<SiteRecord> {
    let entry;
    try {
      entry = enrolSite(this.coordinatorDir, request);
    } catch (err) {
      if (err instanceof InputError) throw new BadRequestException(err.message);
      throw err;
    }
    const before = await this.store.sites.get(request.id);
    await this.store.sites.upsert({
      id: entry.id,
      publicKey: entry.publicKey,
      fingerprint: entry.fingerprint,
      enrolledAt: entry.enrolledAt,
    });
    this.ring.add(entry.id, fromBase64(entry.publicKey, PUBLIC_KEY_BYTES)!);
    if (before && before.publicKey !== entry.publicKey)
      this.connected.disconnect(entry.id, 'site key replaced');
    this.log.info({ site: entry.id, fingerprint: entry.fingerprint }, 'site enrolled');
    return this.get(entry.id);
  }

  /**
   * Revokes at once (keyring; a live connection is closed) and for good (database, and sites.json so `keys show` agrees). An
   * already revoked site keeps its first revocation time and reason.
   */
  async revoke(id: string, reason: string): Promise<SiteRecord> {
    await this.get(id);
    const site = (await this.store.sites.revoke(id, new Date().toISOString(), reason))!;
    this.ring.revoke(id);
    this.connected.disconnect(id, `site revoked: ${reason}`);
    try {
      revokeInRegistry(this.coordinatorDir, id, reason);
    } catch (err) {
      this.log.warn(
        { site: id, err: err instanceof Error ? err.message : String(err) },
        'revoked in the database but sites.json could not be updated; the revocation still holds',
      );
    }
    return site;
  }
}
