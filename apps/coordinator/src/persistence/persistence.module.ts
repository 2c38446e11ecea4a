import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { coordinatorConfig } from '../config/coordinator-config';
import { COORDINATOR_STORE, CoordinatorStore } from './repositories';
import { openStore } from './open-store';

/** Closes the store last, after the HTTP server and gateway stopped writing to it. */
@Injectable()
class StoreCloser implements OnApplicationShutdown {
  constructor(@Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/**
 * Provides the CoordinatorStore to every module: SQLite for a file, PostgreSQL for a
 * `postgresql://` URL (open-store.ts), migrated before any module uses it.
 */
@Global()
@Module({
  providers: [
    {
      provide: COORDINATOR_STORE,
      inject: [ConfigService],
      useFactory: (config: ConfigService): Promise<CoordinatorStore> =>
        openStore(coordinatorConfig(config).dbFile),
    },
    StoreCloser,
  ],
  exports: [COORDINATOR_STORE],
})
export class PersistenceModule {}
