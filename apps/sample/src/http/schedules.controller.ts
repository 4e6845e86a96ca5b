import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
} from '@nestjs/common';
import { JobScheduler, type ScheduleInfo, type ScheduleInput } from '@app/job-queue';

type ScheduleView = Pick<ScheduleInfo, 'name' | 'cron' | 'timezone' | 'type' | 'paused' | 'nextRunAt' | 'lastRunAt'>;

/**
 * Recurring jobs. `POST` is an upsert (201 either way); `catchUp` is `"skip"`, `"latest"` (default) or a number N
 * (backfill up to N missed slots). Validation is the library's: it names the field and writes nothing.
 */
@Controller('schedules')
export class SchedulesController {
  constructor(private readonly scheduler: JobScheduler) {}

  @Post()
  async upsert(@Body() body: Partial<ScheduleInput> & Record<string, unknown>): Promise<ScheduleView> {
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new BadRequestException('body must be a JSON object');
    const { name, cron, type, payload, timezone, overlap, catchUp } = body;
    return view(
      await this.scheduler.upsert({ name, cron, type, payload, timezone, overlap, catchUp } as ScheduleInput),
    );
  }

  @Get()
  async list(): Promise<ScheduleView[]> {
    return (await this.scheduler.list()).map(view);
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('name') name: string): Promise<void> {
    if (!(await this.scheduler.remove(name))) throw new NotFoundException(`No schedule ${name}`);
  }
}

function view(s: ScheduleInfo): ScheduleView {
  const { name, cron, timezone, type, paused, nextRunAt, lastRunAt } = s;
  return { name, cron, timezone, type, paused, nextRunAt, lastRunAt };
}
