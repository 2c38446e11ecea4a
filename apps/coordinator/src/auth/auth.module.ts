import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AdminAuthService } from './admin-auth.service';
import { AdminTokenGuard } from './admin-token.guard';
import { TokensController } from './tokens.controller';

@Module({
  controllers: [TokensController],
  providers: [AdminAuthService, { provide: APP_GUARD, useClass: AdminTokenGuard }],
  exports: [AdminAuthService],
})
export class AuthModule {}
