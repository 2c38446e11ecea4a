import { cropBox, displayFrame, largestCrossSection, pickSlices, tumourBoundingBox, Vec3 } from './geometry';

const diag = (x: number, y: number, z: number) => [
  [x, 0, 0, 0],
  [0, y, 0, 0],
  [0, 0, z, 0],
  [0, 0, 0, 1],
];

function maskWith(dims: Vec3, inside: (x: number, y: number, z: number) => boolean): Uint8Array {
  const mask = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let z = 0, i = 0; z < dims[2]; z++)
    for (let y = 0; y < dims[1]; y++)
      for (let x = 0; x < dims[0]; x++, i++) mask[i] = inside(x, y, z) ? 1 : 0;
  return mask;
}

describe('tumourBoundingBox / largestCrossSection', () => {
  const dims: Vec3 = [20, 16, 10];
  it('finds the inclusive box and the slice with the largest area', () => {
    // A "diamond" in z: slice 6 is widest.
    const mask = maskWith(
      dims,
      (x, y, z) => z >= 4 && z <= 8 && Math.abs(x - 10) + Math.abs(z - 6) <= 3 && y >= 2 && y <= 5,
    );
    const box = tumourBoundingBox(mask, dims)!;
    expect(box.min).toEqual([7, 2, 4]);
    expect(box.max).toEqual([13, 5, 8]);
    expect(box.voxels).toBe(4 * (3 + 5 + 7 + 5 + 3)); // 4 rows × widths at z = 4..8
    expect(largestCrossSection(mask, dims, box)).toBe(6);
  });
  it('breaks ties toward the box centre, then the lower slice', () => {
    const mask = maskWith(dims, (x, y, z) => z >= 2 && z <= 5 && x === 3 && y === 3);
    const box = tumourBoundingBox(mask, dims)!;
    expect(largestCrossSection(mask, dims, box)).toBe(3); // centre 3.5: slices 3 and 4 tie, lower wins
  });
  it('returns undefined for an empty mask', () => {
    expect(tumourBoundingBox(new Uint8Array(8), [2, 2, 2])).toBeUndefined();
  });
});

describe('pickSlices', () => {
  it('centres the window and slides it inside the volume at the edges', () => {
    expect(pickSlices(5, 3, 10)).toEqual([4, 5, 6]);
    expect(pickSlices(0, 3, 10)).toEqual([0, 1, 2]);
    expect(pickSlices(9, 3, 10)).toEqual([7, 8, 9]);
    expect(pickSlices(5, 4, 10)).toEqual([4, 5, 6, 7]);
    expect(pickSlices(5, 1, 10)).toEqual([5]);
  });
  it('repeats edge slices when the volume is thinner than K', () => {
    expect(pickSlices(1, 3, 2)).toEqual([0, 1, 1]);
    expect(pickSlices(0, 3, 1)).toEqual([0, 0, 0]);
  });
});

describe('displayFrame', () => {
  it('maps LPS storage straight through and flips RAS storage', () => {
    expect(displayFrame(diag(-1, -1, 2))).toMatchObject({
      columnAxis: 0,
      columnFlipped: false,
      rowAxis: 1,
      rowFlipped: false,
      sliceAscending: true,
      orientation: 'LPS',
    });
    expect(displayFrame(diag(1, 1, -2))).toMatchObject({
      columnAxis: 0,
      columnFlipped: true,
      rowFlipped: true,
      sliceAscending: false,
      orientation: 'RAI',
    });
  });
  it('swaps in-plane axes when voxel axis 0 runs anterior-posterior', () => {
    const frame = displayFrame([
      [0, 1, 0, 0],
      [-1, 0, 0, 0],
      [0, 0, 3, 0],
      [0, 0, 0, 1],
    ]);
    expect(frame).toMatchObject({
      columnAxis: 1,
      columnFlipped: true,
      rowAxis: 0,
      rowFlipped: false,
      orientation: 'PRS',
    });
  });
  it('refuses a non-axial series', () => {
    expect(
      displayFrame([
        [0, 0, 1, 0],
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 1],
      ]),
    ).toBeUndefined();
  });
});

describe('cropBox', () => {
  const box = { min: [10, 5, 0] as Vec3, max: [19, 9, 0] as Vec3, voxels: 50 };
  const spacing: Vec3 = [0.8, 1.2, 3];
  it('is square in mm around the box centre with at least the minimum margin', () => {
    // Extent max(10·0.8, 5·1.2) = 8 mm; 25 % = 2 mm < 10 mm minimum → side 28 mm.
    const crop = cropBox(box, spacing);
    expect(crop.centreMm[0]).toBeCloseTo(14.5 * 0.8, 10);
    expect(crop.centreMm[1]).toBeCloseTo(7 * 1.2, 10);
    expect(crop.sideMm).toBeCloseTo(28, 10);
  });
  it('uses the fractional margin when it is larger, or a fixed field of view', () => {
    expect(cropBox(box, spacing, { marginFraction: 0.5, minMarginMm: 1 }).sideMm).toBeCloseTo(16, 10);
    expect(cropBox(box, spacing, { fieldOfViewMm: 80 }).sideMm).toBe(80);
  });
});
