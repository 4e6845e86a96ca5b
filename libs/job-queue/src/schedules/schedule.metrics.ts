import { Inject, Injectable } from '@nestjs/common';
import { metricToken, type QueueMetric } from '../observability/job-queue-metric.providers';
import { METRIC } from '../observability/metric-names';

const InjectMetric = (name: string) => Inject(metricToken(name));

/**
 * Per-schedule counters, labelled by schedule name. Names come from the schedules table, which only the app's own
 * code and its operators write (unlike job types from callers): a bounded set of series.
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
}
