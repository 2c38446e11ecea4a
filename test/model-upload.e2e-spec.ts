import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, silentLog } from '../libs/common/src';
import { encodeWeights, weightsDigest } from '../libs/weights/src';
import { provision } from '../libs/protocol/src';
import { RunningCoordinator, startCoordinator } from '../apps/coordinator/src';

/**
 * POST /models: how a run's initial global model enters the coordinator's blob store, and that
 * the digest it returns is accepted as a plan's initialModel.
 */
const TOKEN = 'e2e-admin-token-0123456789';

describe('model upload (POST /models)', () => {
  let dir: string;
  let coordinator: RunningCoordinator;
  const weights = encodeWeights([
    { name: 'enc/w', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: 'head/b', shape: [1], values: Float32Array.from([0.5]) },
  ]);

  function upload(body: Uint8Array, headers: Record<string, string> = {}) {
    return fetch(`${coordinator.url}/models`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/octet-stream',
        ...headers,
      },
      body,
    });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-model-upload-e2e-'));
    provision({
      outDir: join(dir, 'kits'),
      coordinatorUrl: 'http://127.0.0.1:8080',
      siteIds: ['hospital-a', 'hospital-b'],
    });
    coordinator = await startCoordinator({
      dbFile: join(dir, 'state.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'data'),
      host: '127.0.0.1',
      port: 0,
      adminToken: TOKEN,
      log: silentLog,
    });
  });
  afterAll(async () => {
    await coordinator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an upload without the admin token', async () => {
    const response = await upload(weights, { authorization: '' });
    expect(response.status).toBe(401);
  });

  it('refuses bytes that do not decode, and stores nothing', async () => {
    const corrupt = Buffer.from(weights);
    corrupt[0] ^= 0xff;
    const response = await upload(corrupt);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/not valid encoded weights/);
    const info = await fetch(`${coordinator.url}/models/${weightsDigest(corrupt)}/info`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(info.status).toBe(404);
  });

  it('refuses an empty or non-binary body', async () => {
    expect((await upload(new Uint8Array(0))).status).toBe(400);
    const json = await upload(Buffer.from('{"a":1}'), { 'content-type': 'application/json' });
    expect(json.status).toBe(400);
  });

  it('stores valid weights under their digest, idempotently, and audits the upload', async () => {
    const first = await upload(weights);
    expect(first.status).toBe(201);
    const digest = weightsDigest(weights);
    expect(await first.json()).toEqual({ digest, bytes: weights.length, created: true });
    const again = await upload(weights);
    expect(await again.json()).toEqual({ digest, bytes: weights.length, created: false });

    const download = await fetch(`${coordinator.url}/models/${digest}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(Buffer.from(await download.arrayBuffer()).equals(weights)).toBe(true);

    const audit = await fetch(`${coordinator.url}/audit?action=models.upload`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const entries = ((await audit.json()) as { entries: { outcome: string; target?: string }[] }).entries;
    expect(entries.map((e) => e.outcome).sort()).toEqual(['ok', 'ok', 'rejected', 'rejected', 'rejected']);
    expect(entries.filter((e) => e.outcome === 'ok').every((e) => e.target === digest)).toBe(true);
  });

  it('accepts the returned digest as a plan initialModel', async () => {
    const { digest } = (await (await upload(weights)).json()) as { digest: string };
    const plan = readFileSync(join(packageRoot(), 'configs', 'plans', 'quick.yaml'), 'utf8');
    const response = await fetch(`${coordinator.url}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
      body: `${plan}\ninitialModel: ${digest}\n`,
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ state: 'created', plan: { initialModel: digest } });
  });
});
