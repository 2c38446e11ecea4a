import { Controller, Get, NotFoundException, Param, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import { Public } from '../auth/public.decorator';
import { DashboardAsset, dashboardDir, loadDashboardAssets } from './dashboard-assets';

/**
 * Same-origin, self-contained: scripts, styles and fonts all come from this coordinator, and the
 * page may talk to nothing else. Styles allow inline `style` because the chart library sizes its
 * canvases that way.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * The consortium dashboard at /ui. The files are public (they hold no data and no secret); every
 * number they show comes from the authenticated API, with the token the user signs in with.
 */
@ApiExcludeController()
@Public()
@Controller('ui')
export class DashboardController {
  private readonly assets = loadDashboardAssets();

  @Get()
  index(@Res() response: ServerResponse): void {
    this.send(response, 'index.html');
  }

  @Get(':file')
  file(@Param('file') file: string, @Res() response: ServerResponse): void {
    this.send(response, file);
  }

  private send(response: ServerResponse, name: string): void {
    if (!this.assets.size) {
      throw new ServiceUnavailableException(
        `the dashboard is not built (${dashboardDir()} is missing); run "npm run build"`,
      );
    }
    const asset: DashboardAsset | undefined = this.assets.get(name);
    if (!asset) throw new NotFoundException(`no dashboard file "${name}"`);
    response.writeHead(200, {
      'content-type': asset.contentType,
      'content-length': asset.body.length,
      'cache-control': 'no-cache',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    response.end(asset.body);
  }
}
