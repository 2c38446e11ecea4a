import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadApprovals } from './approvals';
import { ConsentRefusedError, decideConsent } from './decide';
import { ConsentPlan, planDigest, planEpsilon } from './plan';
import { renderPlanSummary, summarisePlan } from './summary';

function plan(privacy?: ConsentPlan['privacy']): ConsentPlan {
  return {
    name: 'quick demo',
    stages: {
      ssl: {
        rounds: 2,
        localEpochs: 1,
        batchSize: 8,
        optimiser: { name: 'adam', lr: 0.001 },
        maskRatio: 0.6,
      },
      finetune: { rounds: 3, localEpochs: 5, batchSize: 8, optimiser: { name: 'adam', lr: 0.002 } },
    },
    strategy: { name: 'fedavg' },
    encoding: 'float16',
    evaluation: { final: true, crossSite: true },
    ...(privacy ? { privacy } : {}),
  };
}

const PRIVATE = {
  secureAggregation: true,
  threshold: 2,
  dp: { clip: 1, noiseMultiplier: 2, delta: 1e-5 },
  evaluation: { minBinCount: 5 },
};

describe('plan digest and summary', () => {
  it('the digest is stable under key order and changes with any field', () => {
    const a = plan(PRIVATE);
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as ConsentPlan;
    expect(Object.keys(reordered)[0]).toBe('privacy');
    expect(planDigest(reordered)).toBe(planDigest(a));
    expect(planDigest(a)).toMatch(/^[0-9a-f]{128}$/);
    expect(planDigest(plan({ ...PRIVATE, threshold: 3 }))).not.toBe(planDigest(a));
  });

  it('shows stages, epochs, what leaves and the privacy settings', () => {
    const s = summarisePlan(plan(PRIVATE));
    expect(s.stages).toEqual([
      { stage: 'ssl', rounds: 2, localEpochs: 1, batchSize: 8, optimiser: 'adam lr 0.001' },
      { stage: 'finetune', rounds: 3, localEpochs: 5, batchSize: 8, optimiser: 'adam lr 0.002' },
    ]);
    expect(s.sends.join('\n')).toMatch(/masked: the coordinator sees only the sum/);
    expect(s.sends.join('\n')).toMatch(/at least 5 patients in every bin/);
    expect(s.privacy.epsilon).toBeCloseTo(planEpsilon(plan(PRIVATE)), 12);
    const text = renderPlanSummary(s);
    expect(text).toContain(`--approve ${s.digest}`);
    expect(text).toMatch(/ε = \d+\.\d\d at δ = 0.00001/);
    const plain = renderPlanSummary(summarisePlan(plan()));
    expect(plain).toMatch(/in clear: the coordinator sees this site’s update/);
    expect(plain).toMatch(/unbounded \(no DP\)/);
    expect(plain).not.toMatch(/data alone/);
    const localOnly = plan();
    localOnly.evaluation = { final: true, crossSite: true, crossSiteModels: 'local-only' };
    expect(summarisePlan(localOnly).sends.join('\n')).toMatch(
      /once, after the federated rounds: a model trained on this site’s data alone \(15 fine-tune epochs from the initial model\)/,
    );
  });

  it('ε of the plan is the RDP accountant’s over all 5 rounds', () => {
    // σ = 2, q = 1, 5 rounds at δ = 1e-5: RDP 5α/8, ε = min_α 5α/8 + log1p(−1/α) − log(δα)/(α − 1).
    const eps = planEpsilon(plan(PRIVATE));
    expect(eps).toBeGreaterThan(4);
    expect(eps).toBeLessThan(6);
    expect(planEpsilon(plan())).toBe(Infinity);
  });
});

describe('consent decision', () => {
  const limits = { requireSecureAggregation: true, minBinCount: 5, maxEpsilon: 8 };

  it('trains an approved plan within the site’s limits', () => {
    const p = plan(PRIVATE);
    const d = decideConsent(p, { approvals: new Set([planDigest(p)]), limits });
    expect(d).toMatchObject({ approved: true, digest: planDigest(p) });
  });

  it('refuses with a reason code: not approved, limits broken even when approved', () => {
    const p = plan(PRIVATE);
    expect(decideConsent(p, { approvals: new Set(), limits })).toMatchObject({
      approved: false,
      code: 'PLAN_NOT_APPROVED',
    });
    const cases: [ConsentPlan, string][] = [
      [plan(), 'PLAN_NEEDS_SECURE_AGGREGATION'],
      [plan({ ...PRIVATE, evaluation: { minBinCount: 3 } }), 'PLAN_BIN_COUNT_TOO_LOW'],
      [plan({ ...PRIVATE, dp: { clip: 1, noiseMultiplier: 0.5, delta: 1e-5 } }), 'PLAN_EPSILON_TOO_HIGH'],
      [
        plan({ secureAggregation: true, threshold: 2, evaluation: { minBinCount: 5 } }),
        'PLAN_EPSILON_TOO_HIGH',
      ],
    ];
    for (const [q, code] of cases) {
      const d = decideConsent(q, { approvals: new Set([planDigest(q)]), limits });
      expect(d).toMatchObject({ approved: false, code });
      if (!d.approved)
        expect(() => {
          throw new ConsentRefusedError(d);
        }).toThrow(/^plan refused: /);
    }
  });

  it('a plan that trains nothing is not held to the update limits', () => {
    const evalOnly = { ...plan({ secureAggregation: false, evaluation: { minBinCount: 5 } }), stages: {} };
    const d = decideConsent(evalOnly, { approvals: new Set([planDigest(evalOnly)]), limits });
    expect(d.approved).toBe(true);
  });
});

describe('approvals', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'approvals-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const h1 = 'a'.repeat(128);
  const h2 = 'b'.repeat(128);

  it('reads --approve flags and an approvals folder (file names or first lines)', () => {
    writeFileSync(join(dir, `${h1}.approved`), '');
    writeFileSync(join(dir, 'quick-demo.txt'), `${h2.toUpperCase()}\napproved by the DPO, 2026-12-01\n`);
    writeFileSync(join(dir, '.DS_Store'), 'x');
    expect(loadApprovals({ approve: ['c'.repeat(128)], approvalsDir: dir })).toEqual(
      new Set([h1, h2, 'c'.repeat(128)]),
    );
  });

  it('refuses a malformed flag or approval file, naming it', () => {
    expect(() => loadApprovals({ approve: ['abc'] })).toThrow(
      '--approve abc: a plan digest is 128 hex characters',
    );
    writeFileSync(join(dir, 'note.txt'), 'looks fine to me\n');
    expect(() => loadApprovals({ approvalsDir: dir })).toThrow(
      /note\.txt: neither its name nor its first line/,
    );
    rmSync(join(dir, 'note.txt'));
    mkdirSync(join(dir, 'sub'));
    expect(() => loadApprovals({ approvalsDir: dir })).toThrow(/holds only approval files/);
    expect(() => loadApprovals({ approvalsDir: join(dir, 'missing') })).toThrow(/cannot be read/);
  });
});
