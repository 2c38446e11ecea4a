import Database from 'better-sqlite3';
import { mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PhccError } from '../../../../../libs/common/src';
import { openSqlite } from './open-database';

/** Issue #18 row 6 and the file modes: damage is one line and exit 2 at start, never a 500 later. */
describe('openSqlite refuses what it cannot trust', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-open-db-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = (file: string): PhccError => {
    try {
      openSqlite(file).close();
    } catch (err) {
      return err as PhccError;
    }
    throw new Error('opened');
  };

  it('creates a new database owner-only (0600 file, WAL and SHM included; 0700 folder)', () => {
    const file = join(dir, 'sub', 'state.sqlite');
    const db = openSqlite(file);
    db.exec('CREATE TABLE t (x)');
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    db.close();
  });

  it('refuses a 0-byte file instead of taking it as a new database', () => {
    const file = join(dir, 'empty.sqlite');
    writeFileSync(file, '');
    const err = refusal(file);
    expect(err).toMatchObject({ code: 'DB_EMPTY', exitCode: 2 });
    expect(err.message).toContain(file);
    expect(err.message).not.toContain('\n');
  });

  it('refuses a file that is not SQLite with one line and exit code 2', () => {
    const file = join(dir, 'garbage.sqlite');
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const err = refusal(file);
    expect(err).toMatchObject({ code: 'DB_CORRUPT', exitCode: 2 });
    expect(err.message).toMatch(new RegExp(`^database ${file}: `));
    expect(err.message).not.toContain('\n');
  });

  it('refuses a database damaged inside (quick_check), which used to start and answer 500s', () => {
    const file = join(dir, 'damaged.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT); CREATE INDEX t_text ON t(text)');
    const insert = db.prepare('INSERT INTO t (text) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 3000; i++) insert.run(`row ${i} ${'x'.repeat(40)}`);
    })();
    db.close();
    const pages = statSync(file).size / 4096;
    const fd = openSync(file, 'r+');
    // Scribble over the middle of several b-tree pages (not page 1: that would be "not a database").
    for (let p = 2; p < pages; p += 3) writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, p * 4096 + 512);
    closeSync(fd);
    const err = refusal(file);
    expect(err).toMatchObject({ code: 'DB_CORRUPT', exitCode: 2 });
    expect(err.message).toContain('restore it from a backup');
  });
});
