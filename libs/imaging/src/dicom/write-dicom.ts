/**
 * Writes MR DICOM of known geometry with dcmjs: what the tests and `bench imaging` read back. Not
 * a general DICOM writer: just enough of the MR Image and Enhanced MR Image IODs for a reader to
 * place every plane (patient/study/series ids, IPP/IOP, spacing, rescale, phase tags and times).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import dcmjs, { NaturalDataset } from 'dcmjs';
import { cross } from './geometry';
import { Vec3 } from './types';

const MR_IMAGE = '1.2.840.10008.5.1.4.1.1.4';
const ENHANCED_MR_IMAGE = '1.2.840.10008.5.1.4.1.1.4.1';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

export interface SyntheticSeries {
  patientId: string;
  studyUid: string;
  seriesUid: string;
  seriesNumber: number;
  seriesDescription?: string;
  frameOfReferenceUid: string;
  rows: number;
  columns: number;
  /** [between rows, between columns] mm. */
  pixelSpacing: [number, number];
  /** Row cosine then column cosine (LPS). */
  orientation: number[];
  /** IPP of slice 0; slice k is at firstPosition + k · sliceSpacing · normal. */
  firstPosition: Vec3;
  sliceSpacing: number;
  slices: number;
  /** Phases stored in this series (default 1). */
  phases?: number;
  /** How the phases are marked: TemporalPositionIdentifier, or only by AcquisitionTime. */
  phaseTag?: 'temporal-position' | 'acquisition-time';
  /** Seconds after `startTime` of each phase in the series (default 0, 60, 120, …). */
  phaseTimes?: number[];
  /** AcquisitionTime of the first phase, seconds since midnight (default 10:00:00). */
  startTime?: number;
  contrastBolusStartTime?: number;
  slope?: number;
  intercept?: number;
  /** Stored value (in `storage`'s range) of column i, DICOM row j, slice k (ascending along the normal), phase t. */
  value: (i: number, j: number, k: number, t: number) => number;
  /** Relative file name of plane `index` of `count` (default: `IM${index}`); shuffle here. */
  fileName?: (index: number, count: number) => string;
  /** Positions (slice indices) left out: a series with a missing slice. */
  skipSlices?: number[];
  /** mm along the normal of each slice, instead of k · sliceSpacing (irregular stacks). */
  sliceOffsets?: number[];
  /** Transfer syntax named in the file meta (default Explicit VR Little Endian). */
  transferSyntaxUid?: string;
  /** How samples are stored (default int16): uint12 is MR's usual 12 bits in 16, uint8 one byte. */
  storage?: SampleStorage;
}

export type SampleStorage = 'int16' | 'uint12' | 'uint8';

const STORAGE_TAGS: Record<SampleStorage, NaturalDataset> = {
  int16: { BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRepresentation: 1 },
  uint12: { BitsAllocated: 16, BitsStored: 12, HighBit: 11, PixelRepresentation: 0 },
  uint8: { BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0 },
};

function sampleArray(storage: SampleStorage | undefined, length: number) {
  if (storage === 'uint8') return new Uint8Array(length);
  return storage === 'uint12' ? new Uint16Array(length) : new Int16Array(length);
}

function tm(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds - h * 3600 - m * 60;
  return `${String(h).padStart(2, '0')}${String(m).padStart(2, '0')}${s.toFixed(3).padStart(6, '0')}`;
}

export function slicePosition(spec: SyntheticSeries, k: number): Vec3 {
  const o = spec.orientation;
  const n = cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
  const along = spec.sliceOffsets?.[k] ?? k * spec.sliceSpacing;
  return [0, 1, 2].map((a) => spec.firstPosition[a] + along * n[a]) as Vec3;
}

function planePixels(spec: SyntheticSeries, k: number, t: number): ArrayBuffer {
  const out = sampleArray(spec.storage, spec.rows * spec.columns);
  for (let j = 0; j < spec.rows; j++)
    for (let i = 0; i < spec.columns; i++) out[j * spec.columns + i] = spec.value(i, j, k, t);
  return out.buffer;
}

function encode(dataset: NaturalDataset, sopClassUid: string, transferSyntaxUid = EXPLICIT_LE): Uint8Array {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: '2.25.1234567890',
  };
  const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
  const pixelVr = dataset.BitsAllocated === 8 ? 'OB' : 'OW';
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    ...dataset,
    _vrMap: { PixelData: pixelVr },
  });
  return new Uint8Array(dict.write());
}

function commonTags(spec: SyntheticSeries): NaturalDataset {
  return {
    PatientID: spec.patientId,
    PatientName: `Test^${spec.patientId}`,
    StudyInstanceUID: spec.studyUid,
    StudyDate: '20260101',
    SeriesInstanceUID: spec.seriesUid,
    SeriesNumber: spec.seriesNumber,
    SeriesDescription: spec.seriesDescription ?? `DCE ${spec.seriesNumber}`,
    FrameOfReferenceUID: spec.frameOfReferenceUid,
    Modality: 'MR',
    Rows: spec.rows,
    Columns: spec.columns,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    ...STORAGE_TAGS[spec.storage ?? 'int16'],
    ...(spec.contrastBolusStartTime === undefined
      ? {}
      : { ContrastBolusStartTime: tm(spec.contrastBolusStartTime) }),
  };
}

/** One single-frame MR file per plane; returns the files written. */
export function writeMrSeries(dir: string, spec: SyntheticSeries): string[] {
  const phases = spec.phases ?? 1;
  const start = spec.startTime ?? 36_000;
  const count = phases * spec.slices;
  const written: string[] = [];
  for (let t = 0; t < phases; t++) {
    const time = start + (spec.phaseTimes?.[t] ?? 60 * t);
    for (let k = 0; k < spec.slices; k++) {
      if (spec.skipSlices?.includes(k)) continue;
      const index = t * spec.slices + k;
      const dataset: NaturalDataset = {
        ...commonTags(spec),
        SOPClassUID: MR_IMAGE,
        SOPInstanceUID: `${spec.seriesUid}.${index + 1}`,
        InstanceNumber: index + 1,
        ImagePositionPatient: slicePosition(spec, k),
        ImageOrientationPatient: spec.orientation,
        PixelSpacing: spec.pixelSpacing,
        SliceThickness: spec.sliceSpacing,
        SpacingBetweenSlices: spec.sliceSpacing,
        RescaleSlope: spec.slope ?? 1,
        RescaleIntercept: spec.intercept ?? 0,
        AcquisitionTime: tm(time),
        ContentTime: tm(time),
        ...(spec.phaseTag === 'temporal-position'
          ? { TemporalPositionIdentifier: t + 1, NumberOfTemporalPositions: phases }
          : {}),
        PixelData: planePixels(spec, k, t),
      };
      const file = join(dir, spec.fileName ? spec.fileName(index, count) : `IM${index}`);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, encode(dataset, MR_IMAGE, spec.transferSyntaxUid));
      written.push(file);
    }
  }
  return written;
}

/**
 * One Enhanced MR file holding every plane of every phase (frames in the order given by
 * `frameOrder`, default phase-major), per-frame position, rescale and temporal position index.
 * Per-frame scaling is exercised: phase t's RescaleSlope is `slope × (t + 1)`.
 */
export function writeEnhancedMr(
  file: string,
  spec: SyntheticSeries,
  frameOrder?: Array<[number, number]>,
): void {
  const phases = spec.phases ?? 1;
  const order =
    frameOrder ??
    Array.from(
      { length: phases * spec.slices },
      (_, n) => [Math.floor(n / spec.slices), n % spec.slices] as [number, number],
    );
  const plane = spec.rows * spec.columns;
  const pixels = sampleArray(spec.storage, plane * order.length);
  const perFrame = order.map(([t, k], n) => {
    new Uint8Array(pixels.buffer).set(
      new Uint8Array(planePixels(spec, k, t)),
      n * plane * pixels.BYTES_PER_ELEMENT,
    );
    return {
      PlanePositionSequence: [{ ImagePositionPatient: slicePosition(spec, k) }],
      FrameContentSequence: [{ TemporalPositionIndex: t + 1, InStackPositionNumber: k + 1, StackID: '1' }],
      TemporalPositionSequence: [{ TemporalPositionTimeOffset: spec.phaseTimes?.[t] ?? 60 * t }],
      PixelValueTransformationSequence: [
        {
          RescaleSlope: (spec.slope ?? 1) * (1 + t),
          RescaleIntercept: spec.intercept ?? 0,
          RescaleType: 'US',
        },
      ],
    };
  });
  const dataset: NaturalDataset = {
    ...commonTags(spec),
    SOPClassUID: ENHANCED_MR_IMAGE,
    SOPInstanceUID: `${spec.seriesUid}.1`,
    InstanceNumber: 1,
    NumberOfFrames: order.length,
    AcquisitionTime: tm(spec.startTime ?? 36_000),
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: spec.orientation }],
        PixelMeasuresSequence: [
          {
            PixelSpacing: spec.pixelSpacing,
            SliceThickness: spec.sliceSpacing,
            SpacingBetweenSlices: spec.sliceSpacing,
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: pixels.buffer,
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, encode(dataset, ENHANCED_MR_IMAGE));
}

const SEGMENTATION = '1.2.840.10008.5.1.4.1.1.66.4';
const RT_STRUCTURE_SET = '1.2.840.10008.5.1.4.1.1.481.3';

/** A binary DICOM-SEG on a series' grid: one frame per (segment, slice) that `inside` marks. */
export function writeSeg(
  file: string,
  series: SyntheticSeries,
  segments: Array<{ number: number; label: string; inside: (i: number, j: number, k: number) => boolean }>,
  frameOfReferenceUid = series.frameOfReferenceUid,
): void {
  const plane = series.rows * series.columns;
  const frames: Array<{ segment: number; k: number }> = [];
  for (const s of segments) for (let k = 0; k < series.slices; k++) frames.push({ segment: s.number, k });
  const bits = new Uint8Array(Math.ceil((plane * frames.length) / 8));
  frames.forEach(({ segment, k }, n) => {
    const inside = segments.find((s) => s.number === segment)!.inside;
    for (let j = 0; j < series.rows; j++)
      for (let i = 0; i < series.columns; i++) {
        const index = n * plane + j * series.columns + i;
        if (inside(i, j, k)) bits[index >> 3] |= 1 << (index & 7);
      }
  });
  const dataset: NaturalDataset = {
    ...commonTags({ ...series, frameOfReferenceUid }),
    Modality: 'SEG',
    SeriesInstanceUID: `${series.seriesUid}.77`,
    SeriesNumber: 77,
    SeriesDescription: 'tumour segmentation',
    SOPClassUID: SEGMENTATION,
    SOPInstanceUID: `${series.seriesUid}.77.1`,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    SegmentationType: 'BINARY',
    NumberOfFrames: frames.length,
    SegmentSequence: segments.map((s) => ({
      SegmentNumber: s.number,
      SegmentLabel: s.label,
      SegmentAlgorithmType: 'MANUAL',
    })),
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: series.orientation }],
        PixelMeasuresSequence: [{ PixelSpacing: series.pixelSpacing, SliceThickness: series.sliceSpacing }],
      },
    ],
    PerFrameFunctionalGroupsSequence: frames.map(({ segment, k }) => ({
      PlanePositionSequence: [{ ImagePositionPatient: slicePosition(series, k) }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: segment }],
    })),
    PixelData: bits.buffer,
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, encode(dataset, SEGMENTATION));
}

/** An RTSTRUCT with closed planar contours given as flat LPS [x, y, z, x, y, z, …] lists. */
export function writeRtstruct(
  file: string,
  series: SyntheticSeries,
  rois: Array<{ number: number; name: string; contours: number[][] }>,
  frameOfReferenceUid = series.frameOfReferenceUid,
): void {
  const dataset: NaturalDataset = {
    PatientID: series.patientId,
    StudyInstanceUID: series.studyUid,
    SeriesInstanceUID: `${series.seriesUid}.88`,
    SeriesNumber: 88,
    Modality: 'RTSTRUCT',
    SOPClassUID: RT_STRUCTURE_SET,
    SOPInstanceUID: `${series.seriesUid}.88.1`,
    StructureSetLabel: 'contours',
    ReferencedFrameOfReferenceSequence: [{ FrameOfReferenceUID: frameOfReferenceUid }],
    StructureSetROISequence: rois.map((r) => ({
      ROINumber: r.number,
      ROIName: r.name,
      ReferencedFrameOfReferenceUID: frameOfReferenceUid,
    })),
    ROIContourSequence: rois.map((r) => ({
      ReferencedROINumber: r.number,
      ContourSequence: r.contours.map((xyz) => ({
        ContourGeometricType: 'CLOSED_PLANAR',
        NumberOfContourPoints: xyz.length / 3,
        ContourData: xyz,
      })),
    })),
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, encode(dataset, RT_STRUCTURE_SET));
}
