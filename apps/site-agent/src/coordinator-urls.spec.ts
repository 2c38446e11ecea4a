import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../libs/common/src';
import { AgentEvent, SiteAgent } from './agent';
import { parseCoordinatorUrls } from './coordinator-urls';
import { FakeCoordinator } from './test-support/fake-coordinator';

jest.setTimeout(20_000);

describe('parseCoordinatorUrls', () => {
  it('takes comma-separated and repeated values, in order, without duplicates or trailing slashes', () => {
    expect(
      parseCoordinatorUrls(['https://a.example.org/,https://b.example.org', 'https://a.example.org']),
    ).toEqual(['https://a.example.org', 'https://b.example.org']);
  });

  it('refuses what is not an http(s)/ws(s) URL with a host, naming it', () => {
    expect(() => parseCoordinatorUrls(['fl.example.org'])).toThrow(InputError);
    expect(() => parseCoordinatorUrls(['ftp://fl.example.org'])).toThrow(/ftp:\/\/fl\.example\.org/);
    expect(() => parseCoordinatorUrls([' , '])).toThrow(/no URL/);
  });
});

/** A port nothing listens on (a coordinator that is down). */
const deadUrl = () =>
  new Promise<string>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });

const until = async (what: string, check: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('SiteAgent with several coordinator URLs', () => {
  const coordinators: FakeCoordinator[] = [];
  const agents: SiteAgent[] = [];
  let stateDir: string;

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'agent-urls-'));
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await Promise.all(coordinators.splice(0).map((c) => c.stop().catch(() => undefined)));
    rmSync(stateDir, { recursive: true, force: true });
  });

  const coordinator = async (port = 0) => {
    const c = new FakeCoordinator();
    await c.start(port);
    coordinators.push(c);
    return c;
  };
  const agentFor = (urls: string[], events: AgentEvent[]) => {
    const agent = new SiteAgent({
      kit: coordinators[0].siteKit(),
      coordinatorUrls: urls,
      executors: {},
      stateDir,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      onEvent: (e) => events.push(e),
    });
    agents.push(agent);
    return agent;
  };

  it('skips a coordinator that is down and connects to the next', async () => {
    const live = await coordinator();
    const events: AgentEvent[] = [];
    await agentFor([await deadUrl(), live.url], events).start();
    expect(events.filter((e) => e.type === 'connected')).toEqual([{ type: 'connected', url: live.url }]);
    expect(live.handshakes).toHaveLength(1);
  });

  it('moves to the other coordinator when the one it uses goes away (failover)', async () => {
    const active = await coordinator();
    const standbyPort = Number(new URL(await deadUrl()).port);
    const events: AgentEvent[] = [];
    const agent = agentFor([active.url, `http://127.0.0.1:${standbyPort}`], events);
    await agent.start();
    await active.stop();
    await until('the agent to notice', () => !agent.connected);
    const takeover = await coordinator(standbyPort);
    await until('the agent to be welcomed by the new coordinator', () => agent.connected);
    expect(takeover.handshakes).toHaveLength(1);
    expect(events.filter((e) => e.type === 'connected').map((e) => (e as { url: string }).url)).toEqual([
      active.url,
      takeover.url,
    ]);
  });
});
