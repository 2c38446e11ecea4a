import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../libs/common/src';
import { freePort, waitFor } from './support/coordinator-process';

/**
 * `phcc-fed demo --quick --serve --port P` as a user runs it, a real process (dist/, which the e2e
 * setup builds): at its smallest (2 sites, no SSL round, 1 fine-tune round) it runs the demo, then
 * prints the dashboard's address and the admin token to sign in with, and keeps the coordinator up
 * — the dashboard and the API answer there, the token opens the run — until Ctrl-C (SIGINT), on
 * which it stops the coordinator and exits 0.
 */
jest.setTimeout(120_000);

describe('phcc-fed demo --quick --serve', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-demo-serve-'));
  });
  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the dashboard and the API on --port after the run, signs in with the printed token, stops on SIGINT', async () => {
    const port = await freePort();
    const args = [join(packageRoot(), 'bin', 'phcc-fed.js'), '--log-level', 'silent', '--backend', 'wasm'];
    args.push('demo', '--quick', '--sites', '2', '--patients', '24', '--ssl-rounds', '0');
    args.push('--finetune-rounds', '1', '--seed', '3', '--out', dir, '--timeout', '100');
    args.push('--serve', '--port', String(port));
    const env = { ...process.env };
    delete env.PHCC_ADMIN_TOKEN; // the demo makes its own token and must print it
    const proc = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env });
    child = proc;
    let output = '';
    proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

    const serving = await waitFor(
      'the demo to print where its dashboard is',
      () =>
        /the coordinator stays up until Ctrl-C/.test(output)
          ? true
          : proc.exitCode !== null
            ? false
            : undefined,
      100_000,
      100,
    );
    if (!serving) throw new Error(`the demo exited before serving:\n${output}`);
    const address = /^dashboard: (http:\/\/\S+\/ui) {2}\(run (\S+): /m.exec(output);
    const token = /sign in with this demo's admin token: (\S+)/.exec(output);
    expect(address).not.toBeNull();
    expect(token).not.toBeNull();
    const [, dashboard, runId] = address!;
    const base = dashboard.replace(/\/ui$/, '');
    expect(new URL(base).port).toBe(String(port));

    const ui = await fetch(dashboard);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    expect(await ui.text()).toMatch(/<script[^>]+src=/);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    // The printed token is the way in: the run is there, completed; without it, no entry.
    const auth = { authorization: `Bearer ${token![1]}` };
    const run = await fetch(`${base}/runs/${encodeURIComponent(runId)}`, { headers: auth });
    expect(run.status).toBe(200);
    expect(((await run.json()) as { state: string }).state).toBe('completed');
    expect((await fetch(`${base}/runs/${encodeURIComponent(runId)}`)).status).toBe(401);

    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    // Stopped for real: nothing listens on the port any more.
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });
});
