import { Controller, UseGuards } from '@nestjs/common';
import { JobQueueDashboardController } from '@app/job-queue';
import { DashboardBasicAuthGuard } from './dashboard-basic-auth.guard';

/** The library's dashboard, mounted at /dashboard behind the sample's guard: the whole wiring an app writes. */
@Controller('dashboard')
@UseGuards(DashboardBasicAuthGuard)
export class SampleDashboardController extends JobQueueDashboardController {}
