import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Log } from '../../../../libs/common/src';
import { coordinatorConfig } from '../config/coordinator-config';
import { COORDINATOR_LOG } from '../logging/nest-log-adapter';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { BlobStore } from './blob-store';
import { listModels } from './model-catalog';

export interface RetentionOutcome {
  /** Update rows marked retired (their digest and signature stay in the database). */
  retired: number;
  /** Blobs deleted (fewer than `retired` when equal bytes were stored once). */
  deleted: string[];
}

/**
 * Deletes the blobs of per-site updates once their round is folded and `keepRounds` newer done
 * rounds of the same run and stage exist. Global models (initial and round aggregates) are never
 * deleted, nor a blob another unretired update still names; the rows stay, and the audit log
 * records every digest deleted, so what was aggregated stays provable by digest and signature.
 */
export async function retireUpdateBlobs(
  store: CoordinatorStore,
  blobs: BlobStore,
  keepRounds: number,
  now = new Date(),
): Promise<RetentionOutcome> {
  const candidates = await store.retention.retirable(keepRounds);
  if (!candidates.length) return { retired: 0, deleted: [] };
  await store.retention.markRetired(
    candidates.map((c) => c.id),
    now.toISOString(),
  );
  const models = new Set((await listModels(store)).map((m) => m.digest));
  const deleted: string[] = [];
  for (const digest of new Set(candidates.map((c) => c.digest))) {
    if (models.has(digest) || (await store.retention.digestStillNeeded(digest))) continue;
    if (await blobs.remove(digest)) deleted.push(digest);
  }
  await store.audit.append({
    actor: 'coordinator',
    action: 'updates.retired',
    outcome: 'ok',
    detail: { keepRounds, retired: candidates.length, deletedDigests: deleted },
  });
  return { retired: candidates.length, deleted };
}

/** How often the sweep runs: rounds last minutes, so a minute's delay deletes nothing late. */
const SWEEP_MS = 60_000;

/**
 * Runs `retireUpdateBlobs` every minute when `--keep-update-rounds` is set. It reads only the
 * store (rounds `done`, updates of them), so it needs no hook in the round engine.
 */
@Injectable()
export class UpdateRetentionService implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: ConfigService,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    @Inject(COORDINATOR_LOG) private readonly log: Log,
  ) {}

  onModuleInit(): void {
    const keep = coordinatorConfig(this.config).keepUpdateRounds;
    if (keep === undefined) return;
    this.timer = setInterval(() => this.sweep(keep), SWEEP_MS);
    this.timer.unref();
    this.sweep(keep);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private sweep(keep: number): void {
    this.running = this.running
      .then(() => retireUpdateBlobs(this.store, this.blobs, keep))
      .then((outcome) => {
        if (outcome.retired) this.log.info({ ...outcome, keepRounds: keep }, 'update blobs retired');
      })
      .catch((err: unknown) =>
        this.log.warn({ err: (err as Error).message }, 'update retention failed; retried in a minute'),
      );
  }
}
