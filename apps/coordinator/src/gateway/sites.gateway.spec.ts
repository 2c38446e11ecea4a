import type { Namespace, Socket } from 'socket.io';
import { SITE_MESSAGE_BURST } from './message-budget';
import { Log, silentLog } from '../../../../libs/common/src';
import { AckReply, signEnvelope, signHandshake } from '../../../../libs/protocol/src';
import { testKeyPair, testKeyring, testNonce } from '../../../../libs/protocol/src/test-support/fixtures';
import { AuditService } from '../audit/audit.service';
import { REFUSALS_PER_WINDOW } from '../http/request-limits';
import { throttledLog } from '../logging/throttled-log';
import { NewAuditRecord } from '../persistence/records';
import { CoordinatorStore } from '../persistence/repositories';
import { RoundsService } from '../rounds/rounds.service';
import { ConnectedSites } from '../sites/connected-sites';
import { SitesService } from '../sites/sites.service';
import { loopbackPair } from '../testing/loopback-socket';
import { SitesGateway } from './sites.gateway';

/** The gateway with a fake socket: it registers the site once, greets it, and passes statuses on. */
describe('SitesGateway', () => {
  function setup() {
    const coordinator = testKeyPair('coordinator');
    const sites = {
      keyring: testKeyring('site-a', 'site-b'),
      coordinatorKeys: coordinator,
    } as unknown as SitesService;
    const connected = new ConnectedSites();
    const linkEvents: string[] = [];
    connected.listen({
      siteLinked: (id) => linkEvents.push(`+${id}`),
      siteLeft: (id) => linkEvents.push(`-${id}`),
    });
    const attached: string[] = [];
    const statuses: unknown[] = [];
    const rounds = {
      attach: (siteId: string) => attached.push(siteId),
      siteStatus: (siteId: string, status: unknown) => statuses.push({ siteId, status }),
    } as unknown as RoundsService;
    const refusals: unknown[] = [];
    const audit = {
      recordRefusal: async (e: { detail: unknown }) => refusals.push(e.detail),
    } as unknown as AuditService;
    const gateway = new SitesGateway(sites, connected, audit, rounds, silentLog);
    const connect = (id: string, siteId = 'site-a') => {
      const [server, site] = loopbackPair(id);
      const welcomes: unknown[] = [];
      site.on('welcome', (w) => welcomes.push(w));
      Object.assign(server, { handshake: { address: '10.0.0.7' } });
      server.data.siteId = siteId;
      server.data.handshake = signHandshake(siteId, testKeyPair(siteId).secretKey, coordinator.publicKey);
      gateway.handleConnection(server as unknown as Socket);
      return { server, site, welcomes };
    };
    return { gateway, connected, linkEvents, attached, statuses, refusals, connect };
  }

  const status = (signer: string) =>
    signEnvelope({
      type: 'status',
      signer,
      secretKey: testKeyPair(signer).secretKey,
      body: {
        sender: signer,
        nonce: testNonce(),
        timestamp: Date.now(),
        state: 'training',
        runId: 'run-1',
        round: 0,
      },
    });

  it('registers a connection once, hands it to the rounds, and greets it with a signed welcome', () => {
    const { connected, linkEvents, attached, connect } = setup();
    const { welcomes } = connect('conn-1');
    expect(attached).toEqual(['site-a']);
    expect(linkEvents).toEqual(['+site-a']);
    expect(connected.get('site-a')).toMatchObject({ connectionId: 'conn-1', address: '10.0.0.7' });
    expect(welcomes).toHaveLength(1);
  });

  it('hears a replaced connection close without losing the site; the last one leaving is a departure', () => {
    const { gateway, connected, linkEvents, connect } = setup();
    const first = connect('conn-1');
    const second = connect('conn-2');
    expect(first.server.connected).toBe(false); // closed as replaced
    gateway.handleDisconnect(first.server as unknown as Socket);
    expect(connected.get('site-a')?.connectionId).toBe('conn-2');
    gateway.handleDisconnect(second.server as unknown as Socket);
    expect(linkEvents).toEqual(['+site-a', '+site-a', '-site-a']);
  });

  it('records a verified status and tells the rounds; refuses (and audits) one signed by another site', async () => {
    const { connected, statuses, refusals, connect } = setup();
    const { site } = connect('conn-1');
    expect(await site.timeout(1000).emitWithAck('status', status('site-a'))).toEqual({ ok: true });
    expect(connected.get('site-a')?.lastStatus).toMatchObject({ state: 'training', runId: 'run-1' });
    expect(statuses).toMatchObject([{ siteId: 'site-a', status: { state: 'training' } }]);
    const reply = (await site.timeout(1000).emitWithAck('status', status('coordinator'))) as AckReply;
    expect(reply.ok).toBe(false);
    expect(refusals).toHaveLength(1);
  });

  it('answers RATE_LIMITED past a site budget, before verifying, and audits it; other sites go on', async () => {
    const { refusals, connect } = setup();
    const { site } = connect('conn-1');
    // Signed first, then sent at once: the budget's refill (50 a second) cannot mask the burst.
    const messages = Array.from({ length: SITE_MESSAGE_BURST + 100 }, () => status('site-a'));
    const otherStatus = status('site-b');
    const replies = (await Promise.all(
      messages.map((m) => site.timeout(5000).emitWithAck('status', m)),
    )) as AckReply[];
    expect(replies.slice(0, SITE_MESSAGE_BURST).every((r) => r.ok)).toBe(true);
    const limited = replies.filter((r) => !r.ok && r.error.code === 'RATE_LIMITED').length;
    expect(limited).toBeGreaterThanOrEqual(90);
    expect(replies.filter((r) => !r.ok && r.error.code !== 'RATE_LIMITED')).toEqual([]);
    expect(refusals.length).toBeGreaterThan(0);
    // Right after site-a's flood, site-b's message (signed beforehand) goes through: its own budget.
    const other = connect('conn-2', 'site-b');
    expect(await other.site.timeout(5000).emitWithAck('status', otherStatus)).toEqual({ ok: true });
  });

  it('holds refused handshakes to their address (issue #18 row 10): 3,000 claiming 3,000 ids write ≤ 100 audit rows and ≤ 100 refusal lines; past 30 a minute RATE_LIMITED unchecked; other addresses go on', async () => {
    const coordinator = testKeyPair('coordinator');
    const sites = { keyring: testKeyring('site-a'), coordinatorKeys: coordinator } as unknown as SitesService;
    // The real audit service and log throttle over a store and a log that only count.
    const rows: NewAuditRecord[] = [];
    const store = {
      audit: { append: async (e: NewAuditRecord) => (rows.push(e), { ...e, id: rows.length }) },
    } as unknown as CoordinatorStore;
    const lines: unknown[][] = [];
    const capture: Log = {
      debug: (...a) => lines.push(a),
      info: (...a) => lines.push(a),
      warn: (...a) => lines.push(a),
      error: (...a) => lines.push(a),
    };
    const log = throttledLog(capture);
    const gateway = new SitesGateway(
      sites,
      new ConnectedSites(),
      new AuditService(store, log),
      {} as RoundsService,
      log,
    );
    let middleware!: (socket: unknown, next: (err?: Error & { data?: { code: string } }) => void) => void;
    gateway.afterInit({ use: (fn: typeof middleware) => (middleware = fn) } as unknown as Namespace);
    const handshake = (address: string, auth: object) =>
      new Promise<string>((resolve) =>
        middleware({ handshake: { address, auth }, data: {} }, (err) =>
          resolve(err?.data?.code ?? 'ADMITTED'),
        ),
      );
    const codes: string[] = [];
    const forged = signHandshake('site-a', testKeyPair('site-a').secretKey, coordinator.publicKey);
    for (let i = 0; i < 3000; i++) {
      // A well-formed claim of a different site each time (the id is the caller's free choice).
      codes.push(await handshake('10.0.0.66', { ...forged, siteId: `claimed-${i}` }));
    }
    expect(codes.slice(0, REFUSALS_PER_WINDOW).every((c) => c === 'UNKNOWN_SIGNER')).toBe(true);
    expect(codes.slice(REFUSALS_PER_WINDOW).every((c) => c === 'RATE_LIMITED')).toBe(true);
    await new Promise((r) => setImmediate(r)); // the audit writes are not awaited by the middleware
    expect(rows.length).toBeLessThanOrEqual(100);
    expect(rows.every((r) => r.action === 'handshake.refused' && r.actor.endsWith('@10.0.0.66'))).toBe(true);
    expect(lines.filter((l) => l[1] === 'site message refused').length).toBeLessThanOrEqual(100);
    expect(lines.length).toBeLessThanOrEqual(200); // the refusal lines and the audit rows' echoes
    // A site at another address is judged as before, signature and all.
    const valid = signHandshake('site-a', testKeyPair('site-a').secretKey, coordinator.publicKey);
    expect(await handshake('10.0.0.7', valid)).toBe('ADMITTED');
  });
});
