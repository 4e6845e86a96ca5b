// app.module.ts
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { JobQueueModule } from 'nestjs-pg-job-queue';
import { DataSource } from 'typeorm';
import { EmailJobs } from './email.jobs.js';
import { HealthController } from './health.controller.js';
import { SignupController } from './signup.controller.js';

@Module({
  imports: [
    // The queue shares this pool: size it for the app plus the queue (the module says at start when it is short).
    TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL, extra: { max: 30 } }),
    JobQueueModule.forRootAsync({
      inject: [DataSource],
      // runMigrations: creates or upgrades the queue's tables at start (see below for the TypeORM CLI instead).
      useFactory: (dataSource: DataSource) => ({ dataSource, concurrency: 20, runMigrations: true }),
    }),
    TerminusModule, // optional: the health controller below
    PrometheusModule.register(), // optional: the app exposes /metrics; the library only declares its metrics
  ],
  controllers: [SignupController, HealthController],
  providers: [EmailJobs],
})
export class AppModule {}
