/**
 * Which image planes of a study form its DCE series and which phase each belongs to. Pure.
 *
 * Within one series, phases are told apart by, in order:
 *   1. TemporalPositionIdentifier (enhanced MR: TemporalPositionIndex) when it takes ≥ 2 values;
 *   2. otherwise, when every slice position holds the same number P ≥ 2 of planes, by ranking the
 *      planes at each position by time: TemporalPositionTimeOffset, TriggerTime, AcquisitionTime,
 *      ContentTime (the first present on every plane), then InstanceNumber;
 *   3. otherwise the series is one phase.
 * Single-phase series of the same Frame of Reference, orientation, matrix and pixel spacing are
 * the phases of a multi-series DCE (one series per phase, as many scanners export it), ordered by
 * time and then SeriesNumber. The study's DCE is the candidate with the most phases; other series
 * (localisers, T2, …) are listed as not used.
 */
import { frameSuffix, orientationKey, StackGeometryError } from './geometry';
import { DicomFrame } from './types';

export interface DcePhase {
  /** The phase's planes (unsorted; geometry sorts them). */
  frames: DicomFrame[];
  /** Clock time (s since midnight) or offset (s) of the phase's first plane; null when unknown. */
  time: number | null;
  seriesUid: string;
  seriesNumber: number | null;
  seriesDescription: string;
  temporalPosition: number | null;
}

export type PhaseTimeSource =
  'TemporalPositionTimeOffset' | 'TriggerTime' | 'AcquisitionTime' | 'ContentTime';

export interface DceCandidate {
  phases: DcePhase[];
  /** Which header the phase times come from (null: none, phases in series/position order). */
  timeSource: PhaseTimeSource | null;
  /** How the phases were told apart, for `inspect`. */
  phaseRule: 'temporal-position' | 'time-rank' | 'series' | 'single';
  /** Series that the candidate is made of. */
  seriesUids: string[];
}

export interface StudyDce {
  studyUid: string;
  patientId: string;
  studyDate: string;
  accessionNumber: string;
  frameOfReferenceUid: string;
  dce: DceCandidate;
  /** Series of the study that are not part of the DCE, and why. */
  notUsed: Array<{ seriesUid: string; seriesNumber: number | null; description: string; reason: string }>;
}

/** Thrown when the headers make no consistent DCE; the message names the series. */
export class DceAssemblyError extends Error {}

const TIME_SOURCES: ReadonlyArray<[PhaseTimeSource, (f: DicomFrame) => number | null]> = [
  ['TemporalPositionTimeOffset', (f) => f.temporalOffset],
  ['TriggerTime', (f) => f.triggerTime],
  ['AcquisitionTime', (f) => f.acquisitionTime],
  ['ContentTime', (f) => f.contentTime],
];

/** The first time header present on every plane, or undefined. */
function timeSourceFor(
  frames: DicomFrame[],
): [PhaseTimeSource, (f: DicomFrame) => number | null] | undefined {
  return TIME_SOURCES.find(([, get]) => frames.every((f) => get(f) !== null));
}

export function seriesLabel(f: Pick<DicomFrame, 'seriesNumber' | 'seriesDescription' | 'seriesUid'>): string {
  const number = f.seriesNumber === null ? '' : ` ${f.seriesNumber}`;
  const description = f.seriesDescription ? ` "${f.seriesDescription}"` : '';
  return `series${number}${description} (${f.seriesUid})`;
}

/** Groups planes by a key, keeping first-seen order. */
function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Clusters positions along the normal (values within 0.01 mm are one slice position). */
function positionKeys(frames: DicomFrame[]): string[] {
  const o = frames[0].orientation;
  if (!o) return frames.map((f) => `${f.sopInstanceUid}/${f.frame}`);
  const n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
  const along = frames.map((f) =>
    f.position ? f.position[0] * n[0] + f.position[1] * n[1] + f.position[2] * n[2] : NaN,
  );
  const order = along.map((_, i) => i).sort((a, b) => along[a] - along[b]);
  const keys = new Array<string>(frames.length);
  let cluster = 0;
  order.forEach((idx, rank) => {
    if (rank > 0 && !(along[idx] - along[order[rank - 1]] <= 0.01)) cluster++;
    keys[idx] = String(cluster);
  });
  return keys;
}

/** Splits one series into its phases. */
export function seriesPhases(frames: DicomFrame[]): {
  phases: DcePhase[];
  rule: DceCandidate['phaseRule'];
  timeSource: PhaseTimeSource | null;
} {
  const label = seriesLabel(frames[0]);
  const orientations = new Set(frames.map((f) => (f.orientation ? orientationKey(f.orientation) : 'none')));
  if (orientations.size > 1) {
    const other = frames.find(
      (f) => f.orientation && orientationKey(f.orientation) !== orientationKey(frames[0].orientation ?? []),
    );
    throw new DceAssemblyError(
      `${label}: mixed orientations (e.g. ${other?.file}${other ? frameSuffix(other) : ''}); read one stack at a time`,
    );
  }
  const source = timeSourceFor(frames);
  const phaseOf = (list: DicomFrame[], temporalPosition: number | null): DcePhase => ({
    frames: list,
    time: source ? Math.min(...list.map((f) => source[1](f)!)) : null,
    seriesUid: list[0].seriesUid,
    seriesNumber: list[0].seriesNumber,
    seriesDescription: list[0].seriesDescription,
    temporalPosition,
  });

  const temporal = new Set(frames.map((f) => f.temporalPosition));
  if (temporal.size >= 2) {
    if (temporal.has(null)) {
      throw new DceAssemblyError(
        `${label}: TemporalPositionIdentifier is set on some images and not on others`,
      );
    }
    const groups = [...groupBy(frames, (f) => String(f.temporalPosition)).entries()]
      .map(([k, list]) => phaseOf(list, Number(k)))
      .sort((a, b) => a.temporalPosition! - b.temporalPosition!);
    return { phases: groups, rule: 'temporal-position', timeSource: source?.[0] ?? null };
  }

  const keys = positionKeys(frames);
  const byPosition = groupBy(
    frames.map((f, i) => ({ f, key: keys[i] })),
    (x) => x.key,
  );
  const counts = new Set([...byPosition.values()].map((list) => list.length));
  if (counts.size > 1) {
    const sizes = [...counts].sort((a, b) => a - b);
    throw new DceAssemblyError(
      `${label}: slice positions hold ${sizes[0]} to ${sizes[sizes.length - 1]} images each, so the phases cannot be told apart ` +
        '(missing or extra slices?)',
    );
  }
  const perPosition = [...counts][0];
  if (perPosition === 1)
    return {
      phases: [phaseOf(frames, frames[0].temporalPosition)],
      rule: 'single',
      timeSource: source?.[0] ?? null,
    };

  // Rank the planes at each position by time (then instance number): rank r is phase r.
  const rankKey = (f: DicomFrame) => [source ? source[1](f)! : 0, f.instanceNumber ?? 0, f.frame];
  const phases: DicomFrame[][] = Array.from({ length: perPosition }, () => []);
  for (const list of byPosition.values()) {
    const ranked = list.map((x) => x.f).sort((a, b) => compareTuples(rankKey(a), rankKey(b)));
    ranked.forEach((f, r) => phases[r].push(f));
  }
  return {
    phases: phases.map((list) => phaseOf(list, null)),
    rule: 'time-rank',
    timeSource: source?.[0] ?? null,
  };
}

function compareTuples(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Same Frame of Reference, orientation, matrix and pixel spacing: could be phases of one DCE. */
function gridKey(f: DicomFrame): string {
  return [
    f.frameOfReferenceUid,
    f.orientation ? orientationKey(f.orientation) : '',
    `${f.columns}x${f.rows}`,
    f.pixelSpacing ? f.pixelSpacing.map((s) => s.toFixed(4)).join('x') : '',
  ].join('|');
}

/** The DCE of one study's image planes (all from one StudyInstanceUID). */
export function assembleStudy(frames: DicomFrame[]): StudyDce {
  const first = frames[0];
  const bySeries = groupBy(frames, (f) => f.seriesUid);
  const candidates: DceCandidate[] = [];
  const singles: Array<{ phase: DcePhase; timeSource: PhaseTimeSource | null }> = [];
  for (const [uid, list] of bySeries) {
    const split = seriesPhases(list);
    if (split.phases.length > 1) {
      candidates.push({
        phases: split.phases,
        timeSource: split.timeSource,
        phaseRule: split.rule,
        seriesUids: [uid],
      });
    } else {
      singles.push({ phase: split.phases[0], timeSource: split.timeSource });
    }
  }
  for (const group of groupBy(singles, (s) => gridKey(s.phase.frames[0])).values()) {
    // One time header shared by all the series, so their times compare.
    const source = timeSourceFor(group.flatMap((s) => s.phase.frames));
    const phases = group.map((s) => ({
      ...s.phase,
      time: source ? Math.min(...s.phase.frames.map((f) => source[1](f)!)) : null,
    }));
    phases.sort(
      (a, b) =>
        (a.time ?? 0) - (b.time ?? 0) ||
        (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0) ||
        a.seriesUid.localeCompare(b.seriesUid),
    );
    candidates.push({
      phases,
      timeSource: source?.[0] ?? null,
      phaseRule: phases.length > 1 ? 'series' : 'single',
      seriesUids: phases.map((p) => p.seriesUid),
    });
  }
  const planes = (c: DceCandidate) => c.phases.reduce((n, p) => n + p.frames.length, 0);
  candidates.sort((a, b) => b.phases.length - a.phases.length || planes(b) - planes(a));
  const dce = candidates[0];
  const used = new Set(dce.seriesUids);
  const notUsed = [...bySeries.entries()]
    .filter(([uid]) => !used.has(uid))
    .map(([uid, list]) => ({
      seriesUid: uid,
      seriesNumber: list[0].seriesNumber,
      description: list[0].seriesDescription,
      reason: 'not part of the DCE (another grid or fewer phases)',
    }));
  if (dce.phaseRule === 'series') checkSamePositions(dce);
  return {
    studyUid: first.studyUid,
    patientId: first.patientId,
    studyDate: first.studyDate,
    accessionNumber: first.accessionNumber,
    frameOfReferenceUid: dce.phases[0].frames[0].frameOfReferenceUid,
    dce,
    notUsed,
  };
}

/** Phases made of separate series must cover the same slices (else: a missing slice somewhere). */
function checkSamePositions(dce: DceCandidate): void {
  const [reference, ...rest] = dce.phases;
  for (const phase of rest) {
    if (phase.frames.length !== reference.frames.length) {
      throw new DceAssemblyError(
        `${seriesLabel(phase.frames[0])} has ${phase.frames.length} slices but ${seriesLabel(reference.frames[0])} has ` +
          `${reference.frames.length}: the DCE's phase series must cover the same slices`,
      );
    }
  }
}

/** Image planes grouped by study, each study's DCE assembled; a study that fails names why. */
export function assembleStudies(
  frames: DicomFrame[],
): Array<StudyDce | { studyUid: string; patientId: string; error: string }> {
  return [...groupBy(frames, (f) => f.studyUid).values()].map((list) => {
    try {
      return assembleStudy(list);
    } catch (err) {
      if (!(err instanceof DceAssemblyError || err instanceof StackGeometryError)) throw err;
      return { studyUid: list[0].studyUid, patientId: list[0].patientId, error: err.message };
    }
  });
}
