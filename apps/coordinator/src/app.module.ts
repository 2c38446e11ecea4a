import { DynamicModule, Module, ValidationPipe } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_PIPE } from '@nestjs/core';
import { Log } from '../../../libs/common/src';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { COORDINATOR_CONFIG_KEY, CoordinatorConfig } from './config/coordinator-config';
import { DashboardModule } from './dashboard/dashboard.module';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { COORDINATOR_LOG } from './logging/nest-log-adapter';
import { MetricsModule } from './metrics/metrics.module';
import { ModelsModule } from './models/models.module';
import { PersistenceModule } from './persistence/persistence.module';
import { RoundsModule } from './rounds/rounds.module';
import { RunsModule } from './runs/runs.module';
import { SitesModule } from './sites/sites.module';

/** Provides the `Log` everywhere without making every feature module import a logging module. */
@Module({})
class LogModule {
  static forRoot(log: Log): DynamicModule {
    return {
      module: LogModule,
      global: true,
      providers: [{ provide: COORDINATOR_LOG, useValue: log }],
      exports: [COORDINATOR_LOG],
    };
  }
}

/** The coordinator: one feature module per concern, wired to one configuration and one log. */
@Module({})
export class AppModule {
  static forRoot(config: CoordinatorConfig, log: Log): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          load: [() => ({ [COORDINATOR_CONFIG_KEY]: config })],
        }),
        LogModule.forRoot(log),
        PersistenceModule,
        AuditModule,
        AuthModule,
        HealthModule,
        ModelsModule,
        SitesModule,
        RunsModule,
        RoundsModule,
        GatewayModule,
        DashboardModule,
        MetricsModule,
      ],
      providers: [
        {
          // Every DTO is the contract: unknown fields are refused, not silently dropped.
          provide: APP_PIPE,
          useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
        },
      ],
    };
  }
}
