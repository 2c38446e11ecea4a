import { Module } from '@nestjs/common';
import { LiveModule } from '../live/live.module';
import { DashboardController } from './dashboard.controller';

/** The web dashboard (/ui) and the live streams it reads (/events/…). */
@Module({
  imports: [LiveModule],
  controllers: [DashboardController],
})
export class DashboardModule {}
