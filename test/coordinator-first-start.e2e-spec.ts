import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENERATED_TOKEN_FILE } from '../apps/cli/src/commands/coordinator';
import { provision } from '../libs/protocol/src';
import { CoordinatorProcess, freePort } from './support/coordinator-process';

/**
 * A coordinator started with no admin token generates one. It must never reach the terminal
 * (terminals are logged, scrolled back and screen-shared): it goes to an owner-only file in the
 * data folder, only its hash to the database, and a restart neither replaces nor re-shows it.
 */
describe('coordinator first start without an admin token', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-first-start-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the generated token to an owner-only file, prints only its path, and keeps it across restarts', async () => {
    const port = await freePort();
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: `http://127.0.0.1:${port}`, siteIds: ['site-a'] });
    const dataDir = join(dir, 'data');
    const spec = {
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir,
      port,
      logFile: join(dir, 'coordinator.log'),
    };
    const tokenFile = join(dataDir, GENERATED_TOKEN_FILE);
    const sites = (token: string) =>
      fetch(`http://127.0.0.1:${port}/sites`, { headers: { authorization: `Bearer ${token}` } }).then(
        (r) => r.status,
      );

    const first = await CoordinatorProcess.start(spec);
    let token: string;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      expect(await sites(token)).toBe(200);
      expect(await sites('x'.repeat(token.length))).toBe(401);
    } finally {
      await first.kill('SIGTERM');
    }
    let output = readFileSync(spec.logFile, 'utf8');
    expect(output).toContain(`admin token generated and written to ${tokenFile}`);
    expect(output).not.toContain(token);
    expect(readFileSync(spec.dbFile).includes(Buffer.from(token))).toBe(false);

    // The operator moved the token to a secret store and deleted the file; a restart admits the
    // same token from its stored hash and generates nothing.
    rmSync(tokenFile);
    const second = await CoordinatorProcess.start(spec);
    try {
      expect(await sites(token)).toBe(200);
    } finally {
      await second.kill('SIGTERM');
    }
    output = readFileSync(spec.logFile, 'utf8');
    expect(output.match(/admin token generated/g)).toHaveLength(1);
    expect(() => statSync(tokenFile)).toThrow(/ENOENT/);
  }, 120_000);
});
