import { Controller, Get, NotFoundException, Param, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import { AuditAction } from '../audit/audit-action.decorator';
import { DigestParamDto } from './digest-param.dto';
import { BlobStore } from './blob-store';

/** Stored models by digest, for admins (e.g. to evaluate a global model offline). */
@ApiTags('models')
@ApiBearerAuth()
@Controller('models')
export class ModelsController {
  constructor(private readonly blobs: BlobStore) {}

  @Get(':digest/info')
  @ApiOkResponse({ description: '{ digest, bytes }' })
  @ApiNotFoundResponse()
  async info(@Param() { digest }: DigestParamDto): Promise<{ digest: string; bytes: number }> {
    const bytes = await this.blobs.size(digest);
    if (bytes === undefined) throw new NotFoundException(`no model ${digest.slice(0, 16)}…`);
    return { digest, bytes };
  }

  @Get(':digest')
  @AuditAction('models.download')
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ description: 'the encoded weights, re-hashed on the way out' })
  @ApiNotFoundResponse()
  async download(@Param() { digest }: DigestParamDto): Promise<StreamableFile> {
    const size = await this.blobs.size(digest);
    if (size === undefined) throw new NotFoundException(`no model ${digest.slice(0, 16)}…`);
    return new StreamableFile(await this.blobs.stream(digest), {
      type: 'application/octet-stream',
      length: size,
      disposition: `attachment; filename="${digest.slice(0, 16)}.phccw"`,
    });
  }
}
