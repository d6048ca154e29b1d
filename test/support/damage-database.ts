/**
 * Damages a SQLite database file on purpose, the way a bad disk or a stray write would, for
 * the tests of what the store and the daemon do about it. The file must not be open for
 * writing by anyone (stop the daemon first) and its WAL must be checkpointed (a clean close does).
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, writeSync } from 'node:fs';

/** Overwrites the first 100 bytes (the database header) with garbage. */
export function damageHeader(path: string): void {
  overwrite(path, 0, Buffer.alloc(100, 0xa5));
}

/**
 * Overwrites the b-tree page header of a leaf page in the middle of `table` (neither its first
 * nor its last leaf), so that a read of the whole table hits it. Returns the page number.
 */
export function damageMiddleLeaf(path: string, table: string): number {
  const db = new Database(path, { readonly: true });
  let pageSize: number;
  let leaves: number[];
  try {
    pageSize = db.pragma('page_size', { simple: true }) as number;
    // dbstat lists a b-tree's pages in the order of their paths: left to right.
    leaves = (db.prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path").all(table) as Array<{ pageno: number }>).map(
      (row) => row.pageno,
    );
  } finally {
    db.close();
  }
  if (leaves.length < 3) throw new Error(`${table} has ${leaves.length} leaf pages; a middle one needs at least 3 (add rows)`);
  const page = leaves[Math.floor(leaves.length / 2)]!;
  // The page header: type, first freeblock, cell count, cell content start. 0xff is no page type.
  overwrite(path, (page - 1) * pageSize, Buffer.alloc(12, 0xff));
  return page;
}

function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}
