import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Inject,
  InternalServerErrorException,
  NotFoundException,
  Param,
  Post,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiInternalServerErrorResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import { decodeWeights } from '../../../../libs/weights/src';
import { AuditAction } from '../audit/audit-action.decorator';
import { AdminOnly } from '../auth/roles.decorator';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { DigestParamDto } from './digest-param.dto';
import { listModels, ModelEntry } from './model-catalog';
import { BlobIntegrityError, BlobStore, PutResult } from './blob-store';

/** Stored models by digest, for admins (e.g. to evaluate a global model offline). */
@ApiTags('models')
@ApiBearerAuth()
@Controller('models')
export class ModelsController {
  constructor(
    private readonly blobs: BlobStore,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
  ) {}

  @Get()
  @ApiOkResponse({
    type: [ModelEntry],
    description: "every run's initial model and round aggregates, oldest first",
  })
  list(): Promise<ModelEntry[]> {
    return listModels(this.store);
  }

  /**
   * The way a run's first global model gets in: the coordinator never creates weights (it does
   * not load tfjs), so an admin uploads codec bytes and names the returned digest as the plan's
   * `initialModel`. Decoded in full before storing, so a run never starts from corrupt bytes.
   */
  @Post()
  @AuditAction('models.upload')
  @ApiConsumes('application/octet-stream')
  @ApiBody({
    description: 'encoded weights (libs/model codec, "PHCW")',
    schema: { type: 'string', format: 'binary' },
  })
  @ApiCreatedResponse({ description: '{ digest, bytes, created } — created is false when already stored' })
  @ApiBadRequestResponse({ description: 'empty body, wrong content type, or bytes that do not decode' })
  async upload(@Body() body: unknown): Promise<PutResult> {
    if (!Buffer.isBuffer(body) || body.length === 0) {
      throw new BadRequestException('send the encoded weights as an application/octet-stream body');
    }
    try {
      decodeWeights(body);
    } catch (err) {
      throw new BadRequestException(`not valid encoded weights: ${(err as Error).message}`);
    }
    return this.blobs.put(body);
  }

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
  @AdminOnly()
  @ApiInternalServerErrorResponse({ description: 'the stored bytes no longer match their digest' })
  async download(@Param() { digest }: DigestParamDto): Promise<StreamableFile> {
    const size = await this.blobs.size(digest);
    if (size === undefined) throw new NotFoundException(`no model ${digest.slice(0, 16)}…`);
    // Hashed in full before the first byte goes out: a 200 always carries the right bytes.
    try {
      await this.blobs.verify(digest);
    } catch (err) {
      if (err instanceof BlobIntegrityError) throw new InternalServerErrorException(err.message);
      throw err;
    }
    return new StreamableFile(await this.blobs.stream(digest), {
      type: 'application/octet-stream',
      length: size,
      disposition: `attachment; filename="${digest.slice(0, 16)}.phccw"`,
    });
  }
}
