import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../../../libs/common/src';
import { writeNiftiSync } from '../../../../libs/imaging/src/nifti/write';
import { lastJsonLine, runCliCaptured } from '../__tests__/run-cli';

async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const { stdout, stderr, code } = await runCliCaptured(args, null);
  return { out: stdout, err: stderr, code };
}

interface InspectJson {
  dims: number[];
  pixdim: number[];
  affine: number[][];
  min: number;
  max: number;
  mean: number;
  [key: string]: unknown;
}
const lastJson = (out: string) => lastJsonLine<InspectJson>(out);

describe('phcc-fed inspect', () => {
  const reference = join(
    packageRoot(),
    'libs',
    'imaging',
    'src',
    'nifti',
    'testdata',
    'reoriented_anat_moved.nii',
  );

  it('prints the nibabel-equivalent summary and a JSON last line', async () => {
    const { out, code } = await cli('inspect', reference, '--json');
    expect(code).toBe(0);
    const json = lastJson(out);
    expect(json).toMatchObject({
      dims: [21, 26, 22],
      pixdim: [4, 4, 4],
      datatype: '>f4',
      min: 0,
      sformCode: 2,
    });
    expect(json.max).toBeCloseTo(21199.935546875, 3);
    expect(json.mean).toBeCloseTo(2725.588532230912, 3);
    expect(json.affine[0][3]).toBeCloseTo(-35.297897, 5);
    expect(out).toMatch(/orientation\s+RAS/);
    expect(out).toMatch(/datatype\s+float32 \(code 16, numpy >f4\)/);
    expect(out).toMatch(/format\s+NIfTI-1, big-endian/);
  });

  it('shows the time step of a 4-D series and lists one pixdim per dimension', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-inspect-'));
    try {
      const file = join(dir, 'dce.nii.gz');
      writeNiftiSync(file, {
        dims: [3, 2, 2, 5],
        pixdim: [0.7, 0.7, 3, 12.5],
        affine: [
          [-0.7, 0, 0, 1],
          [0, -0.7, 0, 2],
          [0, 0, 3, 3],
          [0, 0, 0, 1],
        ],
        datatype: 'int16',
        data: Int16Array.from({ length: 60 }, (_, i) => i),
        sclSlope: 2,
        sclInter: -1,
      });
      const { out } = await cli('inspect', file, '--json');
      const json = lastJson(out);
      expect(json.dims).toEqual([3, 2, 2, 5]);
      expect(json.pixdim.map((x: number) => Math.fround(x))).toEqual([0.7, 0.7, 3, 12.5].map(Math.fround));
      expect([json.min, json.max, json.mean]).toEqual([-1, 117, 58]);
      expect(out).toMatch(/time step\s+12\.5 sec\s+\(5 volumes\)/);
      expect(out).toMatch(/orientation\s+LPS/);
      expect(out).toMatch(/scaling\s+× 2 - 1\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 with a message naming an unreadable file', async () => {
    const { err, code } = await cli('inspect', '/no/such/file.nii.gz');
    expect(code).toBe(2);
    expect(err).toBe('phcc-fed: error: /no/such/file.nii.gz: cannot read file (ENOENT)\n');
  });
});
