/** The API's shapes as the dashboard reads them (apps/coordinator/src/persistence/records.ts). */
export interface RunPlan {
  name?: string;
  stages: { ssl?: { rounds: number }; finetune?: { rounds: number } };
  strategy: { name: string };
  quorum: { minSites: number };
  sites?: 'all' | string[];
  evaluation: { final: boolean; everyKRounds?: number; crossSite?: boolean };
  roundDeadlineSeconds: number;
}

export interface RunSummary {
  id: string;
  name: string;
  state: 'created' | 'running' | 'completed' | 'failed' | 'stopped';
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  reason?: string;
  strategy?: string;
  sites?: 'all' | string[];
  stages?: RunPlan['stages'];
  planDigest?: string;
}

export interface RunLive extends RunSummary {
  plan: RunPlan;
}

export interface RoundLive {
  runId: string;
  stage: string;
  round: number;
  state: 'dispatched' | 'collecting' | 'aggregating' | 'done' | 'failed';
  startedAt: string;
  deadlineAt: string;
  endedAt?: string;
  reason?: string;
  inputDigest?: string;
  outputDigest?: string;
  /** Size of the model the round started from (what each site downloaded). */
  inputBytes: number | null;
  /** Evaluate-stage rounds only. */
  evaluationKind?: 'final' | 'periodic' | 'cross-site';
}

export interface TaskLive {
  id: string;
  stage: string;
  round: number;
  siteId: string;
  state: 'pending' | 'sent' | 'received' | 'rejected' | 'timed-out';
  attempts: number;
}

export interface UpdateLive {
  id?: number;
  stage: string;
  round: number;
  siteId: string;
  bytes: number;
  nSamples: number;
  status: 'accepted' | 'rejected' | 'aggregated';
  rejectReason?: string;
  receivedAt: string;
}

export interface MetricLive {
  stage?: string;
  round?: number;
  siteId?: string;
  name: string;
  value: number;
}

export interface Histogram {
  bins: number;
  positive: number[];
  negative: number[];
}

export interface EvaluationRow {
  modelOf: string;
  siteId: string;
  stage?: string;
  round?: number;
  n: number;
  nPositive: number;
  auc?: number;
  aucLow?: number;
  aucHigh?: number;
  histograms?: Histogram;
}

export interface SiteScore {
  auc: number | null;
  ci95: [number, number] | null;
  n: number;
  nPositive: number;
}

export interface GlobalEvaluation {
  round: number;
  afterFinetuneRounds: number | null;
  pooledAuc: number | null;
  meanSiteAuc: number | null;
  sites: Record<string, SiteScore>;
}

/** GET /runs/{id}/results */
export interface RunResults {
  runId: string;
  state: string;
  metrics: MetricLive[];
  evaluations: EvaluationRow[];
  evaluation: {
    periodic: GlobalEvaluation[];
    final: GlobalEvaluation | null;
    crossSite: {
      models: Record<string, { digest: string; finetuneRound: number | null }>;
      matrix: Record<string, Record<string, SiteScore>>;
    } | null;
  };
}

export interface SiteInfo {
  id: string;
  fingerprint: string;
  enrolledAt: string;
  revoked: boolean;
  revokedAt?: string;
  revokedReason?: string;
  connected: boolean;
  connectedAt?: string;
  lastStatus?: {
    state: string;
    runId?: string;
    round?: number;
    progress?: number;
    message?: string;
    at: string;
  };
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target?: string;
  outcome: string;
  detail?: Record<string, unknown>;
}
