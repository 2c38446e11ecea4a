import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as logger from '../../../../libs/common/src/logger';
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

  it('warns that --admin-token on a command line shows in ps; --admin-token-file does not, and not both', async () => {
    // The kit is missing, so each start stops right after the token is read: one exit-2 line.
    const args = ['node', 'phcc-fed', 'coordinator', '--db', join(dir, 'db'), '--kit', dir, '--port', '0'];
    // pino re-binds its level methods whenever the CLI sets the level, so the logger is replaced.
    const warn = jest.fn();
    const getLogger = jest
      .spyOn(logger, 'getLogger')
      .mockReturnValue({ ...logger.silentLog, warn } as unknown as ReturnType<typeof logger.getLogger>);
    try {
      await runCli([...args, '--admin-token', 'a-token-of-24-characters']);
      expect(process.exitCode).toBe(2);
      expect(warn).toHaveBeenCalledWith(
        expect.stringMatching(/^--admin-token on the command line is visible .*\(ps/),
      );
      warn.mockClear();
      process.exitCode = 0;
      const file = join(dir, 'token');
      writeFileSync(file, 'a-token-of-24-characters\n', { mode: 0o600 });
      await runCli([...args, '--admin-token-file', file]);
      expect(process.exitCode).toBe(2);
      expect(written()).toContain('no coordinator kit here');
      expect(warn).not.toHaveBeenCalled();
      process.exitCode = 0;
      await runCli([...args, '--admin-token-file', file, '--admin-token', 'a-token-of-24-characters']);
      expect(process.exitCode).toBe(2);
      expect(written()).toContain('give either --admin-token or --admin-token-file, not both');
    } finally {
      getLogger.mockRestore();
    }
  });
});
