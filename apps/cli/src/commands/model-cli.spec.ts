import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../../../libs/model/src/io';
import { PhccModel } from '../../../../libs/model/src/network/model';
import { lastJsonLine, runCliCaptured } from '../__tests__/run-cli';
import { TINY_MODEL } from './model-inputs';

const cli = (...args: string[]) => runCliCaptured(['--backend', 'wasm', ...args]);
const lastJson = lastJsonLine;

jest.setTimeout(90_000);

describe('phcc-fed train / evaluate / predict', () => {
  let root: string;
  let site: string;
  let modelDir: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'phcc-model-cli-'));
    const synth = await cli(
      'synth',
      ...['--out', join(root, 'cohort'), '--sites', '1', '--patients', '16', '--seed', '2'],
      // No validation split here: the counts below are those of a train/test cohort.
      ...['--scale', '0.3', '--threads', '0', '--val-fraction', '0'],
    );
    expect(synth.code).toBe(0);
    site = join(root, 'cohort', 'site-a');
    modelDir = join(root, 'model');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('train --stage both writes the SSL checkpoint and the fine-tuned model with the site statistics', async () => {
    // Named phases with nominal times: the dynamic tokens then use each patient's actual times,
    // so "predict gives the same probability as evaluate" below covers both passing them.
    const r = await cli(
      'train',
      ...[
        '--cohort',
        site,
        '--out',
        modelDir,
        '--tiny',
        '--epochs',
        '1',
        '--phases',
        'gadoxetate-6',
        '--json',
      ],
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = lastJson(r.stdout);
    const stages = j.stages as Array<{ stage: string; epochs: number; finalLoss: number; modelDir: string }>;
    expect(stages.map((s) => s.stage)).toEqual(['ssl', 'finetune']);
    expect(stages.every((s) => s.epochs === 1 && Number.isFinite(s.finalLoss))).toBe(true);
    expect(stages[0].modelDir).toBe(join(modelDir, 'ssl'));
    expect(j.trainPatients).toBe(11); // synth seed 2: 11 of 16 patients in the training split
    const meta = JSON.parse(readFileSync(join(modelDir, 'phcc-model.json'), 'utf8')) as {
      stage: string;
      config: { imageSize: number; phaseTimes?: number[] };
      preprocessing: { size: number; sites: Array<{ name: string; normalisation: { source: string } }> };
    };
    expect(meta.stage).toBe('finetune');
    expect(meta.preprocessing.size).toBe(meta.config.imageSize);
    expect(meta.config.phaseTimes).toEqual([0, 25, 35, 70, 180, 1200]);
    expect(meta.preprocessing.sites.map((s) => [s.name, s.normalisation.source])).toEqual([
      ['site-a', 'train'],
    ]);
    expect(existsSync(join(modelDir, 'ssl', 'weights.bin'))).toBe(true);
  });

  it('evaluate --json reports auc, ci95, n and writes one CSV row per labelled test patient', async () => {
    const r = await cli('evaluate', '--model', modelDir, '--cohort', site, '--json');
    expect(r.code).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.auc as number).toBeGreaterThanOrEqual(0);
    expect(j.auc as number).toBeLessThanOrEqual(1);
    const ci = j.ci95 as number[];
    expect(ci[0]).toBeLessThanOrEqual(j.auc as number);
    expect(ci[1]).toBeGreaterThanOrEqual(j.auc as number);
    expect(j).toMatchObject({ n: 5, n_pos: 2, n_neg: 3, split: 'test', normalisation: 'cohort' });
    const csv = readFileSync(join(modelDir, 'predictions-site-a.csv'), 'utf8').trim().split('\n');
    // `train` stored the training prevalence: the CSV adds probabilities recalibrated to it.
    expect(csv[0]).toBe('patient_id,label,score,probability');
    expect(csv).toHaveLength(1 + (j.n as number));
    expect(r.stdout).toContain('AUC ');
    expect(j.scores).toBe('probability');
    // No validation split and no --threshold: no fixed-threshold metrics, said so.
    expect(j.threshold).toBeNull();
    expect(r.stdout).toContain('no validation split');
  });

  it('reports sensitivity, specificity, PPV, NPV and accuracy at a fixed threshold: given, or chosen on the validation split', async () => {
    const given = await cli(
      'evaluate',
      '--model',
      modelDir,
      '--cohort',
      site,
      '--threshold',
      '0.5',
      '--json',
    );
    expect(given.code).toBe(0);
    const j = lastJson(given.stdout);
    const csv = readFileSync(join(modelDir, 'predictions-site-a.csv'), 'utf8').trim().split('\n').slice(1);
    const rows = csv.map((line) => line.split(',')).map(([, y, s]) => ({ y: Number(y), s: Number(s) }));
    const tp = rows.filter((r) => r.y === 1 && r.s >= 0.5).length;
    const tn = rows.filter((r) => r.y === 0 && r.s < 0.5).length;
    expect(j.threshold).toMatchObject({
      source: 'given',
      value: 0.5,
      tp,
      tn,
      accuracy: (tp + tn) / rows.length,
    });
    // A validation split: two labelled training patients (one of each class) moved to `val`.
    const valSite = join(root, 'with-val');
    cpSync(site, valSite, { recursive: true });
    const [header, ...lines] = readFileSync(join(site, 'manifest.csv'), 'utf8').trim().split('\n');
    const col = header.split(',');
    const moved = new Set<string>();
    const edited = lines.map((line) => {
      const cells = line.split(',');
      const label = cells[col.indexOf('label')];
      if (cells[col.indexOf('split')] === 'train' && (label === '0' || label === '1') && !moved.has(label)) {
        moved.add(label);
        cells[col.indexOf('split')] = 'val';
      }
      return cells.join(',');
    });
    expect(moved.size).toBe(2);
    writeFileSync(join(valSite, 'manifest.csv'), [header, ...edited].join('\n') + '\n');
    const fromVal = await cli('evaluate', '--model', modelDir, '--cohort', valSite, '--json');
    expect(fromVal.code).toBe(0);
    const v = lastJson(fromVal.stdout) as { threshold: { source: string; value: number }; n: number };
    expect(v.threshold.source).toBe('Youden on 2 validation patients');
    // JSON has no ∞: a validation split on which no cut-off beats chance gives null.
    expect(v.threshold.value === null || Number.isFinite(v.threshold.value)).toBe(true);
    expect(v.n).toBe(j.n);
  });

  it('predict gives the same probability as evaluate with the stored statistics, and writes Grad-CAM files', async () => {
    const out = join(root, 'all.csv');
    const e = await cli(
      'evaluate',
      ...['--model', modelDir, '--cohort', site, '--split', 'all', '--normalisation', 'model'],
      ...['--out', out, '--json'],
    );
    expect(e.code).toBe(0);
    expect(lastJson(e.stdout).normalisation).toBe('model:site-a');
    const [id, , score] = readFileSync(out, 'utf8').trim().split('\n')[1].split(',');
    const camDir = join(root, 'cam');
    const images = join(site, 'images');
    // The patient's phase times, as the manifest gives them to evaluate (the dynamic tokens use them).
    const times = readFileSync(join(site, 'manifest.csv'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith(`${id},`))!
      .split(',')[5];
    const p = await cli(
      'predict',
      ...['--model', modelDir, '--dce', join(images, `${id}_dce.nii.gz`)],
      ...['--mask', join(images, `${id}_mask.nii.gz`), '--phase-times', times, '--cam', camDir, '--json'],
    );
    expect(p.code).toBe(0);
    const j = lastJson(p.stdout);
    expect(j.patient).toBe(id);
    const probability = j.probability as number;
    expect(probability).toBeGreaterThanOrEqual(0);
    expect(probability).toBeLessThanOrEqual(1);
    expect(probability).toBeCloseTo(Number(score), 5);
    for (let t = 0; t < 6; t++) expect(existsSync(join(camDir, `${id}_phase${t}.png`))).toBe(true);
    expect(existsSync(join(camDir, `${id}_gradcam.nii.gz`))).toBe(true);
  });

  it("evaluate falls back to the model's stored statistics for a cohort without training patients", async () => {
    const testOnly = join(root, 'test-only');
    mkdirSync(testOnly);
    const [header, ...rows] = readFileSync(join(site, 'manifest.csv'), 'utf8').trim().split('\n');
    const abs = (p: string) => join(site, p);
    const moved = rows.map((line) => {
      const [id, dce, mask, label, , times] = line.split(',');
      return [id, abs(dce), abs(mask), label, 'test', times].join(',');
    });
    writeFileSync(join(testOnly, 'manifest.csv'), [header, ...moved].join('\n') + '\n');
    const outside = await cli('evaluate', '--model', modelDir, '--cohort', testOnly, '--json');
    expect(outside.code).toBe(2); // absolute paths elsewhere: refused unless asked for
    const auto = await cli(
      'evaluate',
      '--model',
      modelDir,
      '--cohort',
      testOnly,
      '--allow-outside-paths',
      '--json',
    );
    expect([auto.code, auto.stderr]).toEqual([0, '']);
    const j = lastJson(auto.stdout);
    expect(j.normalisation).toBe('model:site-a');
    const forced = await cli(
      'evaluate',
      ...['--model', modelDir, '--cohort', site, '--split', 'all', '--normalisation', 'model', '--json'],
    );
    const scores = (file: string) =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[2]);
    expect(scores(j.predictions as string)).toEqual(scores(lastJson(forced.stdout).predictions as string));
  });

  it('--stage finetune --from starts from the SSL encoder; --no-ssl from random weights', async () => {
    // One fine-tune epoch inside a one-epoch frozen-encoder warm-up: the encoder must come out
    // exactly as it went in: the SSL encoder with --from, the seeded initial one with --no-ssl.
    const fromSsl = join(root, 'from-ssl');
    const r = await cli(
      'train',
      ...['--cohort', site, '--out', fromSsl, '--stage', 'finetune', '--from', join(modelDir, 'ssl')],
      ...['--finetune-epochs', '1', '--freeze-encoder-epochs', '1', '--json'],
    );
    expect(r.code).toBe(0);
    const scratch = join(root, 'no-ssl');
    const n = await cli(
      'train',
      ...['--cohort', site, '--out', scratch, '--stage', 'finetune', '--no-ssl', '--tiny'],
      ...['--finetune-epochs', '1', '--freeze-encoder-epochs', '1', '--seed', '0'],
    );
    expect(n.code).toBe(0);
    const encoder = async (dir: string) => {
      const { model } = await loadModel(dir);
      const arrays = model.params.getWeights({ parts: ['encoder'] });
      model.dispose();
      return arrays;
    };
    const ssl = await encoder(join(modelDir, 'ssl'));
    const tuned = await encoder(fromSsl);
    expect(tuned.map((a) => a.name)).toEqual(ssl.map((a) => a.name));
    tuned.forEach((a, i) => expect(Array.from(a.values)).toEqual(Array.from(ssl[i].values)));
    const fresh = PhccModel.create(TINY_MODEL, 0);
    const init = fresh.params.getWeights({ parts: ['encoder'] });
    fresh.dispose();
    const scratchEncoder = await encoder(scratch);
    scratchEncoder.forEach((a, i) => expect(Array.from(a.values)).toEqual(Array.from(init[i].values)));
    expect(Array.from(scratchEncoder[0].values)).not.toEqual(Array.from(ssl[0].values));
  });

  it('--labelled-fraction fine-tunes on a stratified share of the labels and refuses a bad share', async () => {
    const all = await cli(
      'train',
      '--cohort',
      site,
      '--out',
      join(root, 'lf-all'),
      '--stage',
      'finetune',
      '--no-ssl',
      '--tiny',
      '--finetune-epochs',
      '1',
      '--json',
    );
    const half = await cli(
      'train',
      '--cohort',
      site,
      '--out',
      join(root, 'lf-half'),
      '--stage',
      'finetune',
      '--no-ssl',
      '--tiny',
      '--finetune-epochs',
      '1',
      '--labelled-fraction',
      '0.5',
      '--json',
    );
    expect([all.code, half.code]).toEqual([0, 0]);
    const labelled = (r: { stdout: string }) => lastJson(r.stdout).labelledPatients as number;
    expect(lastJson(half.stdout).trainPatients).toBe(11);
    expect(labelled(all)).toBeGreaterThanOrEqual(4);
    expect(labelled(half)).toBeLessThan(labelled(all));
    expect(labelled(half)).toBeGreaterThanOrEqual(2); // one of each class at least
    const bad = await cli(
      'train',
      '--cohort',
      site,
      '--out',
      join(root, 'x'),
      '--tiny',
      '--labelled-fraction',
      '1.5',
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--labelled-fraction must be a number in (0, 1] (got "1.5")');
  });

  it('predict on a file that is not NIfTI exits 2 and names the file', async () => {
    const bad = join(root, 'not-a-scan.nii.gz');
    writeFileSync(bad, 'hello, not an image');
    const r = await cli(
      'predict',
      ...['--model', modelDir, '--dce', bad, '--mask', join(site, 'images', 'A0003_mask.nii.gz')],
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^phcc-fed: error: .*not-a-scan\.nii\.gz/);
  });

  it('bad inputs exit 2 with the offending path or option named', async () => {
    const missing = join(root, 'no-such-cohort');
    const t = await cli('train', '--cohort', missing, '--out', join(root, 'x'), '--tiny');
    expect(t.code).toBe(2);
    expect(t.stderr).toContain(`--cohort ${missing}: no such file or directory`);
    const f = await cli('train', '--cohort', site, '--out', join(root, 'x'), '--stage', 'finetune');
    expect(f.code).toBe(2);
    expect(f.stderr).toContain('--stage finetune needs --from');
    const m = await cli('evaluate', '--model', root, '--cohort', site);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('no phcc-model.json');
    const d = await cli('predict', '--model', modelDir, '--dce', join(root, 'nope.nii'), '--mask', 'nope');
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('nope.nii: no such file');
  });
});
