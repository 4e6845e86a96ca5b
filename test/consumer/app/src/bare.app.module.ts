// bare.app.module.ts: the app.module.ts of an app with neither Terminus nor Prometheus installed (the bare-esm
// variant of the consumer check): the queue starts all the same.
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobQueueModule } from 'nestjs-pg-job-queue';
import { DataSource } from 'typeorm';
import { EmailJobs } from './email.jobs.js';
import { SignupController } from './signup.controller.js';

@Module({
  imports: [
    TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL }),
    JobQueueModule.forRootAsync({
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => ({ dataSource, runMigrations: true }),
    }),
  ],
  controllers: [SignupController],
  providers: [EmailJobs],
})
export class AppModule {}
