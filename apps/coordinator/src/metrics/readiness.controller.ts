import { Controller, Get, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Public } from '../auth/public.decorator';
import { BlobStore } from '../models/blob-store';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { CoordinatorMetrics } from './coordinator-metrics';

export interface ReadinessReport {
  ready: boolean;
  checks: { store: { ok: boolean; kind: string; error?: string }; blobs: { ok: boolean; error?: string } };
}

/**
 * Probes for an orchestrator: /health/live answers while the event loop runs (restart when it
 * does not); /health/ready also writes through the store's connection and into the blob folder,
 * so a coordinator whose database is gone or whose disk is full or read-only is taken out of the
 * load balancer instead of accepting site updates it cannot keep.
 */
@ApiTags('health')
@Controller('health')
export class ReadinessController {
  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    private readonly metrics: CoordinatorMetrics,
  ) {}

  @Get('live')
  @Public()
  @HttpCode(200)
  @ApiOkResponse({ description: 'the process answers' })
  live(): { live: true } {
    return { live: true };
  }

  @Get('ready')
  @Public()
  @ApiOkResponse({ description: 'store and blob folder usable' })
  @ApiServiceUnavailableResponse({ description: 'store or blob folder not usable (which, in checks)' })
  async ready(): Promise<ReadinessReport> {
    const [store, blobs] = await Promise.all([this.checkStore(), this.checkBlobs()]);
    const report: ReadinessReport = { ready: store.ok && blobs.ok, checks: { store, blobs } };
    if (!report.ready) throw new ServiceUnavailableException(report);
    return report;
  }

  private async checkStore(): Promise<ReadinessReport['checks']['store']> {
    try {
      // A write, not only a read: a read-only or full database must not look ready.
      await this.store.settings.set('health.ready', new Date().toISOString());
      return { ok: true, kind: this.store.kind };
    } catch (err) {
      this.metrics.countStoreError('health.ready');
      return { ok: false, kind: this.store.kind, error: (err as Error).message };
    }
  }

  private async checkBlobs(): Promise<ReadinessReport['checks']['blobs']> {
    const probe = join(this.blobs.dir, 'tmp', `ready-${randomBytes(6).toString('hex')}`);
    try {
      await fs.writeFile(probe, 'ok', { mode: 0o600 });
      await fs.rm(probe);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
    }
  }
}
