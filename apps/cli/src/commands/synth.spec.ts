import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliCaptured } from '../__tests__/run-cli';

const synth = (...args: string[]) => runCliCaptured(['synth', ...args]);

// The CI machine has 2 shared cores; the work itself is a second or two.
jest.setTimeout(60_000);

describe('phcc-fed synth', () => {
  let root: string;
  beforeAll(() => (root = mkdtempSync(join(tmpdir(), 'phcc-synth-cli-'))));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes the sites, prints a per-site summary and ends --json output with one JSON line', async () => {
    const out = join(root, 'cohort');
    const r = await synth(
      '--out',
      out,
      '--sites',
      '2',
      '--patients',
      '4',
      '--seed',
      '3',
      '--scale',
      '0.25',
      '--labelled-fraction',
      '0.5',
      '--report',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/site-a +4 /);
    expect(r.stdout).toContain('class separability');
    const lines = r.stdout.trim().split('\n');
    const j = JSON.parse(lines[lines.length - 1]) as {
      sites: { name: string; manifest: string; patients: number; fieldStrength: number }[];
      report: { latent: { oracleAuc: number }; image: { featureAuc: Record<string, number> } };
    };
    expect(j.sites.map((s) => s.name)).toEqual(['site-a', 'site-b']);
    expect(new Set(j.sites.map((s) => s.fieldStrength))).toEqual(new Set([1.5, 3]));
    for (const s of j.sites) {
      expect(existsSync(s.manifest)).toBe(true);
      expect(readFileSync(s.manifest, 'utf8').trim().split('\n')).toHaveLength(5);
    }
    expect(Object.keys(j.report.image.featureAuc)).toHaveLength(6);
  });

  it('refuses to overwrite a non-empty site directory (exit 2) unless --force', async () => {
    const out = join(root, 'cohort');
    const before = readFileSync(join(out, 'site-a', 'manifest.csv'), 'utf8');
    const refused = await synth('--out', out, '--sites', '1', '--patients', '1', '--scale', '0.25');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--force');
    expect(readFileSync(join(out, 'site-a', 'manifest.csv'), 'utf8')).toBe(before);
    const forced = await synth('--out', out, '--sites', '1', '--patients', '1', '--scale', '0.25', '--force');
    expect(forced.code).toBe(0);
    expect(
      readFileSync(join(out, 'site-a', 'manifest.csv'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(2);
  });

  it.each([
    [['--sites', 'two'], '--sites'],
    [['--patients', '0'], '--patients'],
    [['--labelled-fraction', '2'], '--labelled-fraction'],
    [['--scale', '3'], '--scale'],
  ])('rejects %j with exit code 2 naming the flag', async (args, flag) => {
    const r = await synth('--out', join(root, 'bad'), ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(flag);
  });
});
