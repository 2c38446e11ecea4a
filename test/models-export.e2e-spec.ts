import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../libs/common/src';
import { startCoordinator } from '../apps/coordinator/src/create-app';
import { cli } from './support/in-process-cli';

/**
 * `models export` of a federated run's final model, then `evaluate` of the exported folder on a
 * site's test split: it must give exactly the AUC that site reported in the run (same weights,
 * same preprocessing, same patients). The run is `demo --quick` (2 sites, 1 fine-tune round, real
 * agent processes); the coordinator is then restarted on the run's database with a new admin
 * token, as an operator would export after the fact.
 */
jest.setTimeout(180_000);

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

describe('phcc-fed models export → evaluate reproduces the run', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'phcc-export-e2e-'));
  });
  afterAll(() => {
    delete process.env.PHCC_ADMIN_TOKEN;
    rmSync(out, { recursive: true, force: true });
  });

  it("evaluate of the exported final model gives each site's reported AUC exactly", async () => {
    const demo = await cli(
      ...[
        'demo',
        '--quick',
        '--sites',
        '2',
        '--patients',
        '24',
        '--ssl-rounds',
        '0',
        '--finetune-rounds',
        '1',
      ].concat(['--out', out, '--timeout', '150', '--json']),
    );
    expect(demo.code).toBe(0);
    const runId = lastJson(demo.stdout).runId as string;
    const runDir = join(
      out,
      readdirSync(out).find((d) => d.startsWith('demo-'))!,
    );

    const token = randomBytes(24).toString('hex');
    const coordinator = await startCoordinator({
      dbFile: join(runDir, 'coordinator.sqlite'),
      kitDir: join(runDir, 'kits'),
      dataDir: join(runDir, 'coordinator-data'),
      host: '127.0.0.1',
      port: 0,
      adminToken: token,
      log: silentLog,
    });
    try {
      const exportDir = join(out, 'exported');
      // No token anywhere: refused with a clear message, nothing written.
      delete process.env.PHCC_ADMIN_TOKEN;
      const refused = await cli(
        ...['models', 'export', '--coordinator', coordinator.url, '--run', runId, '--out', exportDir],
      );
      expect(refused.code).toBe(2);
      process.env.PHCC_ADMIN_TOKEN = token;
      const exported = await cli(
        ...[
          'models',
          'export',
          '--coordinator',
          coordinator.url,
          '--run',
          runId,
          '--out',
          exportDir,
          '--json',
        ],
      );
      expect(exported.code).toBe(0);
      const what = lastJson(exported.stdout);
      expect(what).toMatchObject({ runId, stage: 'finetune', round: 0 });
      const meta = JSON.parse(readFileSync(join(exportDir, 'phcc-model.json'), 'utf8')) as {
        extra: { runId: string; digest: string; round: number; plan: { model: { imageSize: number } } };
      };
      expect(meta.extra.runId).toBe(runId);
      expect(meta.extra.digest).toBe(what.digest);
      expect(meta.extra.plan.model.imageSize).toBe(32);

      const results = (await (
        await fetch(`${coordinator.url}/runs/${runId}/results`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as {
        evaluations: {
          modelOf: string;
          siteId: string;
          stage?: string;
          round?: number;
          auc?: number;
          modelDigest: string;
        }[];
      };
      const final = results.evaluations.filter((e) => e.modelOf === 'global' && e.round === 0);
      expect(final.map((e) => e.siteId).sort()).toEqual(['site-a', 'site-b']);
      for (const e of final) {
        expect(e.modelDigest).toBe(what.digest);
        const evaluated = await cli(
          ...['evaluate', '--model', exportDir, '--cohort', join(out, 'cohort', e.siteId), '--json'],
        );
        expect(evaluated.code).toBe(0);
        expect(lastJson(evaluated.stdout).auc).toBe(e.auc);
      }
    } finally {
      await coordinator.close();
    }
  });
});
