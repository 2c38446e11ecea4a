import { SetMetadata } from '@nestjs/common';

export const AUDIT_ACTION = 'phcc:audit-action';

/**
 * Names the admin action a route performs (`runs.create`); the audit interceptor records every
 * call of such a route with who, when and the outcome. Every state-changing admin route has one.
 */
export const AuditAction = (action: string) => SetMetadata(AUDIT_ACTION, action);
