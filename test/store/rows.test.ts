import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { newTask, parseSubmission, type Submission } from '../../src/core/submission.js';
import { rowToTask, taskColumnNames, taskRowOfValues, taskToRow } from '../../src/store/rows.js';

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

describe('taskToRow', () => {
  const taskOf = (fields: Partial<Submission>) => {
    const now = Date.UTC(2026, 11, 8);
    return newTask(parseSubmission({ id: 'row', type: 'cron', time: '5m', script: 'true', ...fields }, { maxScriptBytes: 1 << 20 }, now, 'UTC'), now);
  };
  const roundTrip = (fields: Partial<Submission>) => {
    const task = taskOf(fields);
    const row = taskToRow(task);
    return { task, row, read: rowToTask({ seq: 1, ...row }) };
  };

  it('leaves the policy and execution columns empty when they hold the defaults, and reads the defaults back', () => {
    const { task, row, read } = roundTrip({});
    expect(row.policy).toBeNull();
    expect(row.execution).toBeNull();
    expect(read).toEqual(task);
  });

  it('writes settings that differ from the defaults as JSON, and reads them back', () => {
    const { task, row, read } = roundTrip({ overlap: 'queue', retries: 2, env: { A: '1' }, queue: 'default', limits: { memory: '64M' } });
    expect(JSON.parse(row.policy!)).toEqual(task.policy);
    expect(JSON.parse(row.execution!)).toEqual(task.execution);
    expect(read).toEqual(task);
  });
});
