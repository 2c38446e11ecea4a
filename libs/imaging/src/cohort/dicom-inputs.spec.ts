import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticSeries, writeMrSeries, writeSeg } from '../dicom/write-dicom';
import { loadPatient } from './load-patient';
import { parseManifest } from './manifest';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phcc-dicom-row-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const series: SyntheticSeries = {
  patientId: 'P9',
  studyUid: '2.25.900',
  seriesUid: '2.25.900.1',
  seriesNumber: 4,
  frameOfReferenceUid: '2.25.900.9',
  rows: 12,
  columns: 12,
  pixelSpacing: [1, 1],
  orientation: [1, 0, 0, 0, 1, 0],
  firstPosition: [0, 0, 0],
  sliceSpacing: 3,
  slices: 5,
  phases: 4,
  phaseTag: 'temporal-position',
  phaseTimes: [0, 35, 75, 180],
  value: (i, _j, _k, t) => 100 + t * 10 + i,
};

function row(dce: string, mask: string) {
  const text = `patient_id,dce,mask,label,split\nP9,${dce},${mask},1,train\n`;
  writeFileSync(join(dir, 'manifest.csv'), text);
  return parseManifest(text, join(dir, 'manifest.csv')).rows[0];
}

describe('loadPatient with DICOM inputs', () => {
  it('reads a 4-phase DICOM DCE and a DICOM-SEG mask, phase times from the headers', async () => {
    writeMrSeries(join(dir, 'P9', 'dce'), series);
    writeSeg(join(dir, 'P9', 'seg', 'tumour.dcm'), series, [
      {
        number: 1,
        label: 'HCC',
        inside: (i, j, k) => i >= 4 && i < 8 && j >= 4 && j < 8 && k >= 1 && k <= 3,
      },
    ]);
    const patient = await loadPatient(row('P9/dce', 'P9/seg'), dir, { phases: 4 });
    expect(patient.dce.dims).toEqual([12, 12, 5]);
    expect(patient.dce.storedPhases).toBe(4);
    expect(patient.tumourVoxels).toBe(4 * 4 * 3);
    expect(patient.phaseTimes).toEqual([0, 35, 75, 180]);
    expect(patient.phaseOrder).toEqual([0, 1, 2, 3]);
  });

  it('reports a bad DICOM row with the path as the manifest writes it', async () => {
    writeMrSeries(join(dir, 'P9', 'dce'), { ...series, skipSlices: [2], phases: 1 });
    await expect(loadPatient(row('P9/dce', 'P9/dce'), dir, { phases: 1 })).rejects.toThrow(
      /^unreadable DCE DICOM P9\/dce: series 4 .* missing slice/,
    );
  });

  it('says how many phases the DICOM holds against the model', async () => {
    writeMrSeries(join(dir, 'P9', 'dce'), series);
    await expect(loadPatient(row('P9/dce', 'P9/dce'), dir, { phases: 6 })).rejects.toThrow(
      'too few phases: 4 in the DCE, the model needs 6',
    );
  });
});
