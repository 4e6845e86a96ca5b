import { Inject, Injectable } from '@nestjs/common';
import { metricToken, type QueueMetric } from '../observability/job-queue-metric.providers';
import { METRIC } from '../observability/metric-names';

const InjectMetric = (name: string) => Inject(metricToken(name));

/**
 * Per-schedule counters, labelled by schedule name. Names come from the schedules table: the app's code writes some,
 * and `JobScheduler.upsert` others at run time, from whatever input the app passes it. So that names that come and
 * go do not pile up as series, a schedule's series go when the ticker finds it removed (see `forget`).
 */
@Injectable()
export class ScheduleMetrics {
  constructor(
    @InjectMetric(METRIC.scheduleFired) private readonly fired: QueueMetric,
    @InjectMetric(METRIC.scheduleSkipped) private readonly skipped: QueueMetric,
    @InjectMetric(METRIC.scheduleMissed) private readonly missed: QueueMetric,
  ) {}

  slots(schedule: string, counts: { fired: number; skipped: number; missed: number }): void {
    for (let i = 0; i < counts.fired; i++) this.fired.inc({ schedule });
    for (let i = 0; i < counts.skipped; i++) this.skipped.inc({ schedule });
    for (let i = 0; i < counts.missed; i++) this.missed.inc({ schedule });
  }

  /** Drops a removed schedule's series: its name may never come again. */
  forget(schedule: string): void {
    for (const metric of [this.fired, this.skipped, this.missed]) metric.remove({ schedule });
  }
}
