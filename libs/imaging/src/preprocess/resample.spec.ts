import { DisplayFrame, Vec3 } from './geometry';
import { axisTaps, sampleSlice, sliceSampler } from './resample';

const LPS: DisplayFrame = {
  columnAxis: 0,
  columnFlipped: false,
  rowAxis: 1,
  rowFlipped: false,
  sliceAscending: true,
  orientation: 'LPS',
};

/** A plane in mm: bilinear interpolation reproduces it exactly, so every pixel has a known answer. */
function planeVolume(dims: Vec3, spacing: Vec3, f: (xMm: number, yMm: number, z: number) => number) {
  const v = new Float32Array(dims[0] * dims[1] * dims[2]);
  for (let z = 0, i = 0; z < dims[2]; z++)
    for (let y = 0; y < dims[1]; y++)
      for (let x = 0; x < dims[0]; x++, i++) v[i] = f(x * spacing[0], y * spacing[1], z);
  return v;
}

describe('bilinear slice sampling', () => {
  const dims: Vec3 = [40, 12, 3];
  const spacing: Vec3 = [0.5, 2, 5]; // strongly anisotropic in-plane
  const plane = (x: number, y: number, z: number) => 2 * x + 3 * y + 100 * z;
  const volume = planeVolume(dims, spacing, plane);
  const box = { centreMm: [10, 11] as [number, number], sideMm: 16 };
  const size = 8;
  const step = box.sideMm / size;

  it('places output pixels at the right mm positions on both axes (anisotropic voxels)', () => {
    const out = new Float32Array(size * size);
    sampleSlice(
      volume,
      1 * dims[0] * dims[1],
      sliceSampler(dims, spacing, LPS, box, size, 'clamp'),
      out,
      0,
      1,
    );
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        const x = box.centreMm[0] - 8 + (u + 0.5) * step;
        const y = box.centreMm[1] - 8 + (v + 0.5) * step;
        expect(out[v * size + u]).toBeCloseTo(plane(x, y, 1), 3);
      }
    }
  });

  it('walks against a voxel axis when the frame flips it, into an interleaved channel', () => {
    const flipped = { ...LPS, columnFlipped: true, rowFlipped: true };
    const out = new Float32Array(size * size * 2).fill(-1);
    sampleSlice(volume, 0, sliceSampler(dims, spacing, flipped, box, size, 'clamp'), out, 1, 2);
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        const x = box.centreMm[0] + 8 - (u + 0.5) * step;
        const y = box.centreMm[1] + 8 - (v + 0.5) * step;
        expect(out[(v * size + u) * 2 + 1]).toBeCloseTo(plane(x, y, 0), 3);
        expect(out[(v * size + u) * 2]).toBe(-1); // other channel untouched
      }
    }
  });

  it('clamps intensities and zero-pads masks beyond the volume', () => {
    const clamp = axisTaps(4, 3, 1, 1, 0, 4, false, 'clamp'); // samples at -1.5, -0.5, 0.5, 1.5 mm
    const zero = axisTaps(4, 3, 1, 1, 0, 4, false, 'zero');
    const line = [10, 20, 30];
    const at = (t: typeof clamp, u: number) => t.w0[u] * line[t.o0[u]] + t.w1[u] * line[t.o1[u]];
    expect([0, 1, 2, 3].map((u) => at(clamp, u))).toEqual([10, 10, 15, 25]);
    expect([0, 1, 2, 3].map((u) => at(zero, u))).toEqual([0, 5, 15, 25]);
    expect(Array.from(clamp.inside)).toEqual([0, 1, 1, 1]);
  });
});
