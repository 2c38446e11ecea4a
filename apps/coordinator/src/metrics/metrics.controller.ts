import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/public.decorator';
import { CoordinatorMetrics } from './coordinator-metrics';

/**
 * Prometheus scrape target. Open like /health (no run or patient data, only counts and site
 * ids); keep it off the public side of the reverse proxy (deploy/nginx/phcc-fed.conf).
 */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: CoordinatorMetrics) {}

  @Get()
  @Public()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('cache-control', 'no-store')
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format' })
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}
