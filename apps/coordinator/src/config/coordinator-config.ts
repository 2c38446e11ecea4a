import { ConfigService } from '@nestjs/config';

/**
 * Everything the coordinator is configured with, resolved once at start (by the CLI from flags
 * and environment) and served to services through @nestjs/config, so no service reads
 * `process.env` itself.
 */
export interface CoordinatorConfig {
  /** SQLite file (or ':memory:'), or a `postgresql://` URL (persistence/open-store.ts). */
  dbFile: string;
  /** Provisioning directory: the root `provision --out` wrote, or its `coordinator/` folder. */
  kitDir: string;
  /** Where the blob store (models, updates) lives. */
  dataDir: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Plain admin token from --admin-token / PHCC_ADMIN_TOKEN; only its hash is kept. */
  adminToken?: string;
  version: string;
  /**
   * How long a site that disconnected mid-round keeps its task (never past the round's deadline)
   * before it is dropped; default `DEFAULT_DISCONNECT_GRACE_MS` (libs/federated/src/engine/engine.ts).
   */
  disconnectGraceMs?: number;
  /**
   * Delete per-site update blobs once this many newer rounds of their run and stage are done
   * (models/update-retention.ts); undefined keeps them all.
   */
  keepUpdateRounds?: number;
}

export const COORDINATOR_CONFIG_KEY = 'coordinator';

export function coordinatorConfig(config: ConfigService): CoordinatorConfig {
  return config.getOrThrow<CoordinatorConfig>(COORDINATOR_CONFIG_KEY);
}
