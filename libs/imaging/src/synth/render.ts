/**
 * One patient from seed to gzipped NIfTI bytes, with no I/O: the unit of work that the cohort
 * writer runs either in-process or on worker threads (same bytes either way, since a patient
 * depends only on its site and index).
 */
import { gzipSync } from 'node:zlib';
import { encodeNifti } from '../nifti/write';
import { ImageFeature, measureImageFeatures } from './image-features';
import { generatePatient } from './patient';
import { TumourPhenotype } from './phenotype';
import { SITE_STREAMS, streamRng } from './seeds';
import { SiteProfile } from './sites';
import { normalTable } from './volume';

export interface RenderRequest {
  site: SiteProfile;
  index: number;
  gzipLevel: number;
  /** Also take the simple image measurements of image-features.ts (for `synth --report`). */
  measureImages: boolean;
}

export interface RenderedPatient {
  siteName: string;
  index: number;
  id: string;
  phenotype: TumourPhenotype;
  phaseTimesS: number[];
  /** Gzipped NIfTI-1 files. */
  dce: Uint8Array;
  mask: Uint8Array;
  imageFeatures?: Record<ImageFeature, number>;
}

/** The site's noise table, built once per site per thread. */
const normalTables = new Map<number, Float32Array>();

function siteNormals(site: SiteProfile): Float32Array {
  let table = normalTables.get(site.seed);
  if (!table) {
    if (normalTables.size > 8) normalTables.clear();
    table = normalTable(streamRng(site.seed, SITE_STREAMS.noise));
    normalTables.set(site.seed, table);
  }
  return table;
}

export function renderPatient(req: RenderRequest): RenderedPatient {
  const p = generatePatient(req.site, req.index, siteNormals(req.site));
  const { nx, ny, nz } = p.grid;
  const dce = encodeNifti({
    dims: [nx, ny, nz, p.phaseTimesS.length],
    affine: p.affine,
    datatype: 'int16',
    data: p.volume.stored,
    sclSlope: p.volume.sclSlope,
    description: `phcc-fed synth ${p.site} ${p.id} DCE ${p.phaseTimesS.length} phases`,
  });
  const mask = encodeNifti({
    dims: [nx, ny, nz],
    affine: p.affine,
    datatype: 'uint8',
    data: p.volume.mask,
    description: `phcc-fed synth ${p.site} ${p.id} tumour mask`,
  });
  return {
    siteName: p.site,
    index: p.index,
    id: p.id,
    phenotype: p.phenotype,
    phaseTimesS: p.phaseTimesS,
    dce: gzipSync(dce, { level: req.gzipLevel }),
    mask: gzipSync(mask, { level: req.gzipLevel }),
    imageFeatures: req.measureImages ? measureImageFeatures(p) : undefined,
  };
}
