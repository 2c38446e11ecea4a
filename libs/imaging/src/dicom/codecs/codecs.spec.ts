/**
 * Compressed series against their uncompressed sources: test/fixtures/dicom-compressed holds
 * series written by the project (known geometry, full-range values) and the same series encoded
 * by dcmtk and GDCM (make.sh says how). Every lossless encoding must read back to the very same
 * volume; lossy baseline JPEG to what dcmtk's own decoder makes of it.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../../common/src';
import { DicomDceVolume, readDicomDce } from '../read-dce';
import { encodedFrames, opensCodestream } from './encapsulated';

const FIXTURES = join(__dirname, '../../../../../test/fixtures/dicom-compressed');
const source = (name: string) => join(FIXTURES, 'source', name);
const encoded = (name: string) => join(FIXTURES, 'encoded', name);

function expectSameVolume(actual: DicomDceVolume, expected: DicomDceVolume): void {
  expect(actual.dims).toEqual(expected.dims);
  expect(actual.affine).toEqual(expected.affine);
  expect(actual.phaseTimes).toEqual(expected.phaseTimes);
  expect(actual.storedType).toEqual(expected.storedType);
  let differing = 0;
  for (let n = 0; n < expected.data.length; n++) if (actual.data[n] !== expected.data[n]) differing++;
  expect(differing).toBe(0);
}

describe('compressed DICOM series decode to their uncompressed source', () => {
  const sources = new Map<string, Promise<DicomDceVolume>>();
  const sourceVolume = (name: string) => {
    if (!sources.has(name)) sources.set(name, readDicomDce(source(name)));
    return sources.get(name)!;
  };

  it('the sources use the whole stored range (so sign and precision errors would show)', async () => {
    const int16 = await sourceVolume('int16');
    const uint12 = await sourceVolume('uint12');
    // int16 is rescaled by 2, −5: stored −32768 … 32767.
    expect(Math.min(...int16.data)).toBeLessThan(-60_000);
    expect(Math.max(...int16.data)).toBeGreaterThan(60_000);
    expect(uint12.dims).toEqual([20, 16, 3, 2]);
    expect(Math.max(...uint12.data.subarray(0, 20 * 16 * 3))).toBeGreaterThan(4000);
  });

  it.each([
    ['int16', 'jpeg-lossless-sv1', 'dcmcjpeg: JPEG lossless SV1 (…4.70)'],
    ['int16', 'jpeg-lossless-sv6', 'dcmcjpeg: JPEG lossless process 14, predictor 6 (…4.57)'],
    ['int16', 'jpeg-ls', 'dcmcjpls: JPEG-LS lossless (…4.80)'],
    ['int16', 'gdcm-jpeg-ls', 'gdcmconv: JPEG-LS lossless (…4.80)'],
    ['int16', 'jpeg-2000', 'gdcmconv: JPEG 2000 lossless (…4.90)'],
    ['uint12', 'jpeg-lossless-sv1', 'dcmcjpeg, Enhanced MR, 6 frames'],
    ['uint12', 'jpeg-lossless-sv6', 'dcmcjpeg, Enhanced MR, 6 frames'],
    ['uint12', 'jpeg-ls', 'dcmcjpls, Enhanced MR, 6 frames'],
    ['uint12', 'gdcm-jpeg-ls', 'gdcmconv, Enhanced MR, 6 frames'],
    ['uint12', 'jpeg-2000', 'gdcmconv, Enhanced MR, 6 frames'],
  ])('%s %s (%s)', async (kind, encoding) => {
    expectSameVolume(await readDicomDce(encoded(`${kind}-${encoding}`)), await sourceVolume(kind));
  });

  it('8-bit baseline JPEG (lossy) decodes as dcmtk decodes it, near the source', async () => {
    const ours = await readDicomDce(encoded('uint8-jpeg-baseline'));
    expectSameVolume(ours, await readDicomDce(encoded('uint8-jpeg-baseline-dcmdjpeg')));
    const original = await sourceVolume('uint8');
    let worst = 0;
    for (let n = 0; n < original.data.length; n++)
      worst = Math.max(worst, Math.abs(ours.data[n] - original.data[n]));
    expect(worst).toBeGreaterThan(0); // it is lossy: the fixture really went through JPEG
    expect(worst).toBeLessThan(16);
  });

  it('refuses a syntax without a codec, naming it', async () => {
    await expect(readDicomDce(encoded('uint12-rle'))).rejects.toThrow(
      /pixel data in RLE Lossless \(1\.2\.840\.10008\.1\.2\.5\) is not decoded/,
    );
  });

  it('a damaged codestream is one InputError naming the file, frame and codec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phcc-codec-'));
    try {
      const file = join(dir, 'enhanced.dcm');
      copyFileSync(join(encoded('uint12-jpeg-ls'), 'enhanced.dcm'), file);
      const bytes = readFileSync(file);
      // Cut every frame's codestream short of its end-of-image marker by rewriting its tail.
      const at = bytes.lastIndexOf(Buffer.from([0xff, 0xd8]));
      bytes.fill(0xff, at + 40, bytes.length - 16);
      writeFileSync(file, bytes);
      const error = await readDicomDce(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(
        /enhanced\.dcm frame 6: JPEG-LS Lossless frame does not decode with CharLS/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('encapsulated frames (PS3.5 A.4)', () => {
  const soi = (n: number) => new Uint8Array([0xff, 0xd8, n]);
  const tail = (n: number) => new Uint8Array([n, n]);

  it('one frame per fragment, or all fragments one frame in a single-frame file', () => {
    expect(encodedFrames([soi(1), soi(2)], 2)).toEqual([soi(1), soi(2)]);
    expect(encodedFrames([soi(1), tail(7)], 1)).toEqual([new Uint8Array([0xff, 0xd8, 1, 7, 7])]);
  });

  it('without an offset table, fragments are grouped at each codestream start', () => {
    const frames = encodedFrames([soi(1), tail(2), soi(3), tail(4), tail(5)], 2);
    expect(frames).toEqual([
      new Uint8Array([0xff, 0xd8, 1, 2, 2]),
      new Uint8Array([0xff, 0xd8, 3, 4, 4, 5, 5]),
    ]);
  });

  it('with an offset table (dcmjs groups the fragments), each entry is a frame', () => {
    expect(encodedFrames([[soi(1), tail(2)], [soi(3)]], 2)).toEqual([
      new Uint8Array([0xff, 0xd8, 1, 2, 2]),
      soi(3),
    ]);
  });

  it('says when the fragments cannot be frames', () => {
    expect(encodedFrames([soi(1), tail(2), tail(3)], 2)).toBe('3 fragments could not be split into 2 frames');
  });

  it('knows JPEG, JPEG-LS and JPEG 2000 codestream starts', () => {
    expect(opensCodestream(new Uint8Array([0xff, 0xd8, 0xff]))).toBe(true);
    expect(opensCodestream(new Uint8Array([0xff, 0x4f, 0xff, 0x51]))).toBe(true);
    expect(opensCodestream(new Uint8Array([0, 0, 0, 12, 0x6a, 0x50, 0x20, 0x20]))).toBe(true);
    expect(opensCodestream(new Uint8Array([0x12, 0x34, 0x56]))).toBe(false);
  });
});
