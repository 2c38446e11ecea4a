import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { coordinatorConfig } from '../config/coordinator-config';
import { BlobStore } from '../models/blob-store';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { Public } from '../auth/public.decorator';

export interface HealthReport {
  status: 'ok' | 'error';
  version: string;
  uptimeSeconds: number;
  db: { ok: boolean; kind: string; migrations: number[] };
  blobs: { ok: boolean };
}

/**
 * Liveness + readiness for probes: open to everyone, reveals no run or site data. It really reads:
 * the schema table from the database (not a `SELECT 1` that touches no page) and the blob store's
 * folder, so a broken disk or file answers 503 instead of "ok".
 */
@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly blobStore: BlobStore,
    private readonly config: ConfigService,
  ) {}

  @Get()
  @Public()
  @ApiOkResponse({ description: 'database and blob store readable' })
  @ApiServiceUnavailableResponse({ description: 'database or blob store not readable' })
  async health(): Promise<HealthReport> {
    let migrations: number[] = [];
    let dbOk = false;
    try {
      dbOk = (await this.store.ping()) && (migrations = await this.store.migrations()).length > 0;
    } catch {
      dbOk = false;
    }
    const blobsOk = await this.blobStore.writable();
    const report: HealthReport = {
      status: dbOk && blobsOk ? 'ok' : 'error',
      version: coordinatorConfig(this.config).version,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      db: { ok: dbOk, kind: this.store.kind, migrations },
      blobs: { ok: blobsOk },
    };
    if (report.status !== 'ok') throw new ServiceUnavailableException(report);
    return report;
  }
}
