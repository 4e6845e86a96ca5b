// signup.controller.ts
import { Body, Controller, Get, Post } from '@nestjs/common';
import { JobProducer } from 'nestjs-pg-job-queue';
import { DataSource } from 'typeorm';
import { EmailJobs, type WelcomeEmail } from './email.jobs.js';

@Controller()
export class SignupController {
  constructor(
    private readonly jobs: JobProducer,
    private readonly dataSource: DataSource,
    private readonly emails: EmailJobs,
  ) {}

  @Post('signups')
  async signUp(@Body() body: WelcomeEmail): Promise<{ jobId: string }> {
    // The job is part of the transaction: it exists (and a worker wakes) only if the transaction commits.
    const { id } = await this.dataSource.transaction((manager) =>
      this.jobs.enqueue('email.send', { to: body.to }, { manager, idempotencyKey: `welcome:${body.to}` }),
    );
    return { jobId: id };
  }

  @Get('sent')
  sent(): string[] {
    return this.emails.sent;
  }
}
