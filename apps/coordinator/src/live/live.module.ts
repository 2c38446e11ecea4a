import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { SitesModule } from '../sites/sites.module';
import { LiveEventsController } from './live-events.controller';
import { LiveEventsService } from './live-events.service';

/** Live run, runs-list and sites streams for the dashboard (server-sent events). */
@Module({
  imports: [ModelsModule, SitesModule],
  controllers: [LiveEventsController],
  providers: [LiveEventsService],
})
export class LiveModule {}
