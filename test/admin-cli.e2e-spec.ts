import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, silentLog } from '../libs/common/src';
import { loadSiteKit, provision, readPublicKeyFile, fingerprint, readRegistry } from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { BlobStore } from '../apps/coordinator/src/models/blob-store';
import { encodeWeights } from '../libs/weights/src';
import { connectSite } from './support/simulated-site';

/**
 * `phcc-fed keys init` at a "hospital" and `phcc-fed admin …` at the operator's desk, as real
 * processes (dist/) against a coordinator on 127.0.0.1: the site's key is born in its own folder,
 * enrolled only when the fingerprint read back matches, and then connects; runs are created,
 * watched to their end and listed; the token travels only in the environment or a file.
 */
jest.setTimeout(120_000);

const TOKEN = 'admin-cli-e2e-token-0123456789';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const child = spawn(
    process.execPath,
    [join(packageRoot(), 'bin', 'phcc-fed.js'), '--log-level', 'warn', ...args],
    {
      env: { ...process.env, PHCC_ADMIN_TOKEN: undefined, PHCC_COORDINATOR_URL: undefined, ...env },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('phcc-fed keys init + admin (real processes)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  let admin: (args: string[]) => Promise<CliResult>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-admin-cli-'));
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:1', siteIds: ['hospital-a'] });
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: TOKEN,
      log: silentLog,
    });
    admin = (args) =>
      cli(['admin', ...args], { PHCC_ADMIN_TOKEN: TOKEN, PHCC_COORDINATOR_URL: coordinator.url });
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a key at the hospital, enrols it only with the right fingerprint, and the site connects', async () => {
    const coordinatorPub = join(dir, 'kits', 'coordinator', 'coordinator.pub');
    const coordinatorFp = fingerprint(readPublicKeyFile(coordinatorPub).publicKey);
    const kitDir = join(dir, 'hospital-b', 'kit');
    const base = [
      'keys',
      'init',
      '--site',
      'hospital-b',
      '--out',
      kitDir,
      '--coordinator-url',
      coordinator.url,
    ];
    base.push('--coordinator-key', coordinatorPub);

    const wrongCoordinator = await cli([
      ...base,
      '--coordinator-fingerprint',
      '0000:1111:2222:3333:4444:5555:6666:7777',
    ]);
    expect(wrongCoordinator.code).toBe(2);
    expect(wrongCoordinator.stderr).toMatch(/fingerprint 0000:1111.* does not match/);

    const init = await cli([...base, '--coordinator-fingerprint', coordinatorFp, '--json']);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    const made = JSON.parse(init.stdout.trim().split('\n').pop()!) as {
      publicKey: string;
      fingerprint: string;
    };
    const secret = readFileSync(join(kitDir, 'site.key'), 'utf8');
    expect(statSync(join(kitDir, 'site.key')).mode & 0o777).toBe(0o600);
    // The secret seed is never printed.
    expect(init.stdout).not.toContain((JSON.parse(secret) as { seed: string }).seed);
    expect(init.stdout).toContain(`fingerprint: ${made.fingerprint}`);

    const enrol = ['sites', 'enrol', '--id', 'hospital-b', '--public-key', made.publicKey];
    const misread = await admin([...enrol, '--fingerprint', 'ffff:1111:2222:3333:4444:5555:6666:7777']);
    expect(misread.code).toBe(1);
    expect(misread.stderr).toMatch(/HTTP 400: site hospital-b: the fingerprint ffff:1111.* does not match/);
    expect((await admin([...enrol, '--fingerprint', made.fingerprint])).stdout).toMatch(
      /site hospital-b enrolled/,
    );
    expect(readRegistry(join(dir, 'kits', 'coordinator')).sites.map((s) => s.id)).toEqual([
      'hospital-a',
      'hospital-b',
    ]);

    const socket = await connectSite(coordinator.url, loadSiteKit(kitDir), 'hospital-b');
    const list = await admin(['sites', 'list', '--json']);
    const sites = JSON.parse(list.stdout) as { id: string; connected: boolean; fingerprint: string }[];
    expect(sites.find((s) => s.id === 'hospital-b')).toMatchObject({
      connected: true,
      fingerprint: made.fingerprint,
    });
    socket.close();

    const revoked = await admin(['sites', 'revoke', 'hospital-b', '--reason', 'test over']);
    expect(revoked.stdout).toMatch(/site hospital-b revoked at .* \(test over\)/);
    await expect(connectSite(coordinator.url, loadSiteKit(kitDir), 'hospital-b')).rejects.toBeDefined();
  });

  it('creates, shows, stops and watches a run to its end, lists runs, models and the audit log', async () => {
    const weights = [{ name: 'head/w', shape: [2], values: Float32Array.from([0.1, 0.2]) }];
    const { digest: initial } = await coordinator.app.get(BlobStore).put(encodeWeights(weights, 'float32'));
    const plan = readFileSync(join(packageRoot(), 'configs', 'plans', 'quick.yaml'), 'utf8')
      .replace(/minSites:\s*\d+/, 'minSites: 1')
      .concat(`initialModel: ${initial}\n`);
    writeFileSync(join(dir, 'plan.yaml'), plan);
    const created = await admin(['runs', 'create', '--plan', join(dir, 'plan.yaml'), '--json']);
    expect(created.stderr).toBe('');
    const runId = (JSON.parse(created.stdout) as { id: string }).id;

    const watch = admin(['runs', 'watch', runId, '--interval', '0.2']);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await admin(['runs', 'stop', runId, '--reason', 'operator test'])).stdout).toBe(
      `run ${runId} stopped\n`,
    );
    const watched = await watch;
    // Ends on its own when the run ends; a run that did not complete exits 1 with the reason.
    expect(watched.code).toBe(1);
    expect(watched.stdout).toMatch(
      new RegExp(`run ${runId} created\\n.*run ${runId} stopped \\(operator test\\)\\n$`),
    );
    expect(watched.stderr).toMatch(/ended stopped: operator test/);

    const runs = JSON.parse((await admin(['runs', 'list', '--json'])).stdout) as {
      id: string;
      state: string;
    }[];
    expect(runs).toEqual([expect.objectContaining({ id: runId, state: 'stopped' })]);
    expect((await admin(['runs', 'show', runId])).stdout).toMatch(`run ${runId} stopped (operator test)`);
    const results = JSON.parse((await admin(['runs', 'results', runId, '--json'])).stdout) as {
      state: string;
    };
    expect(results.state).toBe('stopped');
    const models = JSON.parse((await admin(['models', 'list', '--json'])).stdout) as {
      kind: string;
      runId: string;
    }[];
    expect(models).toEqual([expect.objectContaining({ kind: 'initial', runId, digest: initial })]);
    // `admin models export` is `models export` on admin's URL and token (the export itself:
    // models-export.e2e-spec.ts); a stopped run without an aggregate has nothing to export.
    const exported = await admin(['models', 'export', '--run', runId, '--out', join(dir, 'exported')]);
    expect(exported).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(`run ${runId} has no aggregated model yet (state stopped)`),
    });

    const audit = await admin(['audit', 'tail', '-n', '50']);
    expect(audit.stdout).toMatch(/sites\.enrol hospital-b ok/);
    expect(audit.stdout).toMatch(new RegExp(`runs\\.stop ${runId} ok`));
  });

  it('issues, rotates and revokes tokens into 0600 files, never printing them', async () => {
    const as = (token: string, args: string[]) =>
      cli(['admin', ...args], { PHCC_ADMIN_TOKEN: token, PHCC_COORDINATOR_URL: coordinator.url });
    const first = join(dir, 'observer.token');
    const issued = await admin([
      'tokens',
      'issue',
      '--role',
      'observer',
      '--label',
      'tumour board',
      '--out',
      first,
      '--json',
    ]);
    expect(issued).toMatchObject({ code: 0, stderr: '' });
    const record = JSON.parse(issued.stdout) as { id: string; role: string; fingerprint: string };
    expect(record).toMatchObject({ role: 'observer', file: first });
    const observer = readFileSync(first, 'utf8').trim();
    expect(statSync(first).mode & 0o777).toBe(0o600);
    expect(issued.stdout).not.toContain(observer);

    // Read-only: listings yes, token management no.
    expect(await as(observer, ['sites', 'list', '--json'])).toMatchObject({ code: 0 });
    expect(await as(observer, ['tokens', 'list'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/HTTP 403/),
    });
    // An existing file is never overwritten, and then no token is issued at all.
    const count = async () =>
      (JSON.parse((await admin(['tokens', 'list', '--json'])).stdout) as unknown[]).length;
    const before = await count();
    expect(await admin(['tokens', 'issue', '--role', 'admin', '--label', 'x', '--out', first])).toMatchObject(
      {
        code: 2,
        stderr: expect.stringMatching(/already exists/),
      },
    );
    expect(await count()).toBe(before);

    const second = join(dir, 'observer-rotated.token');
    const rotated = await admin(['tokens', 'rotate', record.id, '--out', second]);
    expect(rotated.stdout).toMatch(new RegExp(`token ${record.id} \\(observer, tumour board\\) rotated`));
    const renewed = readFileSync(second, 'utf8').trim();
    expect(renewed).not.toBe(observer);
    expect(await as(observer, ['sites', 'list'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/HTTP 401/),
    });
    expect(await as(renewed, ['sites', 'list'])).toMatchObject({ code: 0 });

    const list = (await admin(['tokens', 'list', '--json'])).stdout;
    expect(list).not.toContain(renewed);
    expect(JSON.parse(list)).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: record.id, role: 'observer' })]),
    );
    expect((await admin(['tokens', 'revoke', record.id])).stdout).toMatch(
      `token ${record.id} (observer, tumour board) revoked`,
    );
    expect(await as(renewed, ['sites', 'list'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/HTTP 401/),
    });
  });

  it('takes the token from a file or the environment, never an argument, and says when it is missing', async () => {
    const noToken = await cli(['admin', '--coordinator', coordinator.url, 'runs', 'list']);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/no admin token: set PHCC_ADMIN_TOKEN or pass --token-file/);
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    const fromFile = await cli([
      'admin',
      '--coordinator',
      coordinator.url,
      '--token-file',
      join(dir, 'token'),
      'runs',
      'list',
      '--json',
    ]);
    expect(fromFile.code).toBe(0);
    expect(await cli(['admin', '--token', TOKEN, 'runs', 'list'])).toMatchObject({ code: 2 });
    const unreachable = await cli(['admin', '--coordinator', 'http://127.0.0.1:1', 'runs', 'list'], {
      PHCC_ADMIN_TOKEN: TOKEN,
    });
    expect(unreachable).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/cannot reach the coordinator at http:\/\/127.0.0.1:1/),
    });
  });
});
