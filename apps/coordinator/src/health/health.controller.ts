import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { coordinatorConfig } from '../config/coordinator-config';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { Public } from '../auth/public.decorator';

export interface HealthReport {
  status: 'ok';
  version: string;
  uptimeSeconds: number;
  db: { ok: boolean; kind: string; migrations: number[] };
}

/** Liveness + readiness for probes: open to everyone, reveals no run or site data. */
@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly config: ConfigService,
  ) {}

  @Get()
  @Public()
  @ApiOkResponse({ description: 'db reachable' })
  @ApiServiceUnavailableResponse({ description: 'db not reachable' })
  async health(): Promise<HealthReport> {
    const dbOk = await this.store.ping();
    if (!dbOk)
      throw new ServiceUnavailableException({ status: 'error', db: { ok: false, kind: this.store.kind } });
    return {
      status: 'ok',
      version: coordinatorConfig(this.config).version,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      db: { ok: true, kind: this.store.kind, migrations: await this.store.migrations() },
    };
  }
}
