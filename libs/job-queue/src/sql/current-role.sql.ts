import { statement } from './statement';

/** The role the queue's connections run as, for messages about privileges. */
export const currentRole = statement('current-role', () => `SELECT current_user AS role`);
