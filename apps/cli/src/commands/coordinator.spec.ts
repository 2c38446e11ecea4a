import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../main';

/** Bad input to `phcc-fed coordinator` is one line on stderr and exit code 2, before anything listens. */
describe('phcc-fed coordinator (input errors)', () => {
  let dir: string;
  let stderr: jest.SpyInstance;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-cli-coordinator-'));
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.exitCode = 0;
  });
  afterEach(() => {
    stderr.mockRestore();
    process.exitCode = 0;
    rmSync(dir, { recursive: true, force: true });
  });
  const written = () => stderr.mock.calls.map((c) => String(c[0])).join('');

  it('refuses a port out of range', async () => {
    await runCli([
      'node',
      'phcc-fed',
      'coordinator',
      '--db',
      join(dir, 'db'),
      '--kit',
      dir,
      '--port',
      '70000',
    ]);
    expect(process.exitCode).toBe(2);
    expect(written()).toContain('--port must be an integer from 0 to 65535');
  });

  it('refuses a directory without a coordinator kit, naming it', async () => {
    await runCli(['node', 'phcc-fed', 'coordinator', '--db', join(dir, 'db'), '--kit', dir, '--port', '0']);
    expect(process.exitCode).toBe(2);
    expect(written()).toContain(`--kit ${dir}: no coordinator kit here`);
  });

  it('needs --db and --kit', async () => {
    await runCli(['node', 'phcc-fed', 'coordinator', '--port', '0']);
    expect(process.exitCode).toBe(2);
    expect(written()).toMatch(/--db/);
  });
});
