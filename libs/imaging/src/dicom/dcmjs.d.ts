/**
 * The part of dcmjs (no types of its own on npm) that libs/imaging uses: Part 10 read/write and
 * the "naturalized" (keyword-named) form of a dataset.
 */
declare module 'dcmjs' {
  /** A dataset whose keys are DICOM keywords (`ImagePositionPatient`, …); sequences are arrays. */
  export type NaturalDataset = Record<string, unknown>;
  interface DenaturalizedElement {
    vr?: string;
    Value?: unknown[];
  }
  type DenaturalizedDataset = Record<string, DenaturalizedElement>;
  interface ReadOptions {
    ignoreErrors?: boolean;
    /** Stop at this tag (hex, e.g. '7FE00010'); with includeUntilTagValue false its value is skipped. */
    untilTag?: string | null;
    includeUntilTagValue?: boolean;
    noCopy?: boolean;
    forceStoreRaw?: boolean;
  }
  class DicomDict {
    constructor(meta: DenaturalizedDataset);
    meta: DenaturalizedDataset;
    dict: DenaturalizedDataset;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }
  const data: {
    DicomDict: typeof DicomDict;
    DicomMessage: { readFile(buffer: ArrayBuffer, options?: ReadOptions): DicomDict };
    DicomMetaDictionary: {
      naturalizeDataset(dict: DenaturalizedDataset): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): DenaturalizedDataset;
      uid(): string;
    };
  };
  const log: { setLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'): void };
  const dcmjs: { data: typeof data; log: typeof log };
  export default dcmjs;
  export { data, log };
}
