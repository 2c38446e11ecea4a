import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { SitesModule } from '../sites/sites.module';
import { MetricsModule } from '../metrics/metrics.module';
import { RoundsService } from './rounds.service';

/** Round orchestration: drives running runs; the gateway hands it each site connection. */
@Module({
  imports: [SitesModule, ModelsModule, MetricsModule],
  providers: [RoundsService],
  exports: [RoundsService],
})
export class RoundsModule {}
