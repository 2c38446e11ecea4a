/**
 * DICOM images as libs/imaging sees them: one record per 2-D image plane (a single-frame file, or
 * one frame of an enhanced multi-frame file), with the header fields that decide how planes
 * become a 4-D DCE volume. Times are seconds; positions and spacings are mm in DICOM's patient
 * coordinates (LPS: +x left, +y posterior, +z superior).
 */
import type { Vec3 } from '../preprocess/geometry';

export type { Vec3 };

/** One image plane and what its headers say about it. */
export interface DicomFrame {
  /** File it came from, and its 0-based frame index there (0 for single-frame files). */
  file: string;
  frame: number;
  /** NumberOfFrames of that file (1 for single-frame files): splits encapsulated pixel data. */
  framesInFile: number;
  sopInstanceUid: string;
  studyUid: string;
  seriesUid: string;
  seriesNumber: number | null;
  seriesDescription: string;
  frameOfReferenceUid: string;
  patientId: string;
  studyDate: string;
  accessionNumber: string;
  modality: string;
  transferSyntaxUid: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  pixelRepresentation: number;
  samplesPerPixel: number;
  /** ImagePositionPatient: centre of the first transmitted pixel. */
  position: Vec3 | null;
  /** ImageOrientationPatient: row direction (3) then column direction (3). */
  orientation: number[] | null;
  /** PixelSpacing: [between rows, between columns]. */
  pixelSpacing: [number, number] | null;
  sliceThickness: number | null;
  spacingBetweenSlices: number | null;
  /** value = stored × slope + intercept (RescaleSlope/Intercept, per frame when enhanced). */
  slope: number;
  intercept: number;
  /** TemporalPositionIdentifier, or the enhanced TemporalPositionIndex. */
  temporalPosition: number | null;
  /** TriggerTime in s (stored in ms). */
  triggerTime: number | null;
  /** AcquisitionTime / ContentTime / enhanced FrameAcquisitionDateTime, seconds since midnight. */
  acquisitionTime: number | null;
  contentTime: number | null;
  /** Enhanced MR TemporalPositionTimeOffset, s from the start of the dynamic series. */
  temporalOffset: number | null;
  /** ContrastBolusStartTime, seconds since midnight. */
  bolusStartTime: number | null;
  instanceNumber: number | null;
}

/** A DICOM file that is not an image series: a segmentation or a structure set. */
export interface DicomMaskObject {
  kind: 'seg' | 'rtstruct';
  file: string;
  studyUid: string;
  seriesUid: string;
  /** Frames of Reference the object refers to (SEG: its own; RTSTRUCT: the referenced ones). */
  frameOfReferenceUids: string[];
  patientId: string;
  description: string;
}
