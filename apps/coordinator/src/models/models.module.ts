import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { join } from 'node:path';
import { coordinatorConfig } from '../config/coordinator-config';
import { BlobStore } from './blob-store';
import { ModelsController } from './models.controller';
import { UpdateRetentionService } from './update-retention';

/** Global models and received updates, stored by digest under DATA_DIR/blobs. */
@Module({
  controllers: [ModelsController],
  providers: [
    {
      provide: BlobStore,
      inject: [ConfigService],
      useFactory: (config: ConfigService) =>
        new BlobStore(join(coordinatorConfig(config).dataDir, 'blobs')).init(),
    },
    UpdateRetentionService,
  ],
  exports: [BlobStore],
})
export class ModelsModule {}
