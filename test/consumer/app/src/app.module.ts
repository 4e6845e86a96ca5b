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
    TypeOrmModule.forRoot({ type: 'postgres', url: process.env.DATABASE_URL }),
    JobQueueModule.forRootAsync({
      inject: [DataSource],
      // runMigrations: the queue's tables are created (or upgraded) at start, under an advisory lock.
      useFactory: (dataSource: DataSource) => ({ dataSource, runMigrations: true, concurrency: 20 }),
    }),
    TerminusModule,
    PrometheusModule.register(), // the app exposes /metrics; the library only declares its metrics
  ],
  controllers: [SignupController, HealthController],
  providers: [EmailJobs],
})
export class AppModule {}
