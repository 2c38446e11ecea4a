import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, silentLog } from '../libs/common/src';
import { provision, readRegistry } from '../libs/protocol/src';
import { RunningCoordinator, SitesService, startCoordinator } from '../apps/coordinator/src';
import { BlobStore } from '../apps/coordinator/src/models/blob-store';
import { STORE_MIGRATIONS } from '../apps/coordinator/src/persistence';

/**
 * The admin REST API over real HTTP on 127.0.0.1: a coordinator booted exactly as
 * `phcc-fed coordinator` boots it, on an ephemeral port with a temporary database and kit.
 */
const TOKEN = 'e2e-admin-token-0123456789';
const plan = (name: string) => readFileSync(join(packageRoot(), 'configs', 'plans', name), 'utf8');

describe('coordinator admin API (127.0.0.1)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const options = () => ({
    dbFile: join(dir, 'state.sqlite'),
    kitDir: join(dir, 'kits'),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    adminToken: TOKEN,
    log: silentLog,
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const isText = typeof body === 'string';
    const response = await fetch(coordinator.url + path, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': isText ? 'application/yaml' : 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : isText ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-coordinator-e2e-'));
    provision({
      outDir: join(dir, 'kits'),
      coordinatorUrl: 'http://127.0.0.1:8080',
      siteIds: ['hospital-a', 'hospital-b', 'hospital-c'],
    });
    coordinator = await startCoordinator(options());
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers /health without a token', async () => {
    const response = await fetch(`${coordinator.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      db: { ok: true, kind: 'sqlite', migrations: STORE_MIGRATIONS.map((m) => m.version) },
    });
  });

  it('refuses admin routes without the right token, and audits the refusal', async () => {
    expect((await fetch(`${coordinator.url}/runs`)).status).toBe(401);
    expect(
      (await call('GET', '/runs', undefined, { authorization: 'Bearer wrong-token-wrong-token' })).status,
    ).toBe(401);
    const denied = await call('GET', '/audit?action=auth.denied');
    expect(denied.body.entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'auth.denied', outcome: 'denied', target: 'GET /runs' }),
      ]),
    );
  });

  it('serves the OpenAPI document', async () => {
    const doc = (await (await fetch(coordinator.openApiUrl)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/health', '/runs', '/runs/{id}/start', '/sites/{id}/revoke', '/audit']),
    );
  });

  it('lists the sites enrolled by the provisioning kit', async () => {
    expect(coordinator.sites.map((s) => s.id)).toEqual(['hospital-a', 'hospital-b', 'hospital-c']);
    const sites = await call('GET', '/sites');
    expect(sites.status).toBe(200);
    expect(
      (sites.body as unknown as { id: string; revoked: boolean }[]).map((s) => [s.id, s.revoked]),
    ).toEqual([
      ['hospital-a', false],
      ['hospital-b', false],
      ['hospital-c', false],
    ]);
  });

  let yamlRunId = '';
  it('creates a run from YAML and from JSON, and lists and gets them', async () => {
    const fromYaml = await call('POST', '/runs', plan('quick.yaml'));
    expect(fromYaml.status).toBe(201);
    expect(fromYaml.body).toMatchObject({
      name: 'quick demo',
      state: 'created',
      plan: { quorum: { minSites: 2 } },
    });
    yamlRunId = String(fromYaml.body.id);

    const fromJson = await call('POST', '/runs', JSON.parse(JSON.stringify(fromYaml.body.plan)));
    expect(fromJson.status).toBe(201);
    expect(fromJson.body.planDigest).toBe(fromYaml.body.planDigest);
    const wrapped = await call('POST', '/runs', { plan: plan('default.yaml') });
    expect(wrapped.status).toBe(201);

    const list = await call('GET', '/runs');
    expect((list.body as unknown as { id: string }[]).map((r) => r.id)).toEqual(
      expect.arrayContaining([yamlRunId, fromJson.body.id, wrapped.body.id]),
    );
    const got = await call('GET', `/runs/${yamlRunId}`);
    expect(got.body).toMatchObject({ id: yamlRunId, state: 'created', rounds: [] });
    expect((await call('GET', '/runs/r-does-not-exist')).status).toBe(404);
  });

  it('refuses an invalid plan with 400 naming the field, and audits it', async () => {
    const bad = plan('quick.yaml').replace('maskRatio: 0.6', 'maskRatio: 1.5');
    const response = await call('POST', '/runs', bad);
    expect(response.status).toBe(400);
    expect(response.body.message).toEqual(['stages.ssl.maskRatio: maskRatio must not be greater than 0.95']);
    const unknownSite = await call(
      'POST',
      '/runs',
      plan('quick.yaml').replace('sites: all', 'sites: [hospital-z, hospital-a]'),
    );
    expect(unknownSite.status).toBe(400);
    expect(unknownSite.body.message).toEqual(['sites: "hospital-z" is not enrolled']);
    const audit = await call('GET', '/audit?action=runs.create&outcome=rejected');
    expect((audit.body.entries as unknown[]).length).toBeGreaterThanOrEqual(2);
  });

  it('starts and stops a run through its state machine', async () => {
    expect((await call('POST', `/runs/${yamlRunId}/start`)).body).toMatchObject({ state: 'running' });
    const again = await call('POST', `/runs/${yamlRunId}/start`);
    expect(again.status).toBe(409);
    expect(String(again.body.message)).toMatch(/it is running/);
    expect((await call('POST', `/runs/${yamlRunId}/stop`, { reason: 'e2e' })).body).toMatchObject({
      state: 'stopped',
      reason: 'e2e',
    });
    expect((await call('POST', `/runs/${yamlRunId}/stop`, { reason: 'e2e', extra: 1 })).status).toBe(400);
  });

  it('revokes a site: in the database, in sites.json, and in the live keyring', async () => {
    const revoked = await call('POST', '/sites/hospital-c/revoke', { reason: 'key lost' });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: 'hospital-c', revoked: true, revokedReason: 'key lost' });
    expect(
      readRegistry(join(dir, 'kits', 'coordinator')).sites.find((s) => s.id === 'hospital-c')?.revokedAt,
    ).toBeDefined();
    const keyring = coordinator.app.get(SitesService).keyring;
    expect([keyring.isRevoked('hospital-c'), keyring.isRevoked('hospital-a')]).toEqual([true, false]);
    expect((await call('POST', '/sites/hospital-x/revoke', { reason: 'x' })).status).toBe(404);
    expect((await call('POST', '/sites/hospital-a/revoke', {})).status).toBe(400);
  });

  it('records every admin action in the audit log', async () => {
    const audit = await call('GET', '/audit?limit=100');
    const entries = audit.body.entries as {
      action: string;
      outcome: string;
      actor: string;
      target?: string;
    }[];
    const actions = entries.filter((e) => e.outcome === 'ok').map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['runs.create', 'runs.start', 'runs.stop', 'sites.revoke', 'auth.token-set']),
    );
    expect(entries.find((e) => e.action === 'sites.revoke' && e.outcome === 'ok')).toMatchObject({
      actor: expect.stringMatching(/^admin:[0-9a-f]{8}$/),
      target: 'hospital-c',
    });
    const page = await call('GET', '/audit?limit=2');
    expect((page.body.entries as unknown[]).length).toBe(2);
    expect(typeof page.body.nextBefore).toBe('number');
  });

  it('serves stored models by digest, verified, and audits downloads', async () => {
    const bytes = new Uint8Array(200_000).map((_v, i) => i % 251);
    const { digest } = await coordinator.app.get(BlobStore).put(bytes);
    expect((await call('GET', `/models/${digest}/info`)).body).toEqual({ digest, bytes: 200_000 });
    const response = await fetch(`${coordinator.url}/models/${digest}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true);
    expect((await call('GET', `/models/${'0'.repeat(128)}`)).status).toBe(404);
    expect((await call('GET', '/models/not-a-digest')).status).toBe(400);
    const audit = await call('GET', `/audit?action=models.download&target=${digest}`);
    expect((audit.body.entries as { outcome: string }[]).map((e) => e.outcome)).toEqual(['ok']);
  });

  it('keeps runs, revocations and the audit log across a restart on the same database', async () => {
    const before = (await call('GET', '/runs')).body as unknown as { id: string; state: string }[];
    await coordinator.close();
    coordinator = await startCoordinator({ ...options(), adminToken: undefined });
    expect(coordinator.generatedAdminToken).toBeUndefined(); // the stored hash still admits TOKEN
    const after = (await call('GET', '/runs')).body as unknown as { id: string; state: string }[];
    expect(after).toEqual(before);
    const site = await call('GET', '/sites/hospital-c');
    expect(site.body).toMatchObject({ revoked: true });
    const audit = await call('GET', '/audit?action=runs.start');
    expect((audit.body.entries as { outcome: string }[]).map((e) => e.outcome)).toEqual(['rejected', 'ok']);
    expect(coordinator.app.get(SitesService).keyring.isRevoked('hospital-c')).toBe(true);
  });
});
