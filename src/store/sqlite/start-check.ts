/**
 * The check of the database when the daemon starts. It must stay fast at a million tasks,
 * so it does not read the whole file the way `PRAGMA quick_check` does (seconds at that
 * size: see bench/store-check.ts and docs/durability.md). It reads the header and the schema, and
 * the first and the last entry of every table and index, which reads the root and both
 * edges of each b-tree (a few dozen pages, whatever the size). A damaged header or schema,
 * a truncated file or a damaged root is found before the daemon serves; damage in the
 * middle of a table is found when a request reads it, and then turns the store unhealthy
 * (see sqlite-errors.ts).
 */
import type Database from 'better-sqlite3';

interface SchemaObject {
  type: 'table' | 'index';
  name: string;
  table: string;
  sql: string | null;
}

/** Throws the SQLite error that the first damaged page read raises. */
export function checkDatabaseAtStart(db: Database.Database): void {
  const objects = db
    .prepare("SELECT type, name, tbl_name AS \"table\", sql FROM sqlite_schema WHERE type IN ('table', 'index')")
    .all() as SchemaObject[];
  for (const object of objects) {
    const columns = keyColumns(db, object);
    if (columns.length === 0) continue;
    const from = object.type === 'index' ? `${quote(object.table)} INDEXED BY ${quote(object.name)}` : quote(object.table);
    const where = object.type === 'index' ? partialIndexCondition(object.sql) : '';
    for (const direction of ['ASC', 'DESC']) {
      const order = columns.map((column) => `${column} ${direction}`).join(', ');
      db.prepare(`SELECT ${columns.join(', ')} FROM ${from}${where ? ` WHERE ${where}` : ''} ORDER BY ${order} LIMIT 1`).all();
    }
  }
}

/** The columns a b-tree is ordered by: rowid, a WITHOUT ROWID table's key, an index's columns. */
function keyColumns(db: Database.Database, object: SchemaObject): string[] {
  if (object.type === 'index') {
    const columns = db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').all(object.name) as Array<{ name: string | null }>;
    // An index on an expression has no column name: its edges are left to the table's.
    if (columns.some((column) => column.name === null)) return [];
    return columns.map((column) => quote(column.name!));
  }
  if (!/\bWITHOUT\s+ROWID\b/i.test(object.sql ?? '')) return ['rowid'];
  const key = db.prepare('SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk').all(object.name) as Array<{ name: string }>;
  return key.map((column) => quote(column.name));
}

/** The WHERE of a partial index (an INDEXED BY query must imply it), or ''. */
function partialIndexCondition(sql: string | null): string {
  return /\bWHERE\b([\s\S]*)$/i.exec(sql ?? '')?.[1]?.trim() ?? '';
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
