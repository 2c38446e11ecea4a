import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { cli } from './support/in-process-cli';
import { PostgresServer } from './support/postgres-server';

const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1)!) as T;

/**
 * `phcc-fed demo --quick --db postgresql://…` (issue #14): the whole federation (coordinator
 * in-process, two agent processes) on a throwaway PostgreSQL server instead of SQLite, and the
 * run's ledger is in that database afterwards.
 */
jest.setTimeout(150_000);

describe('phcc-fed demo --quick on PostgreSQL', () => {
  let out: string;
  let postgres: PostgresServer;
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'phcc-demo-pg-e2e-'));
    postgres = await PostgresServer.start();
  }, 120_000);
  afterAll(async () => {
    await postgres?.stop();
    rmSync(out, { recursive: true, force: true });
  });

  it('completes a run whose rounds are in the PostgreSQL database', async () => {
    const db = await postgres.createDatabase('demo');
    const args = ['demo', '--quick', '--sites', '2', '--patients', '24', '--ssl-rounds', '0'];
    args.push('--finetune-rounds', '1', '--db', db, '--out', out, '--timeout', '120', '--json');
    const { stdout, code } = await cli(...args);
    expect(code).toBe(0);
    const report = lastJson<{ state: string; runId: string }>(stdout);
    expect(report.state).toBe('completed');
    const client = new Client({ connectionString: db });
    await client.connect();
    try {
      const rounds = await client.query<{ stage: string; state: string }>(
        'SELECT stage, state FROM rounds WHERE run_id = $1 ORDER BY seq',
        [report.runId],
      );
      expect(rounds.rows.length).toBeGreaterThanOrEqual(2);
      expect(rounds.rows.every((r) => r.state === 'done')).toBe(true);
      expect(rounds.rows.at(-1)!.stage).toBe('evaluate');
    } finally {
      await client.end();
    }
  });
});
