import { SetMetadata } from '@nestjs/common';

export const ADMIN_ONLY = 'phcc:admin-only';

/**
 * Closes a read route to observers (e.g. the token list, model downloads). Without it a GET is open
 * to every role and every other method needs an admin token.
 */
export const AdminOnly = () => SetMetadata(ADMIN_ONLY, true);
