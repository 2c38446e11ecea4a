import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../libs/common/src';
import { provision } from '../libs/protocol/src';
import { freePort, waitFor } from './support/coordinator-process';

/**
 * The coordinator needs no compute engine: its code and every library it imports never load
 * TensorFlow.js (README, docs/ARCHITECTURE.md). The lint rule in eslint.config.mjs checks each
 * file's own import lines; this checks what Node really loads, transitively, from the built code
 * (dist/, which the e2e setup builds), in fresh processes whose module cache is then read: the
 * coordinator's modules, the `phcc-fed` command tree (whose train, evaluate, predict, compare and
 * bench commands import their TensorFlow.js code only when they run), and a real
 * `phcc-fed coordinator` process from start to shutdown.
 */
jest.setTimeout(60_000);

const run = promisify(execFile);
const dist = join(packageRoot(), 'dist');

/** Runs `script` in a fresh Node process and parses the JSON it prints. */
async function inFreshProcess<T>(script: string): Promise<T> {
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: packageRoot(), timeout: 50_000 });
  return JSON.parse(stdout) as T;
}

/** Lines of a `node -e` script: `tf` = the @tensorflow modules in the module cache, `count(part)` = modules whose path has `part`. */
const CACHE_HELPERS = [
  "const tf = () => Object.keys(require.cache).filter((k) => k.includes('@tensorflow'));",
  'const count = (part) => Object.keys(require.cache).filter((k) => k.includes(part)).length;',
];

describe('the coordinator loads no TensorFlow.js', () => {
  it('requiring the built coordinator (create-app, app.module) loads no @tensorflow module', async () => {
    const coordinatorDir = join(dist, 'apps', 'coordinator', 'src');
    const { tf, coordinator } = await inFreshProcess<{ tf: string[]; coordinator: number }>(
      [
        ...CACHE_HELPERS,
        `require(${JSON.stringify(join(coordinatorDir, 'create-app.js'))});`,
        `require(${JSON.stringify(join(coordinatorDir, 'app.module.js'))});`,
        "process.stdout.write(JSON.stringify({ tf: tf(), coordinator: count('/apps/coordinator/') }));",
      ].join('\n'),
    );
    // The coordinator's modules really were loaded (a wrong path would make this pass vacuously).
    expect(coordinator).toBeGreaterThan(20);
    expect(tf).toEqual([]);
  });

  it("building the phcc-fed command tree (every command's options and help) loads no @tensorflow module", async () => {
    const cli = join(dist, 'apps', 'cli', 'src');
    const { tf, names, tfWithTraining } = await inFreshProcess<{
      tf: string[];
      names: string[];
      tfWithTraining: number;
    }>(
      [
        ...CACHE_HELPERS,
        `const program = require(${JSON.stringify(join(cli, 'program.js'))}).buildProgram();`,
        // Every help text too: bench lists its suites, train prints the training defaults.
        'for (const c of program.commands) c.helpInformation();',
        'const before = tf();',
        // The control: the training code does load it, so the check can tell.
        `require(${JSON.stringify(join(cli, 'commands', 'train-action.js'))});`,
        'process.stdout.write(JSON.stringify({ tf: before, names: program.commands.map((c) => c.name()),',
        '  tfWithTraining: tf().length }));',
      ].join('\n'),
    );
    expect(names).toEqual(
      expect.arrayContaining(['coordinator', 'train', 'evaluate', 'predict', 'compare', 'bench']),
    );
    expect(tf).toEqual([]);
    expect(tfWithTraining).toBeGreaterThan(0);
  });

  it('a `phcc-fed coordinator` process, from start to SIGTERM, loads no @tensorflow module', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-no-tfjs-'));
    let child: ChildProcess | undefined;
    try {
      const port = await freePort();
      provision({
        outDir: join(dir, 'kits'),
        coordinatorUrl: `http://127.0.0.1:${port}`,
        siteIds: ['site-a'],
      });
      // Preloaded into the process: on exit, writes the module cache's paths to a file.
      const modulesFile = join(dir, 'modules.json');
      const probe = join(dir, 'probe.js');
      writeFileSync(
        probe,
        `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(modulesFile)}, ` +
          'JSON.stringify(Object.keys(require.cache))));\n',
      );
      const args = ['--require', probe, join(packageRoot(), 'bin', 'phcc-fed.js'), 'coordinator'];
      args.push('--db', join(dir, 'state.sqlite'), '--kit', join(dir, 'kits'), '--port', String(port));
      const proc = spawn(process.execPath, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PHCC_ADMIN_TOKEN: 'no-tfjs-test-admin-token' },
      });
      child = proc;
      let output = '';
      proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
      const listening = await waitFor(
        'the coordinator to listen',
        () =>
          /^coordinator listening on /m.test(output) ? true : proc.exitCode !== null ? false : undefined,
        50_000,
        50,
      );
      if (!listening) throw new Error(`the coordinator exited before listening:\n${output}`);
      // It answers over HTTP: started for real, not stopped half-way.
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      const loaded = JSON.parse(readFileSync(modulesFile, 'utf8')) as string[];
      expect(loaded.filter((k) => k.includes('/apps/coordinator/')).length).toBeGreaterThan(20);
      expect(loaded.filter((k) => k.includes('@tensorflow'))).toEqual([]);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
