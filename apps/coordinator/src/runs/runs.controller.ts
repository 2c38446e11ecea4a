import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  getSchemaPath,
  ApiExtraModels,
} from '@nestjs/swagger';
import { AuditAction } from '../audit/audit-action.decorator';
import { RunPlanDto } from './dto/run-plan.dto';
import { RunIdParamDto, StopRunDto } from './dto/run-params.dto';
import { RunDetail, RunResults, RunsService } from './runs.service';

@ApiTags('runs')
@ApiBearerAuth()
@ApiExtraModels(RunPlanDto)
@Controller('runs')
export class RunsController {
  constructor(private readonly runs: RunsService) {}

  /**
   * The body is typed `unknown` on purpose: it may be YAML text, so the global ValidationPipe
   * cannot see a DTO here; RunsService applies the same whitelist rules to the parsed plan.
   */
  @Post()
  @AuditAction('runs.create')
  @ApiConsumes('application/json', 'application/yaml', 'text/plain')
  @ApiBody({
    description: 'a run plan (see configs/plans/*.yaml) as JSON, as YAML text, or as { "plan": "<YAML text>" }',
    schema: {
      oneOf: [
        { $ref: getSchemaPath(RunPlanDto) },
        { type: 'object', properties: { plan: { type: 'string' } }, required: ['plan'] },
        { type: 'string' },
      ],
    },
  })
  @ApiCreatedResponse({ description: 'the run, state "created"' })
  @ApiBadRequestResponse({ description: 'message: one "field.path: problem" per problem' })
  create(@Body() body: unknown): Promise<RunDetail> {
    return this.runs.create(body);
  }

  @Get()
  @ApiOkResponse({ description: 'all runs, oldest first (without their plans)' })
  list() {
    return this.runs.list();
  }

  @Get(':id')
  @ApiOkResponse({ description: 'the run with its plan and rounds' })
  @ApiNotFoundResponse()
  get(@Param() { id }: RunIdParamDto): Promise<RunDetail> {
    return this.runs.get(id);
  }

  @Post(':id/start')
  @HttpCode(200)
  @AuditAction('runs.start')
  @ApiOkResponse({ description: 'the run, state "running"' })
  @ApiConflictResponse({ description: 'not in state created, or too few sites for the quorum' })
  start(@Param() { id }: RunIdParamDto): Promise<RunDetail> {
    return this.runs.start(id);
  }

  @Post(':id/stop')
  @HttpCode(200)
  @AuditAction('runs.stop')
  @ApiOkResponse({ description: 'the run, state "stopped"' })
  @ApiConflictResponse({ description: 'already completed, failed or stopped' })
  stop(@Param() { id }: RunIdParamDto, @Body() body: StopRunDto): Promise<RunDetail> {
    return this.runs.stop(id, body.reason ?? 'stopped by an admin');
  }

  @Get(':id/results')
  @ApiOkResponse({
    description:
      'metrics and evaluation rows recorded so far (aggregates only), and `evaluation`: every-k and final evaluations of the global model (per-site AUC/CI, pooled AUC) and the cross-site matrix `matrix[modelSite][evalSite] = {auc, ci95, n, nPositive}`',
  })
  results(@Param() { id }: RunIdParamDto): Promise<RunResults> {
    return this.runs.results(id);
  }
}
