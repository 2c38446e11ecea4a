import { REFUSALS_PER_WINDOW } from '../apps/coordinator/src/http/request-limits';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../libs/common/src';
import { provision } from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';

/**
 * Roles over real HTTP: the primary admin token (PHCC_ADMIN_TOKEN) issues an observer token, the
 * observer reads and is refused every write with the reason, tokens rotate and revoke, only
 * salted hashes reach the database, and a source refused too often gets 429.
 */
const ADMIN = 'e2e-roles-admin-token-0123456789';

describe('coordinator roles: admin and observer tokens', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const options = () => ({
    dbFile: join(dir, 'state.sqlite'),
    kitDir: join(dir, 'kits'),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN,
    log: silentLog,
  });

  async function call(token: string, method: string, path: string, body?: unknown) {
    const response = await fetch(coordinator.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-roles-e2e-'));
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: 'http://127.0.0.1:8080', siteIds: ['site-a'] });
    coordinator = await startCoordinator(options());
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let observer = '';
  let observerId = '';

  it('issues an observer token once; the observer reads but is refused writes with the reason', async () => {
    expect((await call(ADMIN, 'GET', '/auth/whoami')).body).toEqual({
      actor: expect.stringMatching(/^admin:[0-9a-f]{8}$/),
      role: 'admin',
    });
    const issued = await call(ADMIN, 'POST', '/auth/tokens', { role: 'observer', label: 'tumour board' });
    expect(issued.status).toBe(201);
    observer = issued.body.token as string;
    observerId = issued.body.id as string;
    expect(observer).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await call(observer, 'GET', '/auth/whoami')).body).toMatchObject({ role: 'observer' });
    expect((await call(observer, 'GET', '/runs')).status).toBe(200);
    expect((await call(observer, 'GET', '/sites')).status).toBe(200);
    expect((await call(observer, 'GET', '/audit')).status).toBe(200);

    const revoke = await call(observer, 'POST', '/sites/site-a/revoke', { reason: 'test' });
    expect(revoke.status).toBe(403);
    expect(revoke.body.message).toBe(
      'observer tokens are read-only; POST /sites/site-a/revoke needs an admin token',
    );
    expect((await call(observer, 'GET', '/sites/site-a')).body).toMatchObject({ revoked: false });
    const tokens = await call(observer, 'GET', '/auth/tokens');
    expect(tokens.status).toBe(403);
    expect(tokens.body.message).toMatch(/for admins only/);
    expect((await call(observer, 'POST', '/auth/tokens', { role: 'admin', label: 'escalate' })).status).toBe(
      403,
    );

    const listed = (await call(ADMIN, 'GET', '/auth/tokens')).body as unknown as Record<string, unknown>[];
    expect(listed.map((t) => t.role)).toEqual(['admin', 'observer']);
    expect(JSON.stringify(listed)).not.toMatch(/salt|hash|token"/);
    const audit = (await call(ADMIN, 'GET', '/audit?action=auth.forbidden')).body.entries as {
      actor: string;
      target: string;
    }[];
    expect(audit.map((e) => e.target)).toContain('POST /sites/site-a/revoke');
    expect(audit[0].actor).toMatch(/^observer:[0-9a-f]{8}$/);
  });

  it('stores only salted hashes, never a token', () => {
    const db = new Database(join(dir, 'state.sqlite'), { readonly: true });
    const rows = db.prepare('SELECT key, value FROM settings').all() as { key: string; value: string }[];
    db.close();
    const text = JSON.stringify(rows);
    expect(text).not.toContain(ADMIN);
    expect(text).not.toContain(observer);
    const stored = JSON.parse(rows.find((r) => r.key === 'access_tokens')!.value) as { salt: string }[];
    expect(stored.every((t) => /^[0-9a-f]{32}$/.test(t.salt))).toBe(true);
  });

  it('rotates a token (the old secret stops at once) and keeps tokens across a restart', async () => {
    const rotated = await call(ADMIN, 'POST', `/auth/tokens/${observerId}/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ id: observerId, role: 'observer', rotatedAt: expect.any(String) });
    expect((await call(observer, 'GET', '/runs')).status).toBe(401);
    observer = rotated.body.token as string;
    expect((await call(observer, 'GET', '/runs')).status).toBe(200);

    await coordinator.close();
    coordinator = await startCoordinator({ ...options(), adminToken: undefined });
    expect(coordinator.generatedAdminToken).toBeUndefined();
    expect((await call(ADMIN, 'GET', '/auth/tokens')).status).toBe(200);
    expect((await call(observer, 'GET', '/runs')).status).toBe(200);

    expect((await call(ADMIN, 'POST', '/auth/tokens/admin/revoke')).body.message).toMatch(/last admin token/);
    expect((await call(ADMIN, 'POST', `/auth/tokens/${observerId}/revoke`)).status).toBe(200);
    expect((await call(observer, 'GET', '/runs')).status).toBe(401);
  });

  it('takes over the unsalted hash of versions before roles, and salts it on first use', async () => {
    await coordinator.close();
    const db = new Database(join(dir, 'state.sqlite'));
    db.prepare("DELETE FROM settings WHERE key = 'access_tokens'").run();
    db.prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('admin_token_sha256', ?)").run(
      createHash('sha256').update(ADMIN).digest('hex'),
    );
    db.close();
    coordinator = await startCoordinator({ ...options(), adminToken: undefined });
    expect(coordinator.adminTokenSource).toBe('stored');
    expect((await call(ADMIN, 'GET', '/runs')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const check = new Database(join(dir, 'state.sqlite'), { readonly: true });
    const rows = check.prepare('SELECT key, value FROM settings').all() as { key: string; value: string }[];
    check.close();
    expect(rows.find((r) => r.key === 'admin_token_sha256')?.value ?? '').toBe('');
    const stored = JSON.parse(rows.find((r) => r.key === 'access_tokens')!.value) as { salt: string }[];
    expect(stored[0].salt).toMatch(/^[0-9a-f]{32}$/);
    expect((await call(ADMIN, 'GET', '/runs')).status).toBe(200);
  });

  it('answers 429 to a source after too many refusals, whatever token it then presents', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < REFUSALS_PER_WINDOW + 5; i++)
      statuses.push((await call(`guess-${i}-0123456789abcdef`, 'GET', '/runs')).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    const blocked = await call(ADMIN, 'GET', '/runs');
    expect(blocked.status).toBe(429);
    expect(blocked.body.message).toMatch(/too many refused requests from .*; try again in \d+ s/);
  });
});
