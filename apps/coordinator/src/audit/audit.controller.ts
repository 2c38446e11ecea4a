import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AuditRecord } from '../persistence/records';
import { AuditQueryDto } from './audit-query.dto';
import { AuditService } from './audit.service';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOkResponse({
    description:
      '{ entries (newest first), nextBefore (pass as ?before= for the next page, absent at the end) }',
  })
  async list(@Query() query: AuditQueryDto): Promise<{ entries: AuditRecord[]; nextBefore?: number }> {
    const limit = query.limit ?? 50;
    const entries = await this.audit.query({ ...query, limit });
    const last = entries[entries.length - 1];
    return { entries, ...(entries.length === limit && last ? { nextBefore: last.id } : {}) };
  }
}
