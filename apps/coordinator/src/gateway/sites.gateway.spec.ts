import type { Socket } from 'socket.io';
import { SITE_MESSAGE_BURST } from './message-budget';
import { silentLog } from '../../../../libs/common/src';
import { AckReply, signEnvelope, signHandshake } from '../../../../libs/protocol/src';
import { testKeyPair, testKeyring, testNonce } from '../../../../libs/protocol/src/test-support/fixtures';
import { AuditService } from '../audit/audit.service';
import { RoundsService } from '../rounds/rounds.service';
import { ConnectedSites } from '../sites/connected-sites';
import { SitesService } from '../sites/sites.service';
import { loopbackPair } from '../testing/loopback-socket';
import { SitesGateway } from './sites.gateway';

/** The gateway with a fake socket: it registers the site once, greets it, and passes statuses on. */
describe('SitesGateway', () => {
  function setup() {
    const coordinator = testKeyPair('coordinator');
    const sites = { keyring: testKeyring('site-a'), coordinatorKeys: coordinator } as unknown as SitesService;
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
    const connect = (id: string) => {
      const [server, site] = loopbackPair(id);
      const welcomes: unknown[] = [];
      site.on('welcome', (w) => welcomes.push(w));
      Object.assign(server, { handshake: { address: '10.0.0.7' } });
      server.data.siteId = 'site-a';
      server.data.handshake = signHandshake('site-a', testKeyPair('site-a').secretKey, coordinator.publicKey);
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
    const replies = (await Promise.all(
      messages.map((m) => site.timeout(5000).emitWithAck('status', m)),
    )) as AckReply[];
    expect(replies.slice(0, SITE_MESSAGE_BURST).every((r) => r.ok)).toBe(true);
    const limited = replies.filter((r) => !r.ok && r.error.code === 'RATE_LIMITED').length;
    expect(limited).toBeGreaterThanOrEqual(90);
    expect(replies.filter((r) => !r.ok && r.error.code !== 'RATE_LIMITED')).toEqual([]);
    expect(refusals.length).toBeGreaterThan(0);
  });
});
