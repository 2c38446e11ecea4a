import { request } from 'node:http';
import { ACTIVE_METRIC, StandbyServer, STANDBY_READINESS } from './standby-server';

const get = (url: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });

describe('StandbyServer', () => {
  let server: StandbyServer;
  beforeAll(async () => {
    server = await StandbyServer.listen('127.0.0.1', 0);
  });
  afterAll(() => server.close());

  it('is live but not ready, and says why', async () => {
    expect(await get(`${server.url}/health/live`)).toMatchObject({ status: 200 });
    const ready = await get(`${server.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toEqual(STANDBY_READINESS);
    expect(ready.headers['retry-after']).toBe('2');
  });

  it('is scraped by Prometheus as a standby (phcc_coordinator_active 0)', async () => {
    const metrics = await get(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain(`\n${ACTIVE_METRIC.name} 0\n`);
  });

  it('refuses the API and the sites gateway (polling and WebSocket upgrade) with 503', async () => {
    expect((await get(`${server.url}/runs`)).status).toBe(503);
    expect((await get(`${server.url}/socket.io/?EIO=4&transport=polling`)).status).toBe(503);
    const upgrade = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/socket.io/?EIO=4&transport=websocket`, {
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' },
      });
      req.on('response', (res) => resolve(res.statusCode ?? 0));
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(upgrade).toBe(503);
  });

  it('frees its port on close', async () => {
    const other = await StandbyServer.listen('127.0.0.1', 0);
    const port = other.port;
    await other.close();
    const again = await StandbyServer.listen('127.0.0.1', port);
    await again.close();
  });
});
