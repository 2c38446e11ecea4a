import { MINOR_VERSION_QUERY } from './compat';

/**
 * What an agent says about itself when it connects, for the consortium's overview (the dashboard's
 * sites page): its software version, its compute backend and, only when the site chose to
 * (`agent --report-cohort`), its cohort's patient counts. Carried in the socket.io connection query
 * beside the protocol minor version, so coordinators that predate it ignore it. Informational:
 * nothing the coordinator decides depends on it, every value is checked and bounded here, and an
 * unreadable value is dropped rather than refused.
 */
export interface AgentFacts {
  /** phcc-fed version of the agent (semver-like). */
  version?: string;
  /** Compute backend the agent trains on: `wasm`, `cpu`, `tensorflow`, `tensorflow-gpu`. */
  backend?: string;
  /** Patient counts by split (train/val/test) and labelled, as the site chose to report them. */
  cohort?: CohortCounts;
}

export interface CohortCounts {
  train: number;
  val: number;
  test: number;
  labelled: number;
}

export const AGENT_VERSION_QUERY = 'phcc-agent';
export const AGENT_BACKEND_QUERY = 'phcc-backend';
export const AGENT_COHORT_QUERY = 'phcc-cohort';

const VERSION = /^[0-9A-Za-z.+-]{1,32}$/;
const BACKEND = /^[a-z][a-z0-9-]{0,23}$/;
const COUNT_KEYS = ['train', 'val', 'test', 'labelled'] as const;
/** Larger than any hospital's cohort; a bigger number is not a count. */
const MAX_COUNT = 10_000_000;

/** The query an agent connects with: its protocol minor version and the facts it reports. */
export function agentQuery(minor: number, facts: AgentFacts): Record<string, string> {
  const query: Record<string, string> = { [MINOR_VERSION_QUERY]: String(minor) };
  if (facts.version) query[AGENT_VERSION_QUERY] = facts.version;
  if (facts.backend) query[AGENT_BACKEND_QUERY] = facts.backend;
  if (facts.cohort) query[AGENT_COHORT_QUERY] = COUNT_KEYS.map((k) => `${k}:${facts.cohort![k]}`).join(',');
  return query;
}

/** The facts in a connection's query, each kept only if well formed. */
export function agentFactsOf(query: Record<string, unknown> | undefined): AgentFacts {
  const text = (key: string): string | undefined => {
    const raw = query?.[key];
    const value = Array.isArray(raw) ? raw[0] : raw;
    return typeof value === 'string' ? value : undefined;
  };
  const facts: AgentFacts = {};
  const version = text(AGENT_VERSION_QUERY);
  if (version && VERSION.test(version)) facts.version = version;
  const backend = text(AGENT_BACKEND_QUERY);
  if (backend && BACKEND.test(backend)) facts.backend = backend;
  const cohort = cohortCountsOf(text(AGENT_COHORT_QUERY));
  if (cohort) facts.cohort = cohort;
  return facts;
}

function cohortCountsOf(text: string | undefined): CohortCounts | undefined {
  if (!text || text.length > 200) return undefined;
  const pairs = new Map(text.split(',').map((pair) => pair.split(':') as [string, string]));
  const counts: Partial<CohortCounts> = {};
  for (const key of COUNT_KEYS) {
    const n = Number(pairs.get(key));
    if (!Number.isInteger(n) || n < 0 || n > MAX_COUNT) return undefined;
    counts[key] = n;
  }
  return counts as CohortCounts;
}
