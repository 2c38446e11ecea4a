/**
 * Header fields of a parsed DICOM dataset (dcmjs's naturalized form) as DicomFrame records:
 * classic single-frame images give one frame; enhanced multi-frame images (Enhanced MR and
 * friends) give one per frame, each from its per-frame functional groups over the shared ones.
 * Pure: no I/O, so the rules test on plain objects.
 */
import type { NaturalDataset } from 'dcmjs';
import { DicomFrame, DicomMaskObject, Vec3 } from './types';

export const SOP_CLASS_SEGMENTATION = '1.2.840.10008.5.1.4.1.1.66.4';
export const SOP_CLASS_RTSTRUCT = '1.2.840.10008.5.1.4.1.1.481.3';

type Item = Record<string, unknown>;

/** Items of a sequence (dcmjs gives an array, or for some inputs a single object). */
export function sequenceItems(value: unknown): Item[] {
  if (Array.isArray(value)) return value.filter((v): v is Item => typeof v === 'object' && v !== null);
  return typeof value === 'object' && value !== null ? [value as Item] : [];
}

/** Numbers of a (possibly multi-valued) numeric element; DS/IS strings are parsed. */
export function numbers(value: unknown): number[] {
  const list = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return list.map((v) => (typeof v === 'number' ? v : Number(String(v).trim()))).filter(Number.isFinite);
}

function firstNumber(value: unknown): number | null {
  const list = numbers(value);
  return list.length ? list[0] : null;
}

function text(value: unknown): string {
  if (Array.isArray(value)) return value.length ? text(value[0]) : '';
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') {
    // PN values come as { Alphabetic: '…' }.
    const alphabetic = (value as { Alphabetic?: unknown }).Alphabetic;
    return alphabetic === undefined ? '' : String(alphabetic).trim();
  }
  return String(value).trim();
}

/** DICOM TM (HHMMSS.FFFFFF, with the old HH:MM:SS form too) → seconds since midnight. */
export function parseTime(value: unknown): number | null {
  const t = text(value).replace(/:/g, '');
  const match = /^(\d{2})(\d{2})?(\d{2})?(\.\d+)?$/.exec(t);
  if (!match) return null;
  const [h, m, s] = [match[1], match[2] ?? '0', match[3] ?? '0'].map(Number);
  return h * 3600 + m * 60 + s + (match[4] ? Number(match[4]) : 0);
}

/** DICOM DT (YYYYMMDDHHMMSS.FFFFFF&ZZXX) → seconds since midnight (the date part is dropped). */
export function parseDateTimeOfDay(value: unknown): number | null {
  const t = text(value).replace(/[+-]\d{4}$/, '');
  return t.length > 8 ? parseTime(t.slice(8)) : null;
}

function vector(value: unknown, length: number): number[] | null {
  const list = numbers(value);
  return list.length === length ? list : null;
}

/** The image planes a dataset holds, or [] when it holds no image pixels. */
export function framesOfDataset(ds: NaturalDataset, file: string, transferSyntaxUid: string): DicomFrame[] {
  const common = {
    file,
    sopInstanceUid: text(ds.SOPInstanceUID),
    studyUid: text(ds.StudyInstanceUID),
    seriesUid: text(ds.SeriesInstanceUID),
    seriesNumber: firstNumber(ds.SeriesNumber),
    seriesDescription: text(ds.SeriesDescription),
    frameOfReferenceUid: text(ds.FrameOfReferenceUID),
    patientId: text(ds.PatientID),
    studyDate: text(ds.StudyDate),
    accessionNumber: text(ds.AccessionNumber),
    modality: text(ds.Modality),
    transferSyntaxUid,
    rows: firstNumber(ds.Rows) ?? 0,
    columns: firstNumber(ds.Columns) ?? 0,
    bitsAllocated: firstNumber(ds.BitsAllocated) ?? 0,
    pixelRepresentation: firstNumber(ds.PixelRepresentation) ?? 0,
    samplesPerPixel: firstNumber(ds.SamplesPerPixel) ?? 1,
    bolusStartTime: parseTime(ds.ContrastBolusStartTime),
    instanceNumber: firstNumber(ds.InstanceNumber),
    framesInFile: firstNumber(ds.NumberOfFrames) ?? 1,
  };
  if (!common.rows || !common.columns) return [];

  const perFrame = sequenceItems(ds.PerFrameFunctionalGroupsSequence);
  if (perFrame.length === 0) {
    return [
      {
        ...common,
        frame: 0,
        position: vector(ds.ImagePositionPatient, 3) as Vec3 | null,
        orientation: vector(ds.ImageOrientationPatient, 6),
        pixelSpacing: vector(ds.PixelSpacing, 2) as [number, number] | null,
        sliceThickness: firstNumber(ds.SliceThickness),
        spacingBetweenSlices: firstNumber(ds.SpacingBetweenSlices),
        slope: firstNumber(ds.RescaleSlope) ?? 1,
        intercept: firstNumber(ds.RescaleIntercept) ?? 0,
        temporalPosition: firstNumber(ds.TemporalPositionIdentifier),
        triggerTime: msToSeconds(firstNumber(ds.TriggerTime)),
        acquisitionTime: parseTime(ds.AcquisitionTime),
        contentTime: parseTime(ds.ContentTime),
        temporalOffset: null,
      },
    ];
  }

  // Enhanced multi-frame: a functional group macro is looked up in the frame's own groups first,
  // then in the shared ones (PS3.3 C.7.6.16).
  const shared = sequenceItems(ds.SharedFunctionalGroupsSequence)[0] ?? {};
  return perFrame.map((own, frame) => {
    const macro = (name: string): Item => sequenceItems(own[name])[0] ?? sequenceItems(shared[name])[0] ?? {};
    const measures = macro('PixelMeasuresSequence');
    const transform = macro('PixelValueTransformationSequence');
    const content = macro('FrameContentSequence');
    const temporal = macro('TemporalPositionSequence');
    const trigger = macro('CardiacSynchronizationSequence');
    return {
      ...common,
      frame,
      position: vector(macro('PlanePositionSequence').ImagePositionPatient, 3) as Vec3 | null,
      orientation: vector(macro('PlaneOrientationSequence').ImageOrientationPatient, 6),
      pixelSpacing: vector(measures.PixelSpacing, 2) as [number, number] | null,
      sliceThickness: firstNumber(measures.SliceThickness),
      spacingBetweenSlices: firstNumber(measures.SpacingBetweenSlices),
      slope: firstNumber(transform.RescaleSlope) ?? firstNumber(ds.RescaleSlope) ?? 1,
      intercept: firstNumber(transform.RescaleIntercept) ?? firstNumber(ds.RescaleIntercept) ?? 0,
      temporalPosition: firstNumber(content.TemporalPositionIndex),
      triggerTime: msToSeconds(firstNumber(trigger.NominalCardiacTriggerDelayTime)),
      acquisitionTime: parseDateTimeOfDay(content.FrameAcquisitionDateTime) ?? parseTime(ds.AcquisitionTime),
      contentTime: parseTime(ds.ContentTime),
      temporalOffset: firstNumber(temporal.TemporalPositionTimeOffset),
    };
  });
}

function msToSeconds(ms: number | null): number | null {
  return ms === null ? null : ms / 1000;
}

/** A segmentation or structure set: what matching it to a DCE needs. */
export function maskObjectOfDataset(ds: NaturalDataset, file: string): DicomMaskObject | undefined {
  const sopClass = text(ds.SOPClassUID);
  const base = {
    file,
    studyUid: text(ds.StudyInstanceUID),
    seriesUid: text(ds.SeriesInstanceUID),
    patientId: text(ds.PatientID),
    description: text(ds.SeriesDescription) || text(ds.StructureSetLabel),
  };
  if (sopClass === SOP_CLASS_SEGMENTATION) {
    return { kind: 'seg', ...base, frameOfReferenceUids: [text(ds.FrameOfReferenceUID)].filter(Boolean) };
  }
  if (sopClass === SOP_CLASS_RTSTRUCT) {
    const uids = sequenceItems(ds.ReferencedFrameOfReferenceSequence)
      .map((item) => text(item.FrameOfReferenceUID))
      .filter(Boolean);
    return { kind: 'rtstruct', ...base, frameOfReferenceUids: uids };
  }
  return undefined;
}
