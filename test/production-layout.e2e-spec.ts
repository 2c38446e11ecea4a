import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../libs/common/src';
import { SIMD_VARIANTS, SIMD_WASM_DIR, simdWasmFileName } from '../libs/compute/src/wasm/simd/module';
import { freePort, waitFor } from './support/coordinator-process';

/**
 * The install an operator runs (issue #14), built by `deploy/build-production.sh` — the script
 * deploy/docker/Dockerfile runs — into a temp folder outside this checkout: dist/, bin/, configs/
 * and `npm ci --omit=dev`. Then, from that folder alone (its node_modules is the only one Node's
 * resolution can reach), a synthetic cohort, the kits, the coordinator, a site agent that
 * connects, and the admin CLI that sees it connected. A module that only a dev dependency
 * provides fails here.
 */
jest.setTimeout(120_000);

const run = promisify(execFile);
const TOKEN = 'e2e-production-token-0123456789';

describe('production layout (deploy/build-production.sh)', () => {
  let dir: string;
  let install: string;
  const children: ChildProcess[] = [];
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, [join(install, 'bin', 'phcc-fed.js'), ...args], {
      cwd: install,
      env: { ...process.env, ...env },
      timeout: 90_000,
    });
  const spawnCli = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = spawn(process.execPath, [join(install, 'bin', 'phcc-fed.js'), ...args], {
      cwd: install,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const output = { text: '' };
    child.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString('utf8')));
    return { child, output };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-production-e2e-'));
    install = join(dir, 'opt', 'phcc-fed');
    // dist/ was just built from these sources by the e2e global setup: --no-build.
    await run('bash', [join(packageRoot(), 'deploy', 'build-production.sh'), install, '--no-build'], {
      cwd: packageRoot(),
      timeout: 300_000,
    });
  }, 320_000);

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the built package and production dependencies only, read-only to others', () => {
    for (const path of ['bin/phcc-fed.js', 'dist/apps/cli/src/main.js', 'dist/ui/app.js', 'configs/plans']) {
      expect(existsSync(join(install, path))).toBe(true);
    }
    // No sources, tests or dev tools.
    for (const path of ['apps', 'libs', 'test', 'tsconfig.json'])
      expect(existsSync(join(install, path))).toBe(false);
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    // wabt too: the SIMD helpers are assembled at build time and shipped in dist/wasm/.
    for (const tool of [
      'typescript',
      'jest',
      'ts-jest',
      'eslint',
      '@nestjs/cli',
      'prettier',
      'esbuild',
      'wabt',
    ]) {
      expect(pkg.devDependencies[tool]).toBeDefined();
      expect(existsSync(join(install, 'node_modules', tool))).toBe(false);
    }
    expect(statSync(join(install, 'dist')).mode & 0o022).toBe(0);
    expect(statSync(join(install, 'node_modules')).mode & 0o022).toBe(0);
  });

  it('starts the wasm backend on the SIMD helpers built into dist/wasm, without wabt', async () => {
    for (const variant of SIMD_VARIANTS)
      expect(existsSync(join(install, SIMD_WASM_DIR, simdWasmFileName(variant)))).toBe(true);
    // The start-up probe of `bench startup`: one fresh process, its helpers and first SIMD kernel.
    const { stdout } = await run(
      process.execPath,
      [join(install, 'dist/apps/cli/src/bench/startup-probe.js')],
      {
        cwd: install,
        env: { ...process.env, PHCC_BACKEND: 'wasm' },
        timeout: 60_000,
      },
    );
    const probe = JSON.parse(stdout.trim().split('\n').pop()!) as { helpers: string; firstKernelMs: number };
    expect(probe.helpers).toBe('wasm SIMD, FMA (relaxed SIMD)');
    expect(probe.firstKernelMs).toBeGreaterThan(0);
  });

  it('refuses to install over a folder that is not empty', async () => {
    const error = await run(
      'bash',
      [join(packageRoot(), 'deploy', 'build-production.sh'), install, '--no-build'],
      {
        cwd: packageRoot(),
      },
    ).catch((err: { code: number; stderr: string }) => err);
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toMatch(/is not empty/);
  });

  it('runs the coordinator, a site agent and the admin CLI from the install alone', async () => {
    await cli(['synth', '--out', join(dir, 'cohort'), '--sites', '1', '--patients', '12', '--scale', '0.3']);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await cli(['provision', '--out', join(dir, 'kits'), '--coordinator-url', url, '--site', 'site-a']);
    const coordinator = spawnCli(
      [
        'coordinator',
        '--db',
        join(dir, 'var', 'coordinator.sqlite'),
        '--kit',
        join(dir, 'kits'),
        '--port',
        String(port),
      ],
      { PHCC_ADMIN_TOKEN: TOKEN },
    );
    await waitFor(
      'the coordinator to listen',
      () => {
        if (coordinator.child.exitCode !== null)
          throw new Error(`coordinator exited:\n${coordinator.output.text}`);
        return coordinator.output.text.includes('coordinator listening on') || undefined;
      },
      60_000,
      100,
    );
    const agent = spawnCli([
      'agent',
      '--kit',
      join(dir, 'kits', 'sites', 'site-a'),
      '--cohort',
      join(dir, 'cohort', 'site-a'),
      '--tiny',
    ]);
    await waitFor(
      'the agent to connect',
      () => {
        if (agent.child.exitCode !== null) throw new Error(`agent exited:\n${agent.output.text}`);
        return agent.output.text.includes('connected; coordinator key verified') || undefined;
      },
      60_000,
      100,
    );
    const { stdout } = await cli(['admin', 'sites', 'list', '--json'], {
      PHCC_COORDINATOR_URL: url,
      PHCC_ADMIN_TOKEN: TOKEN,
    });
    const sites = JSON.parse(stdout.trim().split('\n').pop()!) as { id: string; connected: boolean }[];
    expect(sites).toEqual([expect.objectContaining({ id: 'site-a', connected: true })]);
  });
});
