import { performance } from 'node:perf_hooks';
import { Rng } from '../../../../libs/common/src';
import { simulatedWeights, uploadLayout } from '../../../../libs/federated/src';
import type { TaskBody } from '../../../../libs/protocol/src';
import { decodeWeights, encodeWeights, layoutOf, NamedArray } from '../../../../libs/weights/src';
import { followInstruction } from '../../../site-agent/src/task-instruction';
import { SiteAnswer, SimulatedSite } from './simulation';

/** Distinct base deltas the sites share: few, so that making them costs next to nothing. */
const BASE_DELTAS = 4;
/** Largest delta value; small against the simulated weights' ±0.1, as a round of training is. */
const DELTA_SCALE = 0.01;

/**
 * Update deltas for synthetic sites, made once per upload layout (the tensors a stage sends) and
 * shared: `BASE_DELTAS` random deltas, so that a thousand sites cost a thousand scaled copies, not
 * a thousand random draws of a whole model.
 */
export class SyntheticDeltas {
  private readonly byLayout = new Map<string, NamedArray[][]>();

  constructor(private readonly seed: number) {}

  /** The base deltas for the tensors `names` of `global` (cached by that list of names). */
  basesFor(global: readonly NamedArray[], wanted: (name: string) => boolean): NamedArray[][] {
    const sent = layoutOf([...global]).filter((t) => wanted(t.name));
    const key = sent.map((t) => t.name).join('\n');
    let bases = this.byLayout.get(key);
    if (!bases) {
      const rng = new Rng(this.seed);
      bases = Array.from({ length: BASE_DELTAS }, () => simulatedWeights(sent, rng.fork(), DELTA_SCALE));
      this.byLayout.set(key, bases);
    }
    return bases;
  }
}

/**
 * A site of `bench federation`: it answers a training task at once with a deterministic update
 * (a per-site scaling of one of a few shared random deltas, on the tensors the task's instruction
 * asks for, encoded as the plan says) and declines evaluation. No tfjs and no training, so that
 * what a run costs is the coordinator's work: intake, gate, store, engine, fold, publish.
 */
export class SyntheticSite implements SimulatedSite {
  /** Real ms this site spent making its answers: not the coordinator's time. */
  busyMs = 0;

  constructor(
    readonly siteId: string,
    private readonly index: number,
    private readonly deltas: SyntheticDeltas,
  ) {}

  async run(task: TaskBody, model: Uint8Array): Promise<SiteAnswer> {
    const t0 = performance.now();
    try {
      return this.answer(task, model);
    } finally {
      this.busyMs += performance.now() - t0;
    }
  }

  private answer(task: TaskBody, model: Uint8Array): SiteAnswer {
    if (task.stage === 'evaluate') return { kind: 'declined', reason: 'a synthetic site does not evaluate' };
    const followed = followInstruction(task, null);
    if (!followed.ok) return { kind: 'declined', reason: `${followed.error.code}: ${followed.error.reason}` };
    const { parts, keepLocal, updateKind } = followed.value;
    const global = decodeWeights(model);
    const sent = new Set(uploadLayout(layoutOf(global), parts, keepLocal).map((t) => t.name));
    const bases = this.deltas.basesFor(global, (name) => sent.has(name));
    const base = bases[this.index % bases.length];
    // Distinct per site (so every update has its own digest and blob), same size of change.
    const scale = 1 + (this.index % 101) / 1000;
    const globalByName = new Map(global.map((a) => [a.name, a.values]));
    const arrays = base.map((d) => {
      const values = new Float32Array(d.values.length);
      const g = updateKind === 'weights' ? globalByName.get(d.name)! : undefined;
      for (let i = 0; i < values.length; i++) values[i] = (g ? g[i] : 0) + d.values[i] * scale;
      return { name: d.name, shape: [...d.shape], values };
    });
    return {
      kind: 'update',
      payload: encodeWeights(arrays, task.config.updateEncoding),
      body: {
        kind: updateKind,
        nSamples: 20 + (this.index % 50),
        metrics: { loss: 1 / scale },
        encoding: task.config.updateEncoding,
      },
    };
  }
}
