import { jobPage } from './dashboard.pages';

describe("the dashboard's job page", () => {
  const job = {
    id: '2b6acdff-084f-41e2-83f2-20e158f6139b',
    status: 'processing',
    queue: 'default',
    type: 'report.build',
    attempt_count: 1,
    max_attempts: 3,
    payload: {},
    stack: null,
  };

  it("shows a running job's progress, escaped, with its concurrency key and slot", () => {
    const out = jobPage('/dashboard', 'token', {
      ...job,
      progress: { step: '<b>2</b> of 3' },
      concurrency_key: 'tenant-a',
      scheduled_for: '2026-11-30T03:00:00.000Z',
    }).text;
    expect(out).toContain('<h2>Progress</h2>');
    expect(out).toContain('&lt;b&gt;2&lt;/b&gt; of 3');
    expect(out).not.toContain('<b>2</b>');
    expect(out).toContain('tenant-a');
    expect(out).toContain('2026-11-30T03:00:00.000Z');
  });

  it('leaves the progress section out when the job reported none', () => {
    expect(jobPage('/dashboard', 'token', { ...job, progress: null }).text).not.toContain('Progress');
  });
});
