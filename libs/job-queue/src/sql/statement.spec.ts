import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_IDENTIFIER_LENGTH, MAX_SCHEMA_IN_STATEMENT_NAME, queueTables } from './identifier';
import { MAX_STATEMENT_ID_LENGTH, statement } from './statement';

describe('statement names', () => {
  it('refuses an id whose name could pass 63 bytes', () => {
    const longest = 'x'.repeat(MAX_STATEMENT_ID_LENGTH);
    expect(() => statement(`${longest}y`, () => 'SELECT 1')).toThrow(`Statement id "${longest}y" is longer than`);
    // The longest id, with the longest schema kept in names: exactly 63 characters.
    const kept = queueTables('s'.repeat(MAX_SCHEMA_IN_STATEMENT_NAME));
    expect(statement(longest, () => 'SELECT 1')(kept).name).toHaveLength(MAX_IDENTIFIER_LENGTH);
    // A longer schema is replaced by its digest.
    const digested = queueTables('s'.repeat(MAX_SCHEMA_IN_STATEMENT_NAME + 1));
    expect(statement(longest, () => 'SELECT 1')(digested).name.length).toBeLessThan(MAX_IDENTIFIER_LENGTH);
  });

  it('every statement of the library has an id that fits (a longer one throws as its module loads)', async () => {
    for (const file of readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))) {
      await expect(import(join(__dirname, file))).resolves.toBeDefined();
    }
  });
});
