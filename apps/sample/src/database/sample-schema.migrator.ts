import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { runMigrationsExclusively } from '@app/job-queue';
import { CreateSampleEffects1764288000001 } from './sample-effects.migration';
import { AddSampleEffectsSlot1764460800001 } from './sample-effects-slot.migration';

/** Creates the sample's own table at start, with the same instance-safe runner the queue uses for its tables. */
@Injectable()
export class SampleSchemaMigrator implements OnModuleInit {
  constructor(private readonly dataSource: DataSource) {}

  async onModuleInit(): Promise<void> {
    await runMigrationsExclusively(this.dataSource, [
      new CreateSampleEffects1764288000001(),
      new AddSampleEffectsSlot1764460800001(),
    ]);
  }
}
