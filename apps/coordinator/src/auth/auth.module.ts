import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AdminAuthService } from './admin-auth.service';
import { AdminTokenGuard } from './admin-token.guard';
import { TokensController } from './tokens.controller';
import { RefusalLimiter } from '../http/refusal-limiter';

@Module({
  controllers: [TokensController],
  providers: [
    AdminAuthService,
    // One count of refusals per address, shared by the pre-body gate (create-app) and this guard.
    { provide: RefusalLimiter, useFactory: () => new RefusalLimiter() },
    { provide: APP_GUARD, useClass: AdminTokenGuard },
  ],
  exports: [AdminAuthService, RefusalLimiter],
})
export class AuthModule {}
