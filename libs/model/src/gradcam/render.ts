import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { writeNifti } from '../../../imaging/src/nifti/write';
import { ModelConfig } from '../network/config';
import { GradCamResult } from './gradcam';

/**
 * Turns Grad-CAM maps into files a radiologist can open: one PNG per phase (the ROI's middle
 * slice in grey, the heat map blended on top) and one NIfTI heat map for a viewer. These are
 * derived from patient images and are written locally only — never sent to the coordinator.
 */
export interface CropGeometry {
  /** Voxel → world (mm), 4×4 row-major, of the crop as written by libs/imaging. */
  affine?: number[][];
  /** In-plane spacing (mm) and slice thickness. */
  pixdim?: number[];
}

export interface RenderOptions {
  /** Pixel upscaling of the PNGs (nearest neighbour), so a 64×64 crop is visible. */
  scale?: number;
  /** Heat map opacity at full activation. */
  alpha?: number;
}

/** Writes `<dir>/<id>_phase<t>.png` per phase; returns their paths. */
export function writeOverlayPngs(
  dir: string,
  id: string,
  x: Float32Array,
  config: ModelConfig,
  cam: GradCamResult,
  options: RenderOptions = {},
): string[] {
  mkdirSync(dir, { recursive: true });
  const scale = options.scale ?? 4;
  const alpha = options.alpha ?? 0.5;
  const { imageSize: s, inChannels: c, intensityChannels } = config;
  const middle = Math.floor(intensityChannels / 2);
  return cam.maps.map((heat, t) => {
    const grey = new Float32Array(s * s);
    for (let p = 0; p < s * s; p++) grey[p] = x[(t * s * s + p) * c + middle];
    const [lo, hi] = percentiles(grey, 0.01, 0.99);
    const png = new PNG({ width: s * scale, height: s * scale });
    for (let y = 0; y < s * scale; y++) {
      for (let xx = 0; xx < s * scale; xx++) {
        const p = Math.floor(y / scale) * s + Math.floor(xx / scale);
        const g = hi > lo ? Math.min(1, Math.max(0, (grey[p] - lo) / (hi - lo))) : 0;
        const [r, gr, b] = jet(heat[p]);
        const a = alpha * heat[p];
        const o = (y * s * scale + xx) * 4;
        png.data[o] = Math.round(255 * ((1 - a) * g + a * r));
        png.data[o + 1] = Math.round(255 * ((1 - a) * g + a * gr));
        png.data[o + 2] = Math.round(255 * ((1 - a) * g + a * b));
        png.data[o + 3] = 255;
      }
    }
    const path = join(dir, `${id}_phase${t}.png`);
    writeFileSync(path, PNG.sync.write(png));
    return path;
  });
}

/**
 * Writes the heat maps as one float32 NIfTI, dims [S, S, 1, T] (x = crop column, y = crop row,
 * phases along the 4th axis as in the DCE input), in the crop's geometry when given.
 */
export async function writeHeatmapNifti(
  path: string,
  cam: GradCamResult,
  geometry: CropGeometry = {},
): Promise<void> {
  const s = cam.size;
  const t = cam.maps.length;
  const data = new Float32Array(s * s * t);
  cam.maps.forEach((map, i) => data.set(map, i * s * s));
  await writeNifti(path, {
    dims: [s, s, 1, t],
    pixdim: geometry.pixdim ?? (geometry.affine ? undefined : [1, 1, 1, 0]),
    affine: geometry.affine,
    datatype: 'float32',
    data,
  });
}

function percentiles(values: Float32Array, lo: number, hi: number): [number, number] {
  const sorted = Float32Array.from(values).sort();
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
  return [at(lo), at(hi)];
}

/** The classic jet colour map on [0, 1] → RGB in [0, 1]. */
export function jet(v: number): [number, number, number] {
  const clamp = (u: number): number => Math.min(1, Math.max(0, u));
  return [
    clamp(1.5 - Math.abs(4 * v - 3)),
    clamp(1.5 - Math.abs(4 * v - 2)),
    clamp(1.5 - Math.abs(4 * v - 1)),
  ];
}
