import type { PairedComparisonView } from '../../../coordinator/src/evaluation/paired-results';
import type { PrivacyView } from '../../../coordinator/src/runs/privacy-view';
import type { AuditQuery, AuditRecord } from '../../../coordinator/src/persistence/records';
import { PhccError } from '../../../../libs/common/src';

/** The slice of GET /runs/{id} the demo and `phcc-fed admin` read. */
export interface RunView extends RunSummary {
  plan: {
    stages: { ssl?: { rounds: number }; finetune?: { rounds: number } };
    evaluation?: { crossSiteModels?: string };
  };
  rounds: { stage: string; round: number; state: string; outputDigest?: string; reason?: string }[];
}

/** One row of GET /runs. */
export interface RunSummary {
  id: string;
  name?: string;
  state: string;
  reason?: string;
  createdAt?: string;
  startedAt?: string;
  endedAt?: string;
}

/** One row of GET /sites. */
export interface SiteView {
  id: string;
  publicKey: string;
  fingerprint: string;
  enrolledAt: string;
  revoked: boolean;
  revokedAt?: string;
  revokedReason?: string;
  connected: boolean;
  lastStatus?: { state: string; runId?: string; round?: number; message?: string; at: string };
}

/** One row of GET /models. */
export interface ModelView {
  digest: string;
  runId: string;
  kind: 'initial' | 'global';
  stage?: string;
  round?: number;
  at?: string;
}

/** One row of GET /auth/tokens (never the token or its hash). */
export interface TokenView {
  id: string;
  role: string;
  label: string;
  fingerprint: string;
  createdAt: string;
  rotatedAt?: string;
}

/** POST /auth/tokens and …/rotate: the view plus the plain token, returned this once. */
export type IssuedTokenView = TokenView & { token: string };

/** One row of GET /audit: the coordinator's audit record as JSON. */
export type AuditView = AuditRecord;

/** GET /audit's query: the store's audit query, every field optional. */
export type AuditFilter = Partial<AuditQuery>;

/** The slice of GET /runs/{id}/results the demo reads. */
export interface RunResultsView {
  runId: string;
  state: string;
  /** The coordinator's PrivacyView (runs/privacy-view.ts); absent or null without a privacy section. */
  privacy?:
    | (Pick<PrivacyView, 'epsilon' | 'delta' | 'minBinCount' | 'secureAggregation'> & {
        dp: Pick<NonNullable<PrivacyView['dp']>, 'noiseMultiplier' | 'noise'> | null;
      })
    | null;
  metrics: { name: string; value: number; siteId?: string; stage?: string; round?: number }[];
  /** The paired comparisons (the plan's evaluation.compareWith); absent from older coordinators. */
  paired?: PairedComparisonView[];
  evaluations: {
    modelOf: string;
    siteId: string;
    n: number;
    nPositive: number;
    auc?: number;
    aucLow?: number;
    aucHigh?: number;
  }[];
}

/**
 * The coordinator's admin REST API over HTTP, exactly as an operator's script would call it: the
 * demo drives the federation through the same routes (and audit log) as a real consortium.
 */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** POST /models: stores encoded weights, returns their digest (the plan's initialModel). */
  async uploadModel(weights: Uint8Array): Promise<string> {
    const body = await this.request<{ digest: string }>(
      'POST',
      '/models',
      weights,
      'application/octet-stream',
    );
    return body.digest;
  }

  /** A plan object (sent as JSON) or a plan file's text (sent as YAML, which JSON also is). */
  createRun(plan: unknown): Promise<RunView> {
    return typeof plan === 'string'
      ? this.request('POST', '/runs', plan, 'application/yaml')
      : this.request('POST', '/runs', JSON.stringify(plan), 'application/json');
  }

  startRun(id: string): Promise<RunView> {
    return this.request('POST', `/runs/${encodeURIComponent(id)}/start`);
  }

  stopRun(id: string, reason: string): Promise<RunView> {
    return this.request('POST', `/runs/${id}/stop`, JSON.stringify({ reason }), 'application/json');
  }

  getRun(id: string): Promise<RunView> {
    return this.request('GET', `/runs/${id}`);
  }

  results(id: string): Promise<RunResultsView> {
    return this.request('GET', `/runs/${id}/results`);
  }

  listRuns(): Promise<RunSummary[]> {
    return this.request('GET', '/runs');
  }

  listSites(): Promise<SiteView[]> {
    return this.request('GET', '/sites');
  }

  enrolSite(site: {
    id: string;
    publicKey: string;
    fingerprint: string;
    replace?: boolean;
  }): Promise<SiteView> {
    return this.request('POST', '/sites', JSON.stringify(site), 'application/json');
  }

  revokeSite(id: string, reason: string): Promise<SiteView> {
    return this.request(
      'POST',
      `/sites/${encodeURIComponent(id)}/revoke`,
      JSON.stringify({ reason }),
      'application/json',
    );
  }

  listModels(): Promise<ModelView[]> {
    return this.request('GET', '/models');
  }

  listTokens(): Promise<TokenView[]> {
    return this.request('GET', '/auth/tokens');
  }

  issueToken(role: string, label: string): Promise<IssuedTokenView> {
    return this.request('POST', '/auth/tokens', JSON.stringify({ role, label }), 'application/json');
  }

  rotateToken(id: string): Promise<IssuedTokenView> {
    return this.request('POST', `/auth/tokens/${encodeURIComponent(id)}/rotate`);
  }

  revokeToken(id: string): Promise<TokenView> {
    return this.request('POST', `/auth/tokens/${encodeURIComponent(id)}/revoke`);
  }

  audit(filter: AuditFilter): Promise<{ entries: AuditView[]; nextBefore?: number }> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined) query.set(key, String(value));
    return this.request('GET', `/audit${query.size ? `?${query}` : ''}`);
  }

  private async request<T>(
    method: string,
    path: string,
    body?: Uint8Array | string,
    type?: string,
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(type ? { 'content-type': type } : {}) },
        body,
      });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new PhccError(
        `cannot reach the coordinator at ${this.baseUrl}: ${cause}`,
        'ADMIN_UNREACHABLE',
        1,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      throw new PhccError(
        `${method} ${path}: HTTP ${response.status}: ${apiMessage(text).slice(0, 500)}`,
        'ADMIN_API',
        1,
      );
    }
    return JSON.parse(text) as T;
  }
}

/** Nest's `{ message }` (a string or a list) when the body has one, else the text itself. */
function apiMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (Array.isArray(body.message)) return body.message.join('; ');
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: show it as it came
  }
  return text;
}
