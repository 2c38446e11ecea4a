import { Module } from '@nestjs/common';
import { RoundsModule } from '../rounds/rounds.module';
import { SitesModule } from '../sites/sites.module';
import { SitesGateway } from './sites.gateway';

@Module({
  imports: [SitesModule, RoundsModule],
  providers: [SitesGateway],
})
export class GatewayModule {}
