import { Module } from '@nestjs/common';
import { SitesController } from './sites.controller';
import { SitesService } from './sites.service';
import { ConnectedSites } from './connected-sites';

@Module({
  controllers: [SitesController],
  providers: [SitesService, ConnectedSites],
  exports: [SitesService, ConnectedSites],
})
export class SitesModule {}
