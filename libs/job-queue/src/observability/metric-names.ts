/** Every metric the library exports; the dashboard and alert tests check their queries against this list. */
export const METRIC = {
  enqueued: 'job_queue_jobs_enqueued_total',
  completed: 'job_queue_jobs_completed_total',
  retried: 'job_queue_jobs_retried_total',
  dead: 'job_queue_jobs_dead_total',
  recovered: 'job_queue_jobs_recovered_total',
  leaseLost: 'job_queue_lease_lost_total',
  duration: 'job_queue_job_duration_seconds',
  wait: 'job_queue_job_wait_seconds',
  inFlight: 'job_queue_jobs_in_flight',
  concurrency: 'job_queue_concurrency',
  depth: 'job_queue_queue_depth',
  oldestPendingAge: 'job_queue_oldest_pending_age_seconds',
  claimErrors: 'job_queue_claim_errors_total',
  listenerConnected: 'job_queue_listener_connected',
  poolWaiting: 'job_queue_pool_waiting_clients',
  lastPollAge: 'job_queue_poller_last_tick_age_seconds',
} as const;
