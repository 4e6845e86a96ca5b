import { statement } from './statement';

/** Removes this worker's row at shutdown, once it has stopped claiming: its types are no longer served by it. */
export const removeWorker = statement('remove-worker', (t) => `DELETE FROM ${t.workers} WHERE instance_id = $1`);
