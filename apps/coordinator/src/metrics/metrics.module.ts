import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { SitesModule } from '../sites/sites.module';
import { CoordinatorMetrics } from './coordinator-metrics';
import { MetricsController } from './metrics.controller';
import { ReadinessController } from './readiness.controller';

/** /metrics for Prometheus, /health/live and /health/ready for orchestrators. */
@Module({
  imports: [SitesModule, ModelsModule],
  controllers: [MetricsController, ReadinessController],
  providers: [CoordinatorMetrics],
  exports: [CoordinatorMetrics],
})
export class MetricsModule {}
