import { Body, Controller, Get, HttpCode, InternalServerErrorException, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiInternalServerErrorResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { AuditAction } from '../audit/audit-action.decorator';
import { SiteRecord } from '../persistence/records';
import { EnrolSiteDto, RevokeSiteDto, SiteIdParamDto, SiteView } from './dto';
import { SitesService } from './sites.service';
import { ConnectedSites } from './connected-sites';
import { siteView } from './site-view';

@ApiTags('sites')
@ApiBearerAuth()
@Controller('sites')
export class SitesController {
  constructor(
    private readonly sites: SitesService,
    private readonly connected: ConnectedSites,
  ) {}

  private view(site: SiteRecord): SiteView {
    return siteView(site, this.connected.get(site.id), this.connected.lastSeen(site.id));
  }

  @Get()
  @ApiOkResponse({ type: [SiteView] })
  async list(): Promise<SiteView[]> {
    return (await this.sites.list()).map((site) => this.view(site));
  }

  @Post()
  @HttpCode(200)
  @AuditAction('sites.enrol')
  @ApiOkResponse({
    type: SiteView,
    description:
      'enrolled (or its key replaced): it can connect from now on; 400 when the fingerprint does not match',
  })
  async enrol(@Body() body: EnrolSiteDto): Promise<SiteView> {
    return this.view(await this.sites.enrol(body));
  }

  @Post('reload')
  @HttpCode(200)
  @AuditAction('sites.reload')
  @ApiOkResponse({
    type: [SiteView],
    description: 'sites.json re-read: sites provisioned since start are enrolled',
  })
  @ApiInternalServerErrorResponse({ description: 'sites.json could not be read; nothing changed' })
  async reload(): Promise<SiteView[]> {
    try {
      return (await this.sites.reload()).map((site) => this.view(site));
    } catch (err) {
      // The registry is the operator's file, not the caller's input: a 500 that says what is wrong.
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      throw new InternalServerErrorException(`cannot reload the sites registry (nothing changed): ${reason}`);
    }
  }

  @Get(':id')
  @ApiOkResponse({ type: SiteView })
  @ApiNotFoundResponse()
  async get(@Param() { id }: SiteIdParamDto): Promise<SiteView> {
    return this.view(await this.sites.get(id));
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @AuditAction('sites.revoke')
  @ApiOkResponse({
    type: SiteView,
    description: 'revoked now: its handshakes and envelopes are refused from here on',
  })
  @ApiNotFoundResponse()
  async revoke(@Param() { id }: SiteIdParamDto, @Body() body: RevokeSiteDto): Promise<SiteView> {
    return this.view(await this.sites.revoke(id, body.reason));
  }
}
