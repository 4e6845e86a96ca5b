// signup.controller.ts
import { Body, Controller, Get, Post } from '@nestjs/common';
import { JobProducer, type EnqueueResult } from 'nestjs-pg-job-queue';
import { DataSource } from 'typeorm';
import { EmailJobs, type WelcomeEmail } from './email.jobs.js';

@Controller('signups')
export class SignupController {
  constructor(
    private readonly jobs: JobProducer,
    private readonly dataSource: DataSource,
    private readonly emails: EmailJobs,
  ) {}

  @Post()
  async signUp(@Body() body: { email: string }): Promise<EnqueueResult> {
    const payload: WelcomeEmail = { to: body.email };
    // Inside your transaction (your own writes go through `manager` too): the job exists only if it commits.
    return this.dataSource.transaction((manager) =>
      this.jobs.enqueue('email.send', payload, { manager, priority: 10, idempotencyKey: `welcome:${body.email}` }),
    );
  }

  @Get('welcomed')
  welcomed(): string[] {
    return this.emails.sent;
  }
}
