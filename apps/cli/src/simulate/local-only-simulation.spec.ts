import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../../../libs/common/src';
import { CROSS_SITE_ROUND_BASE, LOCAL_ONLY_ROUND } from '../../../../libs/federated/src';
import type { TaskBody } from '../../../../libs/protocol/src';
import { decodeWeights, encodeWeights, NamedArray } from '../../../../libs/weights/src';
import { evaluationView } from '../../../coordinator/src/evaluation/evaluation-view';
import { RunPlanDto } from '../../../coordinator/src/runs/dto/run-plan.dto';
import { validatePlan } from '../../../coordinator/src/runs/run-plan';
import type { ExecutionContext, TaskExecutor, TaskResult } from '../../../site-agent/src/executor';
import { FakeExecutor } from '../../../site-agent/src/test-support/fake-executor';
import { InMemorySite } from './in-memory-site';
import { runSimulation } from './simulation';

/**
 * `phcc-fed simulate` with `evaluation.crossSiteModels: local-only`: the cross-site matrix's rows
 * are models that only ever saw their own site's data. Sites "train" by adding their own step
 * once per local epoch, so a model's weights say exactly which sites' training went into it and
 * for how many epochs.
 */
const INITIAL: NamedArray[] = [
  { name: 'decoder/w', shape: [3], values: Float32Array.from([0.5, -0.5, 1]) },
  { name: 'encoder/norm/gamma', shape: [2], values: Float32Array.from([1, 1]) },
  { name: 'encoder/w', shape: [2, 2], values: Float32Array.from([1, 2, -1, -2]) },
  { name: 'head/w', shape: [2], values: Float32Array.from([0.1, 0.2]) },
];
const SITES = ['hospital-a', 'hospital-b', 'hospital-c'];
/** Fine-tune: 2 rounds × 2 local epochs = a local-only budget of 4 epochs. */
const BUDGET = 4;

/**
 * Training that adds `step` per local epoch: the weights count the epochs each site trained (a
 * local-only task's own SSL epochs, `localOnlySsl`, included).
 */
class EpochExecutor implements TaskExecutor {
  readonly calls: { task: TaskBody; global: NamedArray[] }[] = [];
  constructor(
    private readonly step: number,
    readonly stage: 'ssl' | 'finetune' = 'finetune',
  ) {}

  async execute(task: TaskBody, global: NamedArray[], _ctx: ExecutionContext): Promise<TaskResult> {
    this.calls.push({ task, global });
    const epochs = task.config.localEpochs + (task.config.localOnlySsl?.epochs ?? 0);
    const by = task.config.tokenCentring ? 0 : this.step * epochs;
    const weights = global.map((a) => ({ ...a, shape: [...a.shape], values: a.values.map((v) => v + by) }));
    return { kind: 'train', weights, nSamples: 5, metrics: { loss: 0.25 } };
  }
}

/** SSL: 3 rounds × 1 local epoch = a local-only SSL budget of 3 epochs. */
const SSL_BUDGET = 3;
const SSL_STAGE = {
  rounds: 3,
  localEpochs: 1,
  optimiser: { name: 'adam', lr: 0.001 },
  batchSize: 4,
  maskRatio: 0.6,
};

function plan(
  crossSiteModels: 'global-finetuned' | 'local-only',
  strategy = 'fedavg',
  ssl = false,
): RunPlanDto {
  return validatePlan({
    stages: {
      ...(ssl ? { ssl: SSL_STAGE } : {}),
      finetune: { rounds: 2, localEpochs: 2, optimiser: { name: 'adam', lr: 0.001 }, batchSize: 2 },
    },
    strategy: { name: strategy },
    quorum: { minSites: 3 },
    roundDeadlineSeconds: 30,
    maxRetries: 0,
    encoding: 'float32',
    evaluation: { final: true, crossSite: true, crossSiteModels },
    seed: 5,
  });
}

describe('simulate: a cross-site matrix of local-only models', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-local-only-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function simulate(
    name: string,
    models: 'global-finetuned' | 'local-only',
    steps: number[],
    strategy = 'fedavg',
    ssl = false,
  ) {
    const executors = steps.map((step) => new EpochExecutor(step));
    const sites = SITES.map(
      (siteId, i) =>
        new InMemorySite(
          siteId,
          {
            ssl: new EpochExecutor(steps[i], 'ssl'),
            finetune: executors[i],
            evaluate: new FakeExecutor('evaluate'),
          },
          join(dir, name, siteId),
        ),
    );
    const outcome = await runSimulation({
      plan: plan(models, strategy, ssl),
      initialModel: encodeWeights(INITIAL, 'float32'),
      sites,
      workDir: join(dir, name),
      log: silentLog,
    });
    const { store, blobs, runId } = outcome;
    const rounds = await store.rounds.listForRun(runId);
    const evaluations = await store.evaluations.listForRun(runId);
    // Each site's row of the matrix: the model its cross-site round sent, as the blob store has it.
    const crossSite = new Map<string, NamedArray[]>();
    for (const r of rounds.filter((r) => r.stage === 'evaluate' && r.round >= CROSS_SITE_ROUND_BASE)) {
      const owner = evaluations.find((e) => e.round === r.round)!.modelOf;
      crossSite.set(owner, decodeWeights(await blobs.get(r.inputDigest!)));
    }
    const localOnlyUpdates = await store.updates.listForRound(runId, 'finetune', LOCAL_ONLY_ROUND);
    const view = evaluationView(evaluations, await store.metrics.listForRun(runId));
    store.close();
    return { outcome, executors, crossSite, localOnlyUpdates, view };
  }

  it("the diagonal's models trained on their own site alone, with the federated stage's whole budget", async () => {
    const steps = [0.01, 0.03, -0.02];
    const local = await simulate('local-only', 'local-only', steps);
    expect(local.outcome.reason).toBeUndefined();
    expect(local.outcome.state).toBe('completed');

    // Each site got one local-only task: the initial model, the whole budget, one schedule.
    for (const executor of local.executors) {
      const tasks = executor.calls.filter((c) => c.task.round === LOCAL_ONLY_ROUND);
      expect(tasks).toHaveLength(1);
      expect(tasks[0].task.config).toMatchObject({
        localOnly: true,
        localEpochs: BUDGET,
        scheduleStartEpoch: 0,
        scheduleTotalEpochs: BUDGET,
        keepOptimiserState: false,
      });
      expect(tasks[0].global.map((a) => [...a.values])).toEqual(INITIAL.map((a) => [...a.values]));
    }
    // Stored, never folded.
    expect(local.localOnlyUpdates.map((u) => [u.siteId, u.status])).toEqual(
      SITES.map((s) => [s, 'accepted']),
    );

    // Every local-only model at every site: a full 3 × 3 matrix whose rows are marked local-only.
    const matrix = local.view.crossSite!;
    expect(Object.keys(matrix.matrix)).toEqual(SITES);
    for (const owner of SITES) {
      expect(Object.keys(matrix.matrix[owner])).toEqual(SITES);
      expect(matrix.models[owner].finetuneRound).toBe(LOCAL_ONLY_ROUND);
    }

    // Site k's row is what its own training alone makes of the initial model in 4 epochs: the
    // fine-tuned parts moved by exactly 4 × its step, the decoder (not fine-tuned) untouched.
    for (const [k, owner] of SITES.entries()) {
      const model = local.crossSite.get(owner)!;
      for (const [i, tensor] of model.entries()) {
        const moved = tensor.name.startsWith('decoder/') ? 0 : BUDGET * steps[k];
        expect(tensor.name).toBe(INITIAL[i].name);
        tensor.values.forEach((v, j) => expect(v).toBeCloseTo(INITIAL[i].values[j] + moved, 6));
      }
    }

    // Other sites' data changed: hospital-a's local-only model is bit for bit the same, while the
    // federation's model moved with them.
    const others = await simulate('others-changed', 'local-only', [0.01, 0.5, 0.7]);
    expect(others.outcome.state).toBe('completed');
    expect(others.crossSite.get('hospital-a')).toEqual(local.crossSite.get('hospital-a'));
    expect(others.outcome.finalDigest).not.toBe(local.outcome.finalDigest);

    // The default matrix (global plus the site's last update) is another model, and the
    // local-only phase left the run's final global model as it was.
    const federated = await simulate('global-finetuned', 'global-finetuned', steps);
    expect(federated.outcome.state).toBe('completed');
    expect(federated.localOnlyUpdates).toEqual([]);
    expect(federated.view.crossSite!.models['hospital-a'].finetuneRound).toBe(1);
    expect(federated.crossSite.get('hospital-a')).not.toEqual(local.crossSite.get('hospital-a'));
    expect(federated.outcome.finalDigest).toBe(local.outcome.finalDigest);
  });

  it("in an SSL run each site pre-trains its local-only model on its own data with the SSL stage's whole budget, from the initial model", async () => {
    const steps = [0.01, 0.03, -0.02];
    const local = await simulate('ssl-local-only', 'local-only', steps, 'fedavg', true);
    expect(local.outcome.reason).toBeUndefined();
    expect(local.outcome.state).toBe('completed');
    for (const executor of local.executors) {
      const tasks = executor.calls.filter((c) => c.task.round === LOCAL_ONLY_ROUND);
      expect(tasks).toHaveLength(1);
      expect(tasks[0].task.config).toMatchObject({
        localOnly: true,
        localEpochs: BUDGET,
        localOnlySsl: { epochs: SSL_BUDGET, learningRate: 0.001, batchSize: 4, maskRatio: 0.6 },
      });
      // The initial model, not the SSL stage's global (which every site's records trained).
      expect(tasks[0].global.map((a) => [...a.values])).toEqual(INITIAL.map((a) => [...a.values]));
    }
    // Site k's row: the initial model moved by its own SSL and fine-tune epochs alone; the decoder
    // (pre-trained at the site, but not part of a fine-tune upload) is the initial one.
    for (const [k, owner] of SITES.entries()) {
      for (const [i, tensor] of local.crossSite.get(owner)!.entries()) {
        const moved = tensor.name.startsWith('decoder/') ? 0 : (SSL_BUDGET + BUDGET) * steps[k];
        tensor.values.forEach((v, j) => expect(v).toBeCloseTo(INITIAL[i].values[j] + moved, 6));
      }
    }
  });

  it("FedBN: a local-only model is the site's whole model, its normalisation layers trained and uploaded with it", async () => {
    const steps = [0.01, 0.03, -0.02];
    const fedbn = await simulate('fedbn', 'local-only', steps, 'fedbn');
    expect(fedbn.outcome.reason).toBeUndefined();
    expect(fedbn.outcome.state).toBe('completed');
    for (const [k, owner] of SITES.entries()) {
      const norm = fedbn.crossSite.get(owner)!.find((t) => t.name === 'encoder/norm/gamma')!;
      norm.values.forEach((v) => expect(v).toBeCloseTo(1 + BUDGET * steps[k], 6));
    }
    // The federated rounds kept them at the sites, as FedBN does: the global's are the initial ones.
    const federated = await simulate('fedbn-global', 'global-finetuned', steps, 'fedbn');
    const norm = federated.crossSite.get('hospital-a')!.find((t) => t.name === 'encoder/norm/gamma')!;
    expect([...norm.values]).toEqual([1, 1]);
  });
});
