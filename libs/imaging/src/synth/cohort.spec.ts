import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../../common/src';
import { generateCohort, MANIFEST_COLUMNS } from './cohort';

/** sha256 of every file under dir, keyed by relative path. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(rel);
      else
        out[rel] = createHash('sha256')
          .update(readFileSync(join(dir, rel)))
          .digest('hex');
    }
  };
  walk('');
  return out;
}

function readManifest(path: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = header.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

// Generous: the CI machine has 2 shared cores; the work itself takes a few seconds of CPU.
jest.setTimeout(60_000);

describe('generateCohort', () => {
  let root: string;
  beforeAll(() => (root = mkdtempSync(join(tmpdir(), 'phcc-synth-'))));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const run = (name: string, seed: number, patients: number, sites = 2, extra = {}) =>
    // Small volumes (scale 0.3) keep this file fast; full-size generation is timed by `bench imaging`.
    generateCohort({
      outDir: join(root, name),
      sites,
      patients,
      seed,
      labelledFraction: 0.5,
      scale: 0.3,
      ...extra,
    });

  it('writes identical bytes for the same seed and different bytes for another seed', async () => {
    await run('a', 5, 3);
    await run('b', 5, 3);
    const a = digests(join(root, 'a'));
    expect(Object.keys(a).sort()).toEqual(
      [
        'ground-truth.csv',
        'synth.json',
        ...['site-a', 'site-b'].flatMap((s) => [
          `${s}/manifest.csv`,
          ...[1, 2, 3].flatMap((k) => [
            `${s}/images/${s.slice(-1).toUpperCase()}000${k}_dce.nii.gz`,
            `${s}/images/${s.slice(-1).toUpperCase()}000${k}_mask.nii.gz`,
          ]),
        ]),
      ].sort(),
    );
    expect(digests(join(root, 'b'))).toEqual(a);
    await run('c', 6, 1, 1);
    expect(digests(join(root, 'c'))['site-a/images/A0001_dce.nii.gz']).not.toBe(
      a['site-a/images/A0001_dce.nii.gz'],
    );
  });

  it('makes patient k the same however many patients follow it', async () => {
    await run('d', 5, 1, 1);
    const few = digests(join(root, 'd'));
    const many = digests(join(root, 'a'));
    expect(few['site-a/images/A0001_dce.nii.gz']).toBe(many['site-a/images/A0001_dce.nii.gz']);
    expect(few['site-a/images/A0001_mask.nii.gz']).toBe(many['site-a/images/A0001_mask.nii.gz']);
  });

  it('writes a manifest with the documented columns, relative paths and phase times', () => {
    const manifestPath = join(root, 'a', 'site-a', 'manifest.csv');
    expect(readFileSync(manifestPath, 'utf8').split('\n')[0]).toBe(MANIFEST_COLUMNS.join(','));
    const rows = readManifest(manifestPath);
    expect(rows.map((r) => r.patient_id)).toEqual(['A0001', 'A0002', 'A0003']);
    for (const r of rows) {
      for (const file of [r.dce, r.mask]) {
        expect(file.startsWith('/')).toBe(false);
        expect(existsSync(join(dirname(manifestPath), file))).toBe(true);
      }
      expect(['train', 'test']).toContain(r.split);
      expect(['', '0', '1']).toContain(r.label);
      if (r.split === 'test') expect(r.label).not.toBe('');
      const times = r.phase_times.split(';').map(Number);
      expect(times).toHaveLength(6);
      expect(times[0]).toBe(0);
      for (let i = 1; i < 6; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
      expect(times[3]).toBeGreaterThan(45); // portal venous ≈ 60–80 s
      expect(times[5]).toBeGreaterThan(600); // hepatobiliary, 15–20 min
    }
  });

  it('writes the ground truth beside the sites, agreeing with the manifests', () => {
    const truth = readManifest(join(root, 'a', 'ground-truth.csv'));
    expect(truth).toHaveLength(6);
    const manifest = readManifest(join(root, 'a', 'site-a', 'manifest.csv'));
    for (const row of manifest) {
      const t = truth.find((x) => x.patient_id === row.patient_id)!;
      expect(t.split).toBe(row.split);
      if (row.label !== '') expect(t.proliferative).toBe(row.label);
      expect(t.labelled).toBe(row.label === '' ? '0' : '1');
    }
  });

  it('writes a 4-D int16 DCE with 6 phases and a 3-D uint8 mask holding the tumour', () => {
    const dce = gunzipSync(readFileSync(join(root, 'a', 'site-a', 'images', 'A0001_dce.nii.gz')));
    const mask = gunzipSync(readFileSync(join(root, 'a', 'site-a', 'images', 'A0001_mask.nii.gz')));
    const dim = (b: Buffer) => Array.from({ length: b.readInt16LE(40) }, (_, i) => b.readInt16LE(42 + 2 * i));
    const [nx, ny, nz, nt] = dim(dce);
    expect(nt).toBe(6);
    expect(dim(mask)).toEqual([nx, ny, nz]);
    expect(nx).toBe(ny);
    expect(nx).toBeGreaterThanOrEqual(Math.round(96 * 0.3));
    expect(nx).toBeLessThanOrEqual(Math.round(128 * 0.3));
    expect(dce.readInt16LE(70)).toBe(4); // int16
    expect(dce.readFloatLE(112)).toBeGreaterThan(0); // scl_slope
    expect(mask.readInt16LE(70)).toBe(2); // uint8
    const tumourVoxels = mask.subarray(352).reduce((a, b) => a + b, 0);
    expect(tumourVoxels).toBeGreaterThan(10);
  });

  it('refuses to overwrite a non-empty site directory unless forced', async () => {
    const before = digests(join(root, 'a'));
    await expect(run('a', 9, 1)).rejects.toThrow(InputError);
    await expect(run('a', 9, 1)).rejects.toThrow(/--force/);
    expect(digests(join(root, 'a'))).toEqual(before);
    writeFileSync(join(root, 'a', 'keep-me.txt'), 'not ours');
    await run('a', 9, 1, 1, { force: true });
    expect(readdirSync(join(root, 'a', 'site-a', 'images'))).toEqual([
      'A0001_dce.nii.gz',
      'A0001_mask.nii.gz',
    ]);
    expect(existsSync(join(root, 'a', 'keep-me.txt'))).toBe(true);
  });

  it('rejects bad options with an InputError', async () => {
    await expect(run('e', 1, 0)).rejects.toThrow(/--patients/);
    await expect(run('e', 1, 1, 0)).rejects.toThrow(/--sites/);
    await expect(run('e', 1, 1, 1, { labelledFraction: 1.5 })).rejects.toThrow(/--labelled-fraction/);
    writeFileSync(join(root, 'a-file'), 'x');
    await expect(run('a-file', 1, 1, 1)).rejects.toThrow(/not a directory/);
  });
});
