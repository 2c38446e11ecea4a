import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, Manager } from 'socket.io-client';
import { packageRoot } from '../libs/common/src';
import { loadSiteKit, provision, revokeSite } from '../libs/protocol/src';
import { encodeWeights } from '../libs/weights/src';
import { CoordinatorOptions, RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { MAX_SOCKET_CONNECTIONS_PER_ADDRESS } from '../apps/coordinator/src/http/io-adapter';
import { testCoordinatorOptions } from './support/coordinator-options';
import { connectSite } from './support/simulated-site';

/**
 * Issue #18, the state rows: corrupt blobs, the first-start token, file modes, the sites
 * registry (broken, readmission, live revocation), plans naming absent models, headers and the
 * socket.io root namespace.
 */
const TOKEN = 'e2e-admin-token-0123456789';
const SITES = ['hospital-a', 'hospital-b'];

describe('coordinator state under hostile or careless input (issue #18)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const kitDir = () => join(dir, 'kits');
  const options = (sub: string, extra: Partial<CoordinatorOptions> = {}) =>
    testCoordinatorOptions(dir, sub, 'adminToken' in extra ? extra.adminToken : TOKEN, extra);
  const call = (path: string, init: RequestInit = {}) =>
    fetch(coordinator.url + path, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string>) },
    });
  const weights = encodeWeights([{ name: 'w', shape: [4], values: Float32Array.from([1, 2, 3, 4]) }]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-hostile-state-'));
    provision({ outDir: kitDir(), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: SITES });
    coordinator = await startCoordinator(options('main'));
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends security headers and no X-Powered-By', async () => {
    const response = await fetch(`${coordinator.url}/health`);
    expect(response.headers.get('x-powered-by')).toBeNull();
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await response.json()) as object).toMatchObject({
      status: 'ok',
      db: { ok: true },
      blobs: { ok: true },
    });
  });

  it('writes database, WAL, blobs and kits owner-only (0600 files, 0700 folders)', async () => {
    const uploaded = await call('/models', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: weights,
    });
    const { digest } = (await uploaded.json()) as { digest: string };
    const db = join(dir, 'main', 'state.sqlite');
    for (const file of [db, `${db}-wal`, join(dir, 'main', 'data', 'blobs', digest.slice(0, 2), digest)])
      expect([file, statSync(file).mode & 0o777]).toEqual([file, 0o600]);
    for (const folder of [
      join(dir, 'main', 'data', 'blobs'),
      join(dir, 'main', 'data', 'blobs', digest.slice(0, 2)),
    ])
      expect([folder, statSync(folder).mode & 0o777]).toEqual([folder, 0o700]);
    for (const file of readdirSync(join(kitDir(), 'coordinator')))
      expect([file, statSync(join(kitDir(), 'coordinator', file)).mode & 0o777]).toEqual([file, 0o600]);
  });

  it('row 7: a blob altered on disk is never served with a 200', async () => {
    const other = encodeWeights([{ name: 'w', shape: [2], values: Float32Array.from([5, 6]) }]);
    const { digest } = (await (
      await call('/models', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: other,
      })
    ).json()) as { digest: string };
    const file = join(dir, 'main', 'data', 'blobs', digest.slice(0, 2), digest);
    const bytes = Buffer.from(other);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(file, bytes);
    const response = await call(`/models/${digest}`);
    expect(response.status).toBe(500);
    expect(((await response.json()) as { message: string }).message).toMatch(/is corrupt on disk/);
  });

  it('refuses a plan whose initialModel is not in the blob store, at create time and at start', async () => {
    const plan = readFileSync(join(packageRoot(), 'configs', 'plans', 'quick.yaml'), 'utf8');
    const create = (initialModel: string) =>
      call('/runs', {
        method: 'POST',
        headers: { 'content-type': 'application/yaml' },
        body: `${plan}\ninitialModel: ${initialModel}\n`,
      });
    const response = await create('ab'.repeat(64));
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(
      /initialModel: no model abababababababab… in the blob store/,
    );
    // Present at create, gone by start: 409 at start, not a run that fails when its round is due.
    const model = encodeWeights([{ name: 'w', shape: [3], values: Float32Array.from([7, 8, 9]) }]);
    const { digest } = (await (
      await call('/models', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: model,
      })
    ).json()) as { digest: string };
    const created = await create(digest);
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    rmSync(join(dir, 'main', 'data', 'blobs', digest.slice(0, 2), digest));
    const start = await call(`/runs/${id}/start`, { method: 'POST' });
    expect(start.status).toBe(409);
    expect(((await start.json()) as { message: string }).message).toMatch(
      new RegExp(`^run ${id} cannot start: initialModel: no model ${digest.slice(0, 16)}… in the blob store`),
    );
  });

  it('row 8: a first start that fails (port in use) stores no token hash; the next start shows a new one', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const shown: string[] = [];
    await expect(
      startCoordinator(
        options('fresh', { adminToken: undefined, port, showGeneratedToken: (t: string) => shown.push(t) }),
      ),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    blocker.close();
    expect(shown).toEqual([]);
    const db = new Database(join(dir, 'fresh', 'state.sqlite'), { readonly: true });
    expect(db.prepare("SELECT * FROM settings WHERE key = 'admin_token_sha256'").all()).toEqual([]);
    db.close();
    const second = await startCoordinator(
      options('fresh', { adminToken: undefined, showGeneratedToken: (t: string) => shown.push(t) }),
    );
    try {
      expect(shown).toHaveLength(1);
      expect(second.adminTokenSource).toBe('generated');
      const ok = await fetch(`${second.url}/runs`, { headers: { authorization: `Bearer ${shown[0]}` } });
      expect(ok.status).toBe(200);
    } finally {
      await second.close();
    }
    const third = await startCoordinator(options('fresh', { adminToken: undefined }));
    expect(third.adminTokenSource).toBe('stored');
    await third.close();
  });

  it('answers a broken sites.json on /sites/reload with one clear line and changes nothing', async () => {
    const registry = join(kitDir(), 'coordinator', 'sites.json');
    const good = readFileSync(registry);
    writeFileSync(registry, '{ "format": "phcc-fed-sites-v1", "sites": [');
    try {
      const response = await call('/sites/reload', { method: 'POST' });
      expect(response.status).toBe(500);
      const { message } = (await response.json()) as { message: string };
      expect(message).toMatch(/^cannot reload the sites registry \(nothing changed\): .*sites\.json/);
      expect(message).not.toContain('\n');
    } finally {
      writeFileSync(registry, good);
    }
    expect((await call('/sites')).status).toBe(200);
  });

  it('row 15: keys revoke on a running coordinator cuts the site off; provision --force readmits it, after a reload and a restart', async () => {
    const siteDir = join(kitDir(), 'sites', 'hospital-b');
    const socket = await connectSite(coordinator.url, loadSiteKit(siteDir), 'hospital-b');
    const closed = new Promise<void>((r) => socket.once('disconnect', () => r()));
    revokeSite(join(kitDir(), 'coordinator'), 'hospital-b', 'lost laptop');
    await closed; // the registry is polled: no reload call, no restart
    await expect(connectSite(coordinator.url, loadSiteKit(siteDir), 'hospital-b')).rejects.toMatchObject({
      message: expect.stringMatching(/REVOKED_SIGNER/),
    });
    provision({
      outDir: kitDir(),
      coordinatorUrl: 'http://127.0.0.1:8080',
      siteIds: ['hospital-b'],
      force: true,
    });
    const reload = await call('/sites/reload', { method: 'POST' });
    expect(reload.status).toBe(200);
    const site = (await (await call('/sites/hospital-b')).json()) as { revoked: boolean };
    expect(site.revoked).toBe(false);
    const readmitted = await connectSite(coordinator.url, loadSiteKit(siteDir), 'hospital-b');
    readmitted.close();
    // …and stays admitted across a restart (the database still remembers the old revocation).
    await coordinator.close();
    coordinator = await startCoordinator(options('main'));
    const afterRestart = await connectSite(coordinator.url, loadSiteKit(siteDir), 'hospital-b');
    afterRestart.close();
  }, 30_000);

  it('row 6: `phcc-fed coordinator` on a 0-byte or damaged database: one line naming the file, exit 2', () => {
    for (const [name, bytes] of [
      ['empty.sqlite', Buffer.alloc(0)],
      ['garbage.sqlite', Buffer.alloc(8192, 0x5a)],
    ] as const) {
      const db = join(dir, name);
      writeFileSync(db, bytes);
      const result = spawnSync(
        process.execPath,
        [
          join(packageRoot(), 'bin', 'phcc-fed.js'),
          'coordinator',
          '--db',
          db,
          '--kit',
          kitDir(),
          '--port',
          '0',
        ],
        { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PHCC_ADMIN_TOKEN: TOKEN } },
      );
      expect(result.status).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(new RegExp(`^phcc-fed: error: database ${db}: `)),
      ]);
    }
  }, 120_000);

  it('caps socket.io connections per address before the engine.io handshake', async () => {
    // Bare engine.io connections (no namespace joined): the 21st from one address is refused.
    const open = (): Promise<Manager | Error> =>
      new Promise((resolve) => {
        const manager = new Manager(coordinator.url, {
          transports: ['websocket'],
          reconnection: false,
          autoConnect: false,
        });
        manager.open((err) => resolve(err ?? manager));
      });
    const managers: Manager[] = [];
    try {
      for (let i = 0; i < MAX_SOCKET_CONNECTIONS_PER_ADDRESS; i++) {
        const m = await open();
        if (m instanceof Error) throw m;
        managers.push(m);
      }
      expect(await open()).toBeInstanceOf(Error);
    } finally {
      for (const m of managers) m.engine?.close();
    }
    // Once they close, the address may connect again.
    await new Promise((r) => setTimeout(r, 200));
    const again = await open();
    expect(again).toBeInstanceOf(Manager);
    (again as Manager).engine.close();
  });

  it('refuses socket.io connections on the root namespace', async () => {
    const socket = io(coordinator.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
    socket.close();
    expect(error.message).toMatch(/no service on "\/"/);
  });
});
