import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { taskColumnNames, taskRowOfValues } from '../../src/store/rows.js';

describe('taskRowOfValues', () => {
  it('puts each value under the name of its column, and nothing else', () => {
    const row = taskRowOfValues(taskColumnNames.map((name) => `value of ${name}`));
    expect(Object.keys(row)).toEqual([...taskColumnNames]);
    for (const name of taskColumnNames) expect(row[name], name).toBe(`value of ${name}`);
  });

  it('makes from a raw row what the driver makes as an object', () => {
    const db = new Database(':memory:');
    const columns = taskColumnNames.map((name, index) => `${index} AS ${name}`).join(', ');
    const object = db.prepare(`SELECT ${columns}`).get() as Record<string, unknown>;
    const raw = db.prepare(`SELECT ${columns}`).raw(true).get() as unknown[];
    expect(taskRowOfValues(raw)).toEqual(object);
    db.close();
  });
});
