import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { provision } from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';
import { testCoordinatorOptions } from './support/coordinator-options';
import { REFUSALS_PER_WINDOW } from '../apps/coordinator/src/http/request-limits';

/**
 * Issue #18, the HTTP and state rows: each hostile request gets a bounded refusal, the coordinator
 * keeps answering /health within 200 ms meanwhile, and memory stays bounded. Large bodies are
 * generated on the fly (and gzip bombs as concatenated gzip members), never stored.
 */
const TOKEN = 'e2e-admin-token-0123456789';
const MiB = 1024 * 1024;

describe('coordinator under hostile HTTP input (issue #18)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;

  const options = (sub = '') => testCoordinatorOptions(dir, sub, TOKEN);

  /** Streams `totalBytes` (zeros, or `pattern` repeated) to the coordinator; resolves with the status or the socket error. */
  function send(
    path: string,
    totalBytes: number,
    headers: Record<string, string>,
    pattern: Buffer = Buffer.alloc(MiB),
    url = coordinator.url,
  ): Promise<{ status?: number; body?: string; error?: string; ms: number }> {
    const t0 = Date.now();
    return new Promise((resolve) => {
      const req = request(`${url}${path}`, { method: 'POST', headers });
      let settled = false;
      const done = (r: { status?: number; body?: string; error?: string }) => {
        if (!settled) resolve({ ...r, ms: Date.now() - t0 });
        settled = true;
      };
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => done({ status: res.statusCode, body }));
        res.on('error', () => done({ status: res.statusCode, body }));
      });
      req.on('error', (err) => done({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
      let sent = 0;
      const pump = () => {
        while (sent < totalBytes) {
          const chunk = pattern.subarray(0, Math.min(pattern.length, totalBytes - sent));
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
  }

  /** Median of three /health round trips (one noisy sample on a shared CI core is not the server). */
  async function healthMs(): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const response = await fetch(`${coordinator.url}/health`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[1];
  }

  const gzipBomb = (inflatedBytes: number): Buffer => {
    // Concatenated gzip members inflate to their sum: 4 MiB of zeros compresses to ~4 KiB.
    const member = gzipSync(Buffer.alloc(4 * MiB));
    return Buffer.concat(Array.from({ length: Math.ceil(inflatedBytes / (4 * MiB)) }, () => member));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-hostile-http-'));
    provision({
      outDir: join(dir, 'kits'),
      coordinatorUrl: 'http://127.0.0.1:8080',
      siteIds: ['hospital-a'],
    });
    coordinator = await startCoordinator(options());
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('row 1: a 100 MB body without a token is refused 401 unread; memory and /health stay fine', async () => {
    const rss0 = process.memoryUsage().rss;
    const attack = send('/runs', 100 * MiB, { 'content-type': 'application/octet-stream' });
    await new Promise((r) => setTimeout(r, 50));
    expect(await healthMs()).toBeLessThan(200);
    const result = await attack;
    // The server answers at once and closes; the client sees the 401 or a reset mid-upload.
    if (result.status !== undefined) expect(result.status).toBe(401);
    else expect(result.error).toMatch(/EPIPE|ECONNRESET/);
    expect(result.ms).toBeLessThan(5000);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * MiB);
  });

  it('row 1: a gzip body inflating to 400 MB is never inflated (401 without a token, 413 with one)', async () => {
    const bomb = gzipBomb(400 * MiB);
    expect(bomb.length).toBeLessThan(1 * MiB);
    const rss0 = process.memoryUsage().rss;
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const anonymous = await send('/runs', bomb.length, headers, bomb);
    if (anonymous.status !== undefined) expect(anonymous.status).toBe(401);
    else expect(anonymous.error).toMatch(/EPIPE|ECONNRESET/);
    const admin = await send('/runs', bomb.length, { ...headers, authorization: `Bearer ${TOKEN}` }, bomb);
    expect(admin.status).toBe(413);
    expect(JSON.parse(admin.body!).message).toMatch(/too large.*after decompression/);
    // The model route's large limit never applies to compressed bodies.
    const model = await send(
      '/models',
      bomb.length,
      {
        'content-type': 'application/octet-stream',
        'content-encoding': 'gzip',
        authorization: `Bearer ${TOKEN}`,
      },
      bomb,
    );
    expect(model.status).toBe(415);
    // Nor does it apply anywhere but POST /models.
    const rawElsewhere = await send('/runs', 2 * MiB, {
      'content-type': 'application/octet-stream',
      authorization: `Bearer ${TOKEN}`,
    });
    expect(rawElsewhere.status).not.toBe(201);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * MiB);
    expect(await healthMs()).toBeLessThan(200);
  });

  it('row 9: a JSON plan nested 100,000 deep is a 400, not a 500', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const response = await fetch(`${coordinator.url}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: `{"plan":${deep}}`,
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/nests deeper than 64 levels/);
    const yaml = await fetch(`${coordinator.url}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
      body: deep,
    });
    expect(yaml.status).toBe(400);
    expect(((await yaml.json()) as { message: string }).message).toMatch(/nests deeper than 64 levels/);
  });

  it('row 11 and wrong tokens: 16 KB paths are audited truncated, and refusals are rate-limited per address', async () => {
    // A 16 KiB path is refused by Node's header limit (431) before any of our code runs; just under
    // it reaches the gate, whose audit row keeps only the first MAX_AUDITED_TEXT characters.
    const tooLong = await fetch(coordinator.url + '/' + 'a'.repeat(16 * 1024));
    expect(tooLong.status).toBe(431);
    const longPath = '/' + 'a'.repeat(15 * 1024);
    const statuses: number[] = [];
    for (let i = 0; i < REFUSALS_PER_WINDOW + 5; i++) {
      const response = await fetch(coordinator.url + longPath, {
        headers: { authorization: 'Bearer wrong-token-wrong-token' },
      });
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    // Earlier tests' refusals count too: some 401s, then nothing but 429s.
    const firstLimited = statuses.indexOf(429);
    expect(firstLimited).toBeGreaterThan(0);
    expect(firstLimited).toBeLessThanOrEqual(REFUSALS_PER_WINDOW);
    expect(statuses.slice(0, firstLimited).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(firstLimited).every((s) => s === 429)).toBe(true);
    // Even the right token is turned away from this address for the rest of the window…
    const blocked = await fetch(`${coordinator.url}/runs`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    // …while /health stays open.
    expect(await healthMs()).toBeLessThan(200);
    const db = new Database(options().dbFile, { readonly: true });
    const rows = db.prepare("SELECT target FROM audit_log WHERE action = 'auth.denied'").all() as {
      target: string;
    }[];
    db.close();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.target.length).toBeLessThan(400);
  });
});
