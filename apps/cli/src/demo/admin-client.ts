import { PhccError } from '../../../../libs/common/src';

/** The slice of GET /runs/{id} the demo reads. */
export interface RunView {
  id: string;
  state: string;
  reason?: string;
  plan: { stages: { ssl?: { rounds: number }; finetune?: { rounds: number } } };
  rounds: { stage: string; round: number; state: string; outputDigest?: string }[];
}

/** The slice of GET /runs/{id}/results the demo reads. */
export interface RunResultsView {
  runId: string;
  state: string;
  metrics: { name: string; value: number; siteId?: string; stage?: string; round?: number }[];
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

  createRun(plan: unknown): Promise<RunView> {
    return this.request('POST', '/runs', JSON.stringify(plan), 'application/json');
  }

  startRun(id: string): Promise<RunView> {
    return this.request('POST', `/runs/${id}/start`);
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

  private async request<T>(
    method: string,
    path: string,
    body?: Uint8Array | string,
    type?: string,
  ): Promise<T> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(type ? { 'content-type': type } : {}) },
      body,
    });
    const text = await response.text();
    if (!response.ok) {
      throw new PhccError(
        `${method} ${path}: HTTP ${response.status}: ${text.slice(0, 500)}`,
        'ADMIN_API',
        1,
      );
    }
    return JSON.parse(text) as T;
  }
}
