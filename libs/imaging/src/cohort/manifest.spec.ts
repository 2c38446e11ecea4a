import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../common/src';
import { parseManifest, resolveManifestPath } from './manifest';

const parse = (text: string) => parseManifest(text, '/data/site/manifest.csv');

describe('parseManifest', () => {
  it('reads rows with paths relative to the manifest, labels, splits and phase times', () => {
    const m = parse(
      '\ufeffPatient_ID, DCE ,mask,label,split,phase_times,notes\n' +
        'a,img/a.nii.gz,img/a_mask.nii.gz,1,train,0;20;35,first\n' +
        '\n' +
        'b,"b0.nii;b1.nii",b_mask.nii,,TEST,,\n' +
        'c,c.nii,c_mask.nii,0.0,train,,\n',
    );
    expect(m.skipped).toEqual([]);
    expect(m.totalRows).toBe(3);
    expect(m.rows[0]).toEqual({
      row: 2,
      patientId: 'a',
      dcePaths: ['/data/site/img/a.nii.gz'],
      maskPath: '/data/site/img/a_mask.nii.gz',
      label: 1,
      split: 'train',
      phaseTimes: [0, 20, 35],
    });
    expect(m.rows[1]).toMatchObject({
      row: 4,
      dcePaths: ['/data/site/b0.nii', '/data/site/b1.nii'],
      label: null,
      split: 'test',
      phaseTimes: null,
    });
    expect(m.rows[2].label).toBe(0);
  });

  it('names every missing required column', () => {
    expect(() => parse('patient_id,dce,split\n')).toThrow(/missing required columns "mask", "label"/);
    expect(() => parse('patient_id,dce,split\n')).toThrow(InputError);
    expect(() => parse('')).toThrow(/empty manifest/);
    expect(() => parse('patient_id,dce,mask,label,split,dce\n')).toThrow(/column "dce" appears twice/);
  });

  it('reports each bad row with its line number and id, keeping the good ones', () => {
    const m = parse(
      [
        'patient_id,dce,mask,label,split,phase_times',
        'ok,a.nii,am.nii,1,train,',
        ',a.nii,am.nii,1,train,',
        'short,a.nii,am.nii,1',
        'nodce,,am.nii,1,train,',
        'nomask,a.nii,,1,train,',
        'lab,a.nii,am.nii,yes,train,',
        'spl,a.nii,am.nii,1,valid,',
        'times,a.nii,am.nii,1,train,0;x;60',
        'tie,a.nii,am.nii,1,train,0;30;30',
        'list,a.nii;;b.nii,am.nii,1,train,',
        'ok,b.nii,bm.nii,0,test,',
      ].join('\n'),
    );
    expect(m.rows.map((r) => r.patientId)).toEqual(['ok', 'tie']);
    expect(m.rows[1].phaseTimes).toEqual([0, 30, 30]);
    expect(m.skipped).toEqual([
      { row: 3, patientId: '', reason: 'empty patient_id' },
      { row: 4, patientId: 'short', reason: 'has 4 fields, header has 6' },
      { row: 5, patientId: 'nodce', reason: 'empty dce' },
      { row: 6, patientId: 'nomask', reason: 'empty mask' },
      { row: 7, patientId: 'lab', reason: 'unknown label "yes" (use 1, 0 or leave empty)' },
      { row: 8, patientId: 'spl', reason: 'unknown split "valid" (use train, val, test)' },
      { row: 9, patientId: 'times', reason: 'phase_times "0;x;60": "x" is not a number of seconds' },
      { row: 11, patientId: 'list', reason: 'dce "a.nii;;b.nii" has an empty entry in its ;-separated list' },
      { row: 12, patientId: 'ok', reason: 'duplicate patient_id (first on row 2)' },
    ]);
  });
});

describe('resolveManifestPath', () => {
  it('accepts a folder or a file and names what is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-manifest-'));
    try {
      expect(() => resolveManifestPath(dir)).toThrow(
        `cohort manifest not found: ${join(dir, 'manifest.csv')}`,
      );
      expect(() => resolveManifestPath(join(dir, 'x'))).toThrow(/cohort not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
