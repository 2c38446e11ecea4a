import { LoadedPatient, PatientRowError } from '../cohort/load-patient';
import { cropPatient } from './crop';

const DIMS: [number, number, number] = [30, 26, 9];
const SPACING: [number, number, number] = [0.8, 1.2, 3];
const STORED_PHASES = 3;

/** Tumour: x 10..17, y 8..13 on slice 4, one voxel smaller on slices 3 and 5. */
const inTumour = (x: number, y: number, z: number) => {
  const shrink = z === 4 ? 0 : 1;
  return z >= 3 && z <= 5 && x >= 10 + shrink && x <= 17 - shrink && y >= 8 + shrink && y <= 13 - shrink;
};

/**
 * The same anatomy stored LPS (as DICOM), or mirrored in x and y (RAS) and/or in z: every storage
 * must give the same model input. Intensity = 1000·phase + 10·slice (constant in-plane, so every
 * output pixel has a known value).
 */
function patient(options: { ras?: boolean; inferior?: boolean; phaseOrder?: number[] } = {}): LoadedPatient {
  const [nx, ny, nz] = DIMS;
  const perPhase = nx * ny * nz;
  const data = new Float32Array(perPhase * STORED_PHASES);
  const mask = new Uint8Array(perPhase);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const ax = options.ras ? nx - 1 - x : x; // anatomical (LPS) index
        const ay = options.ras ? ny - 1 - y : y;
        const az = options.inferior ? nz - 1 - z : z;
        const i = x + nx * (y + ny * z);
        mask[i] = inTumour(ax, ay, az) ? 1 : 0;
        for (let s = 0; s < STORED_PHASES; s++) data[s * perPhase + i] = 1000 * s + 10 * az;
      }
    }
  }
  const sx = options.ras ? SPACING[0] : -SPACING[0];
  const sy = options.ras ? SPACING[1] : -SPACING[1];
  const sz = options.inferior ? -SPACING[2] : SPACING[2];
  return {
    row: { row: 2, patientId: 'p', dcePaths: [], maskPath: '', label: 1, split: 'train', phaseTimes: null },
    dce: {
      dims: DIMS,
      spacing: SPACING,
      affine: [
        [sx, 0, 0, 5],
        [0, sy, 0, -7],
        [0, 0, sz, 11],
        [0, 0, 0, 1],
      ],
      storedPhases: STORED_PHASES,
      data,
      mayHoldNonFinite: false,
    },
    mask,
    tumourVoxels: mask.reduce((a, b) => a + b, 0),
    phaseOrder: options.phaseOrder ?? [0, 1, 2],
    phaseTimes: null,
  };
}

describe('cropPatient', () => {
  it('picks the largest cross-section and K slices, crops a square box with margin', () => {
    const crop = cropPatient(patient({ phaseOrder: [2, 0, 1] }));
    expect(crop.shape).toEqual([3, 64, 64, 4]);
    const m = crop.meta;
    expect(m.centreSlice).toBe(4);
    expect(m.slices).toEqual([3, 4, 5]);
    expect(m.cropCentreMm[0]).toBeCloseTo(13.5 * 0.8, 6);
    expect(m.cropCentreMm[1]).toBeCloseTo(10.5 * 1.2, 6);
    // Extent max(8 × 0.8, 6 × 1.2) = 7.2 mm, margin max(25 %, 10 mm) = 10 mm each side.
    expect(m.cropSideMm).toBeCloseTo(27.2, 6);
    expect(m.pixelSpacingMm).toBeCloseTo(27.2 / 64, 6);
    expect(m.orientation).toBe('LPS');
    expect(m.tumourVolumeMm3).toBeCloseTo((48 + 2 * 24) * 0.8 * 1.2 * 3, 6);

    // Intensity channel k of output phase t = 1000 · stored phase + 10 · slice k, everywhere.
    for (let t = 0; t < 3; t++) {
      for (const p of [0, 32 * 64 + 32, 64 * 64 - 1]) {
        for (let k = 0; k < 3; k++) {
          expect(crop.input[(t * 64 * 64 + p) * 4 + k]).toBeCloseTo(
            1000 * [2, 0, 1][t] + 10 * m.slices[k],
            3,
          );
        }
      }
    }
  });

  it('emits the central slice mask whose area matches the tumour cross-section in mm²', () => {
    const crop = cropPatient(patient());
    let sum = 0;
    for (let p = 0; p < 64 * 64; p++) sum += crop.input[p * 4 + 3];
    const pixelArea = crop.meta.pixelSpacingMm ** 2;
    // Bilinear interpolation of a binary mask integrates to the voxels' area: 48 voxels × 0.96 mm².
    expect(Math.abs(sum * pixelArea - 48 * 0.96) / (48 * 0.96)).toBeLessThan(0.03);
    expect(crop.input[(32 * 64 + 32) * 4 + 3]).toBe(1);
    expect(crop.input[3]).toBe(0);
    // Same mask in every phase.
    let differing = 0;
    for (let p = 0; p < 64 * 64; p++)
      if (crop.input[(2 * 64 * 64 + p) * 4 + 3] !== crop.input[p * 4 + 3]) differing++;
    expect(differing).toBe(0);
  });

  it('gives the same input whatever the storage orientation (LPS, RAS, inferior-first)', () => {
    // K = 4 (asymmetric window) also checks that the extra slice is on the same anatomical side.
    const reference = cropPatient(patient(), { slices: 4 }).input;
    for (const options of [{ ras: true }, { inferior: true }, { ras: true, inferior: true }]) {
      const crop = cropPatient(patient(options), { slices: 4 });
      let worst = 0;
      for (let i = 0; i < reference.length; i++)
        worst = Math.max(worst, Math.abs(crop.input[i] - reference[i]));
      expect(worst).toBeLessThan(1e-3);
    }
  });

  it('collects native reference voxels from the crop square, outside the tumour', () => {
    const crop = cropPatient(patient());
    // Square 27.2 mm around (10.8, 12.6) mm: x from -2.8 to 24.4 mm covers voxels 0..29 (all 30),
    // y from -1 to 26.2 mm covers voxels 0..21 (22); 3 slices, minus the tumour's 24 + 48 + 24 voxels.
    expect(crop.reference).toHaveLength(3);
    expect(crop.reference[0]).toHaveLength(3 * 30 * 22 - 96);
    expect(crop.reference[1].every((v) => v >= 1000 && v < 2000)).toBe(true);
  });

  it('rejects a non-axial series as a row error', () => {
    const p = patient();
    p.dce.affine = [
      [0, 0, 3, 0],
      [0.8, 0, 0, 0],
      [0, 1.2, 0, 0],
      [0, 0, 0, 1],
    ];
    expect(() => cropPatient(p)).toThrow(PatientRowError);
    expect(() => cropPatient(p)).toThrow(/not an axial series: voxel axes are ASR/);
  });
});
