import type {
  AuditRecord,
  EvaluationRecord,
  MetricRecord,
  RoundRecord,
  RunRecord,
  TaskRecord,
  UpdateRecord,
} from '../../coordinator/src/persistence/records';
import type { SiteView } from '../../coordinator/src/sites/dto';
import type { PrivacyView } from '../../coordinator/src/runs/privacy-view';
import type { PlanRefusal } from '../../coordinator/src/runs/runs.service';
import type { PairedComparisonView } from '../../coordinator/src/evaluation/paired-results';
import type { RunProgress } from '../../coordinator/src/live/topic-loaders';

/**
 * The API's shapes as the dashboard reads them: the coordinator's own record types (type-only
 * imports, so nothing of the coordinator is bundled), plus what the live streams add.
 */
export interface RunPlan {
  name?: string;
  stages: { ssl?: { rounds: number }; finetune?: { rounds: number } };
  strategy: { name: string };
  quorum: { minSites: number };
  sites?: 'all' | string[];
  evaluation: { final: boolean; everyKRounds?: number; crossSite?: boolean; compareWith?: string[] };
  roundDeadlineSeconds: number;
}

/** A runs-list entity (/events/runs): the run without its plan text, with the plan's headline. */
export type RunSummary = Omit<RunRecord, 'planJson'> & {
  /** Rounds done of those the plan fixes, counted by the coordinator (both live topics carry it). */
  progress: RunProgress;
  strategy?: string;
  sites?: 'all' | string[];
  stages?: RunPlan['stages'];
};

export interface RunLive extends Omit<RunSummary, 'strategy' | 'sites' | 'stages'> {
  plan: RunPlan;
}

export type RoundLive = RoundRecord & {
  /** Size of the model the round started from (what each site downloaded). */
  inputBytes: number | null;
  /** Evaluate-stage rounds only. */
  evaluationKind?: 'final' | 'periodic' | 'cross-site' | 'paired';
  /** The fine-tune stage's opening token-centring round (the engine's TOKEN_CENTRING_ROUND). */
  tokenCentring?: boolean;
  /** The cross-site matrix's local-only training round (the engine's LOCAL_ONLY_ROUND): folds nothing. */
  localOnly?: boolean;
};

export type TaskLive = TaskRecord;
/** Updates as streamed: metadata without the signature. */
export type UpdateLive = Omit<UpdateRecord, 'signature' | 'taskId' | 'runId' | 'digest' | 'encoding'> &
  Partial<UpdateRecord>;
export type MetricLive = MetricRecord;

export interface Histogram {
  bins: number;
  /** A private evaluation's merged (k-anonymous) bins: bins + 1 edges from 0 to 1. */
  edges?: number[];
  positive: number[];
  negative: number[];
}

export type EvaluationRow = Omit<EvaluationRecord, 'histograms'> & { histograms?: Histogram };

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
  /** The plan's privacy and the ε spent (coordinator runs/privacy-view.ts); null without a privacy section. */
  privacy?: PrivacyView | null;
  /** Sites that refused the run's plan (consent). */
  planRefusals?: PlanRefusal[];
  /** The paired evaluation round's comparisons (plan `evaluation.compareWith`); [] before it ran. */
  paired?: PairedComparison[];
}

export type PairedComparison = PairedComparisonView;

export type SiteInfo = SiteView;
export type AuditEntry = AuditRecord;
