import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsentGate } from './gate';
import { ConsentPlan, planDigest } from './plan';

const plan: ConsentPlan = {
  name: 'gate',
  stages: { finetune: { rounds: 3, localEpochs: 5, batchSize: 8, optimiser: { name: 'adam', lr: 0.002 } } },
  strategy: { name: 'fedavg' },
  encoding: 'float16',
  evaluation: { final: true },
  privacy: { secureAggregation: false, dp: { clip: 1, targetEpsilon: 3, delta: 1e-5 } },
};

describe('ConsentGate', () => {
  it('asks at the prompt for a plan not yet approved; a yes is remembered and written to the approvals folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gate-'));
    const asked: string[] = [];
    const gate = new ConsentGate({
      approvalsDir: dir,
      ask: async (s, text) => (asked.push(text), s.digest.length === 128),
    });
    expect(await gate.check(plan)).toMatchObject({ approved: true, digest: planDigest(plan) });
    expect(asked[0]).toContain('privacy loss for the run: ε = 3.00 at δ = 0.00001');
    expect(readdirSync(dir)).toEqual([`${planDigest(plan)}.approved`]);
    expect(readFileSync(join(dir, `${planDigest(plan)}.approved`), 'utf8').split('\n')[0]).toBe(
      planDigest(plan),
    );
    await gate.check(plan);
    expect(asked).toHaveLength(1);
  });

  it('a no at the prompt refuses; a site limit refuses without asking', async () => {
    const no = new ConsentGate({ ask: async () => false });
    expect(await no.check(plan)).toMatchObject({ approved: false, code: 'PLAN_NOT_APPROVED' });
    let asked = false;
    const strict = new ConsentGate({
      approve: [planDigest(plan)],
      limits: { maxEpsilon: 2 },
      ask: async () => (asked = true),
    });
    expect(await strict.check(plan)).toMatchObject({ approved: false, code: 'PLAN_EPSILON_TOO_HIGH' });
    expect(asked).toBe(false);
  });

  it('refuses a task without a plan, and bad approvals at construction', async () => {
    expect(await new ConsentGate({}).check(undefined)).toMatchObject({
      approved: false,
      code: 'PLAN_MALFORMED',
    });
    expect(() => new ConsentGate({ approve: ['abc'] })).toThrow(/128 hex/);
  });
});
