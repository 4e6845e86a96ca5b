/** Injection token of the resolved options (internal; the public token is MODULE_OPTIONS_TOKEN). */
export const JOB_QUEUE_OPTIONS = Symbol('job-queue:options');
/** Metadata key of `@JobHandler`. */
export const JOB_HANDLER_METADATA = 'job-queue:handler';
/** Job types (and queue names) are plain names: safe in logs, metric labels and URLs. */
export const JOB_TYPE_PATTERN = /^[A-Za-z0-9_.:-]{1,255}$/;
/** PostgreSQL integer range, for priority and attempts. */
export const INT32_MAX = 2_147_483_647;
export const INT32_MIN = -2_147_483_648;
/** Metadata key of `@OnJobEvent`. */
export const JOB_EVENT_METADATA = 'job-queue:event';
