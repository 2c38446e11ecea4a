import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'phcc:public';

/** Opens a route to unauthenticated callers (only /health: load balancers and probes). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
