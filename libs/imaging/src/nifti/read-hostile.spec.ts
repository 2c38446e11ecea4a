import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readNifti, readNiftiSync } from './read';
import { niftiBudget } from './read-budget';
import { encodeNifti } from './write';

/**
 * Issue #18 rows 2 and 3: a NIfTI file costs what its header says, at most the cap, whatever its
 * bytes inflate to; only regular files are opened. Bombs are built on the fly from concatenated
 * gzip members (4 MiB of zeros each, ~4 KiB compressed), never stored.
 */
const MiB = 1024 * 1024;

/** A valid 8×8×4 int16 image, whose header dims we then rewrite to claim whatever we like. */
function smallImage(): Buffer {
  const data = new Int16Array(8 * 8 * 4).map((_, i) => i % 100);
  return encodeNifti({ dims: [8, 8, 4], pixdim: [1, 1, 1], datatype: 'int16', data });
}

function claimDims(file: Buffer, dims: number[]): Buffer {
  const copy = Buffer.from(file);
  copy.writeInt16LE(dims.length, 40);
  dims.forEach((d, i) => copy.writeInt16LE(d, 42 + 2 * i));
  return copy;
}

const zeroMember = gzipSync(Buffer.alloc(4 * MiB));
const bomb = (head: Buffer, inflatedBytes: number) =>
  Buffer.concat([
    gzipSync(head),
    ...Array.from({ length: Math.ceil(inflatedBytes / (4 * MiB)) }, () => zeroMember),
  ]);

describe('NIfTI reading within a budget (issue #18)', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-nifti-hostile-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };

  it('knows the cost of a header before reading voxels', () => {
    expect(niftiBudget(smallImage())).toEqual({
      fileBytes: 352 + 8 * 8 * 4 * 2,
      voxels: 256,
      memoryBytes: 352 + 512 + 1024,
    });
    expect(niftiBudget(Buffer.alloc(100))).toBeUndefined();
  });

  it('row 2: a 1 MB file whose header claims 1 GiB of voxels is refused from the header, in milliseconds', async () => {
    // 1024 × 1024 × 512 uint16 = 1 GiB of data (+ 2 GiB as float32): over the 2 GiB default cap.
    const head = claimDims(smallImage(), [1024, 1024, 512]);
    head.writeInt16LE(512, 70); // uint16
    head.writeInt16LE(16, 72);
    const path = file('claims-1gib.nii.gz', bomb(head, 8 * MiB));
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    await expect(readNifti(path)).rejects.toMatchObject({
      code: 'NIFTI_TOO_LARGE',
      message: expect.stringMatching(
        /^\S+claims-1gib\.nii\.gz: its header declares 536870912 voxels, which need 3\.0 GiB to read; the cap is 2\.0 GiB$/,
      ),
    });
    expect(() => readNiftiSync(path, { maxBytes: 64 * MiB })).toThrow(/cap is 64\.0 MiB/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(100 * MiB);
  });

  it('row 2: a small header followed by data that inflates to 256 MiB costs only the header’s size', async () => {
    const path = file('trailing-bomb.nii.gz', bomb(smallImage(), 256 * MiB));
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    const image = await readNifti(path);
    expect(image.dims).toEqual([8, 8, 4]);
    expect(image.data[5]).toBe(5);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(32 * MiB);
  });

  it('row 2: a gzip stream that breaks before the voxels are complete says "corrupt gzip", one that ends early says "truncated"', async () => {
    const gz = gzipSync(smallImage());
    const broken = Buffer.from(gz);
    broken.fill(0xff, 40, 60);
    await expect(readNifti(file('broken.nii.gz', broken))).rejects.toThrow(/corrupt gzip stream/);
    const short = gzipSync(smallImage().subarray(0, 600));
    await expect(readNifti(file('short.nii.gz', short))).rejects.toThrow(
      /truncated: 256 voxels of int16 need 512 bytes/,
    );
  });

  it('honours a configurable cap', async () => {
    const path = file('small.nii', smallImage());
    await expect(readNifti(path, { maxBytes: 1000 })).rejects.toMatchObject({ code: 'NIFTI_TOO_LARGE' });
    expect((await readNifti(path, { maxBytes: 2000 })).dims).toEqual([8, 8, 4]);
  });

  it('row 3: /dev/zero, a FIFO and a directory are refused before reading, without hanging', async () => {
    const fifo = join(dir, 'pipe.nii');
    execFileSync('mkfifo', [fifo]);
    const t0 = Date.now();
    await expect(readNifti('/dev/zero')).rejects.toMatchObject({
      code: 'NIFTI_NOT_REGULAR',
      message: '/dev/zero: is a device; only regular files are read',
    });
    await expect(readNifti(fifo)).rejects.toMatchObject({
      code: 'NIFTI_NOT_REGULAR',
      message: expect.stringMatching(/is a FIFO/),
    });
    await expect(readNifti(dir)).rejects.toMatchObject({ code: 'NIFTI_NOT_REGULAR' });
    expect(() => readNiftiSync('/dev/zero')).toThrow(/is a device/);
    expect(() => readNiftiSync(fifo)).toThrow(/is a FIFO/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
