import { JOB_STATES } from '../control/job-control.interface';
import { CSRF_FIELD } from './dashboard-csrf';
import { html, query, trusted, type Html } from './dashboard-html';
import type { DashboardJobPage, DashboardOverview } from './dashboard.reader';
import type { DashboardSchedule } from './dashboard-schedules.interface';

/** The dashboard's pages: server-rendered HTML, a little CSS, forms that POST; no script at all. */

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#223;color:#fff;padding:.6em 1em}header a{color:#fff;margin-right:1.2em;text-decoration:none}
main{padding:1em}table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ddd;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#fff;border:1px solid #ddd;padding:.6em;max-width:100%;overflow:auto;white-space:pre-wrap}
form{display:inline;margin:0}button{cursor:pointer}.notice{background:#e8f4e8;border:1px solid #9c9;padding:.5em}
.error{background:#fbeaea;border:1px solid #d99;padding:.5em}.muted{color:#777}.paused{color:#b60;font-weight:bold}
nav.states a{margin-right:1em}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}`;

export function layout(base: string, title: string, body: Html, notice?: string): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width" />
        <meta name="referrer" content="same-origin" />
        <title>${title} · job queue</title>
        <style>
          ${trusted(CSS)}
        </style>
      </head>
      <body>
        <header>
          <a href="${base}/">Queues</a><a href="${base}/jobs?state=dead">Dead jobs</a>
          <a href="${base}/schedules">Schedules</a>
        </header>
        <main>
          ${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`;
}

function postButton(action: string, token: string, label: string, testId: string): Html {
  return html`<form method="post" action="${action}">
    <input type="hidden" name="${CSRF_FIELD}" value="${token}" /><button type="submit" data-testid="${testId}">
      ${label}
    </button>
  </form>`;
}

export function overviewPage(base: string, token: string, o: DashboardOverview): Html {
  const estimate = (exact: boolean) => (exact ? '' : '≈ ');
  const rows = o.queues.map((q) => {
    const list = (state: string, n: number, exact: boolean) =>
      html`<a href="${base}/jobs${query({ state, queue: q.queue })}">${estimate(exact)}${n}</a>`;
    const act = q.paused ? 'resume' : 'pause';
    return html`<tr data-queue="${q.queue}">
      <td>${q.queue}</td>
      <td data-testid="paused">${q.paused ? html`<span class="paused">paused</span>` : 'running'}</td>
      <td class="n" data-testid="pending">${list('pending', q.pending, o.exact.jobs)}</td>
      <td class="n" data-testid="processing">${list('processing', q.processing, true)}</td>
      <td class="n" data-testid="dead">${list('dead', q.dead, o.exact.dead)}</td>
      <td>${postButton(`${base}/queues/${encodeURIComponent(q.queue)}/${act}`, token, act, `${act}-${q.queue}`)}</td>
    </tr>`;
  });
  const note =
    o.exact.jobs && o.exact.dead
      ? html`<p class="muted">Counts are exact.</p>`
      : html`<p class="muted">
          ≈: estimated from a sample of ${o.samplePages} pages of a large table, scaled to its size (exact below that
          size). Running counts are always exact.
        </p>`;
  return html`<table>
      <thead>
        <tr>
          <th>Queue</th>
          <th>State</th>
          <th>Pending</th>
          <th>Running</th>
          <th>Dead</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${
          rows.length
            ? rows
            : html`<tr>
                <td colspan="6" class="muted">No queues yet.</td>
              </tr>`
        }
      </tbody>
    </table>
    ${note}
    <p>
      Completed and cancelled jobs (kept while retention is on): <a href="${base}/jobs?state=completed">completed</a>,
      <a href="${base}/jobs?state=cancelled">cancelled</a>.
    </p>`;
}

export function jobsPage(
  base: string,
  filter: { state: string; queue?: string; type?: string; after?: string },
  page: DashboardJobPage,
): Html {
  const tabs = JOB_STATES.map(
    (state) =>
      html`<a href="${base}/jobs${query({ state, queue: filter.queue, type: filter.type })}"
        >${state === filter.state ? html`<b>${state}</b>` : state}</a
      >`,
  );
  const rows = page.jobs.map(
    (j) =>
      html`<tr>
        <td><a href="${base}/jobs/${String(j.id)}" data-testid="job-link">${String(j.id)}</a></td>
        <td>${String(j.queue)}</td>
        <td>${String(j.type)}</td>
        <td class="n">${String(j.attempt_count)}/${String(j.max_attempts)}</td>
        <td>${time(j.created_at)}</td>
        <td>${time(j.changed_at)}</td>
        <td>${(j.last_error as string | null) ?? ''}</td>
      </tr>`,
  );
  const next = page.next
    ? html`<p>
        <a data-testid="next-page" href="${base}/jobs${query({ ...filter, after: page.next })}">Next page →</a>
        ${page.jobs.length === 0 ? html`<span class="muted">(no match among the ${page.scanned} jobs read; walk on)</span>` : ''}
      </p>`
    : html`<p class="muted">End of the list.</p>`;
  return html`<nav class="states">${tabs}</nav>
    <form method="get" action="${base}/jobs">
      <input type="hidden" name="state" value="${filter.state}" />
      <label>Queue <input name="queue" value="${filter.queue ?? ''}" /></label>
      <label>Type <input name="type" value="${filter.type ?? ''}" data-testid="type-filter" /></label>
      <button type="submit">Filter</button>
    </form>
    <table>
      <thead>
        <tr>
          <th>Id</th>
          <th>Queue</th>
          <th>Type</th>
          <th>Attempts</th>
          <th>Created</th>
          <th>Changed</th>
          <th>Last error</th>
        </tr>
      </thead>
      <tbody>
        ${
          rows.length
            ? rows
            : html`<tr>
                <td colspan="7" class="muted">None on this page.</td>
              </tr>`
        }
      </tbody>
    </table>
    ${next}`;
}

export function jobPage(base: string, token: string, job: Record<string, unknown> & { stack: string | null }): Html {
  const id = String(job.id);
  const status = String(job.status);
  const action = (verb: string, label: string) => postButton(`${base}/jobs/${id}/${verb}`, token, label, verb);
  const actions = [
    status === 'pending' || status === 'processing' ? action('cancel', 'Cancel') : '',
    status === 'dead' || status === 'cancelled' ? action('retry', 'Retry') : '',
    status === 'dead' ? action('delete', 'Delete') : '',
  ];
  const field = (label: string, value: unknown) =>
    value === null || value === undefined
      ? ''
      : html`<dt>${label}</dt>
          <dd>${formatValue(value)}</dd>`;
  return html`<p>${actions}</p>
    <dl>
      <dt>Status</dt>
      <dd data-testid="status">${status}</dd>
      ${field('Queue', job.queue)}${field('Type', job.type)}${field('Priority', job.priority)}
      <dt>Attempts</dt>
      <dd data-testid="attempts">${String(job.attempt_count)} of ${String(job.max_attempts)}</dd>
      ${field('Created', job.created_at)}${field('Due (run at)', job.run_at)}${field('Started', job.started_at)}
      ${field('Updated', job.updated_at)}${field('Locked by', job.locked_by)}${field('Failed at', job.failed_at)}
      ${field('Finished at', job.finished_at)}${field('Idempotency key', job.idempotency_key)}
      ${field('Concurrency key', job.concurrency_key)}${field('Schedule', job.schedule_name)}
      ${field('Slot', job.scheduled_for)}${job.snooze_count ? field('Snoozed', job.snooze_count) : ''}
    </dl>
    ${
      job.progress !== null && job.progress !== undefined
        ? html`<h2>Progress</h2>
            <pre data-testid="progress">${JSON.stringify(job.progress, null, 2)}</pre>`
        : ''
    }
    <h2>Payload</h2>
    <pre data-testid="payload">${JSON.stringify(job.payload, null, 2)}</pre>
    ${
      job.last_error
        ? html`<h2>Error</h2>
            <pre data-testid="error">${asText(job.last_error)}</pre>`
        : ''
    }
    ${
      job.stack
        ? html`<h2>Stack</h2>
            <pre data-testid="stack">${job.stack}</pre>`
        : ''
    }
    ${
      job.result !== null && job.result !== undefined
        ? html`<h2>Result</h2>
            <pre>${JSON.stringify(job.result, null, 2)}</pre>`
        : ''
    }`;
}

export function schedulesPage(base: string, token: string, schedules: DashboardSchedule[] | null): Html {
  if (schedules === null) {
    return html`<p class="muted">
      No schedules are wired into this dashboard (the app provides <code>DASHBOARD_SCHEDULES</code> to show them here).
    </p>`;
  }
  const rows = schedules.map(
    (s) =>
      html`<tr>
        <td>${s.name}</td>
        <td><code>${s.cron}</code></td>
        <td>${s.timezone ?? ''}</td>
        <td>${s.type}</td>
        <td>${s.paused ? 'paused' : 'active'}</td>
        <td>${time(s.nextRunAt)}</td>
        <td>${time(s.lastRunAt)}</td>
        <td>
          ${postButton(`${base}/schedules/${encodeURIComponent(s.name)}/trigger`, token, 'Run now', `trigger-${s.name}`)}
        </td>
      </tr>`,
  );
  return html`<table>
    <thead>
      <tr>
        <th>Name</th>
        <th>Cron</th>
        <th>Time zone</th>
        <th>Type</th>
        <th>State</th>
        <th>Next run</th>
        <th>Last run</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${
        rows.length
          ? rows
          : html`<tr>
              <td colspan="8" class="muted">No schedules.</td>
            </tr>`
      }
    </tbody>
  </table>`;
}

export function errorBody(message: string): Html {
  return html`<p class="error" role="alert">${message}</p>`;
}

function time(value: unknown): string {
  if (value === null || value === undefined) return '';
  const date = value instanceof Date ? value : new Date(asText(value));
  return Number.isNaN(date.getTime()) ? asText(value) : date.toISOString();
}

function formatValue(value: unknown): string {
  return value instanceof Date ? value.toISOString() : asText(value);
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
