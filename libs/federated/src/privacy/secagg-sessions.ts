import { NamedArray, TensorLayout } from '../types';
import {
  KeyAdvert,
  KeyDirectory,
  MaskedInputMessage,
  SecAggError,
  ShareInbox,
  ShareKeysMessage,
  UnmaskMessage,
  UnmaskRequest,
} from './secagg-messages';
import { SecAggServer, SecAggServerHoldings } from './secagg-server';
import { decodeSecureSum, secAggConfigOf, SecureAggregationSettings } from './secagg-task';

/** The four steps of a SecAgg round, named by what the sites send in them. */
export const SECAGG_STEPS = ['keys', 'shares', 'masked', 'unmask'] as const;
export type SecAggStepName = (typeof SECAGG_STEPS)[number];

/** A site's message of one step, as the adapters decode it from the wire. */
export type SecAggSiteMessage =
  | { step: 'keys'; advert: KeyAdvert }
  | { step: 'shares'; shares: ShareKeysMessage }
  | { step: 'masked'; masked: MaskedInputMessage }
  | { step: 'unmask'; unmask: UnmaskMessage };

/** What the coordinator sends each member of the next step when one closes. */
export type SecAggOutgoing =
  | { next: 'shares'; to: string; directory: KeyDirectory }
  | { next: 'masked'; to: string; inbox: ShareInbox }
  | { next: 'unmask'; to: string; request: UnmaskRequest };

/** The round's result: the mean update over the survivors, and who they were. */
export interface SecAggResult {
  mean: NamedArray[];
  /** Σ of the survivors' (capped) sample counts: the mean's weight. */
  samples: number;
  survivors: string[];
  dropped: string[];
}

interface Session {
  server: SecAggServer;
  settings: SecureAggregationSettings;
  upload: readonly TensorLayout[];
}

/** Sessions kept at most; an abandoned attempt's session is dropped once this many are newer. */
const MAX_SESSIONS = 64;

/**
 * The coordinator's SecAgg sessions, one per training attempt that runs secure aggregation: the
 * `SecAggServer` state machine of each (which holds crypto state, so it lives beside the pure
 * engine, not in its state) and what turns its sum back into an update. The coordinator and the
 * simulator both hold one; the engine tells them when to close a step (`secagg-close`).
 */
export class SecAggSessions {
  private readonly sessions = new Map<string, Session>();

  /** Opens the session for an attempt (idempotent: every task of the attempt names it). */
  open(settings: SecureAggregationSettings, upload: readonly TensorLayout[]): void {
    if (this.sessions.has(settings.sessionId)) return;
    this.sessions.set(settings.sessionId, {
      server: new SecAggServer(secAggConfigOf(settings, upload)),
      settings,
      upload: upload.map((t) => ({ name: t.name, shape: [...t.shape] })),
    });
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** Admits one site's message into the session's current step; throws SecAggError if refused. */
  receive(sessionId: string, message: SecAggSiteMessage): void {
    const { server } = this.session(sessionId);
    switch (message.step) {
      case 'keys':
        return server.receiveKeys(message.advert);
      case 'shares':
        return server.receiveShares(message.shares);
      case 'masked':
        return server.receiveMasked(message.masked);
      case 'unmask':
        return server.receiveUnmask(message.unmask);
    }
  }

  /** Ends a step and returns what each member of the next one is sent; throws when the round cannot go on. */
  close(sessionId: string, step: Exclude<SecAggStepName, 'unmask'>): SecAggOutgoing[] {
    const { server } = this.session(sessionId);
    if (step === 'keys') {
      const directory = server.closeKeys();
      return directory.sites.map((s) => ({ next: 'shares', to: s.siteId, directory }));
    }
    if (step === 'shares') {
      return [...server.closeShares().values()].map((inbox) => ({ next: 'masked', to: inbox.to, inbox }));
    }
    const request = server.closeMasked();
    return request.survivors.map((to) => ({ next: 'unmask', to, request }));
  }

  /** Unmasks the sum and decodes it; the session is gone afterwards, whatever happens. */
  finish(sessionId: string): SecAggResult {
    const { server, settings, upload } = this.session(sessionId);
    try {
      const { sum, survivors, dropped } = server.finish();
      const { mean, samples } = decodeSecureSum(sum, settings, upload);
      return { mean, samples, survivors, dropped };
    } finally {
      this.sessions.delete(sessionId);
    }
  }

  discard(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  /** What the coordinator holds of a session (for audits and tests: never a site's input). */
  holdings(sessionId: string): SecAggServerHoldings | undefined {
    return this.sessions.get(sessionId)?.server.holdings();
  }

  private session(sessionId: string): Session {
    const session = this.sessions.get(sessionId);
    if (!session)
      throw new SecAggError(`no secure-aggregation session ${sessionId} is open`, 'SECAGG_SESSION');
    return session;
  }
}
