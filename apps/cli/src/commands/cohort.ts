import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { InputError } from '../../../../libs/common/src';
import {
  convertLldMmri,
  draftManifest,
  draftManifestCsv,
  LLD_MMRI_HCC_CATEGORY,
  scanDicom,
} from '../../../../libs/imaging/src';
import { commandLogger } from '../context';

interface CohortBuildOptions {
  out: string;
  force?: boolean;
  json?: boolean;
}

/** `phcc-fed cohort build PACS_DIR --out manifest.csv`. */
export function registerCohort(program: Command): void {
  const cohort = program
    .command('cohort')
    .summary('prepare a site cohort (manifest.csv) from a DICOM export');
  cohort
    .command('build')
    .summary('scan a PACS export and write a draft manifest.csv, one row per study')
    .description(
      "Reads every DICOM header under the folder (any names, nested), assembles each study's DCE as\n" +
        '`convert` would, and writes manifest.csv with one row per study: dce = the folder holding\n' +
        "the study's DCE, mask = its SEG/RTSTRUCT when there is exactly one, phase_times from the\n" +
        'headers, label empty and split train for the hospital to complete, plus study_uid,\n' +
        'study_date, phases and notes. Studies whose DCE cannot be assembled are listed, not written.',
    )
    .argument('<dir>', 'DICOM export folder')
    .requiredOption('--out <file>', 'manifest.csv to write (paths in it are relative to its folder)')
    .option('--force', 'overwrite an existing manifest')
    .option('--json', 'end the output with one JSON line')
    .action(async (dir: string, opts: CohortBuildOptions, cmd: Command) => {
      const log = commandLogger(cmd);
      const out = resolve(opts.out);
      if (existsSync(out) && !opts.force) throw new InputError(`${out} exists (use --force to overwrite)`);
      const bar =
        process.stderr.isTTY && !opts.json
          ? new SingleBar({
              format: 'scan {bar} {value}/{total} files | ETA {eta_formatted}',
              stream: process.stderr,
            })
          : undefined;
      let lastLog = performance.now();
      const started = performance.now();
      const scan = await scanDicom(dir, {
        onProgress: (done, total) => {
          if (bar) {
            if (done === 1) bar.start(total, 0);
            bar.update(done);
          } else if (performance.now() - lastLog > 10_000 || done === total) {
            lastLog = performance.now();
            log.info({ done, total }, `scanned ${done}/${total} files`);
          }
        },
      }).finally(() => bar?.stop());
      const draft = draftManifest(scan, dirname(out));
      await writeFile(out, draftManifestCsv(draft.rows));
      const seconds = (performance.now() - started) / 1000;
      const lines = [
        `scanned ${scan.files} files in ${seconds.toFixed(1)} s: ${scan.frames.length} image planes, ${scan.masks.length} SEG/RTSTRUCT, ` +
          `${scan.ignored.length} ignored, ${scan.problems.length} unreadable`,
        `wrote ${out}: ${draft.rows.length} studies (fill in label and split; see notes)`,
        // Manifest paths are confined to the manifest's folder unless the loader is told otherwise.
        ...(draft.rows.some((r) => r.dce.startsWith('../') || (r.mask ?? '').startsWith('../'))
          ? [
              `  note: the manifest names files outside ${dirname(out)}; write it inside the export folder, ` +
                'or load it with --allow-outside-paths (train, evaluate, agent)',
            ]
          : []),
        ...draft.problems.map(
          (p) => `  left out study ${p.studyUid} (patient ${p.patientId || '?'}): ${p.reason}`,
        ),
        ...scan.problems.map((p) => `  unreadable: ${p.reason}`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            manifest: out,
            studies: draft.rows.length,
            rows: draft.rows,
            problems: draft.problems,
            unreadable: scan.problems,
            seconds: Number(seconds.toFixed(2)),
          }) + '\n',
        );
      }
    });

  cohort
    .command('lld-mmri')
    .summary('turn a downloaded LLD-MMRI 2023 data set into a site cohort (HCC-vs-other PROXY label)')
    .description(
      'Reads <data>/images/<patient>/<study>/<series>.nii.gz and <data>/labels/Annotation.json of\n' +
        'LLD-MMRI 2023 and writes <out>/manifest.csv + images: the phases C-pre, C+A, C+V, C+Delay\n' +
        'resampled onto the arterial grid as one 4-D NIfTI, a box mask per lesion, and label 1 for\n' +
        'HCC, 0 for the other lesion types. That label is a PROXY (the data set grades no\n' +
        'proliferative HCC). Train with --phases 4. The data set may not be redistributed: keep <out> local.',
    )
    .argument('<data>', 'LLD-MMRI 2023 folder (holding images/ and labels/)')
    .requiredOption('--out <dir>', 'cohort folder to write')
    .option('--test-fraction <f>', 'share of patients in the test split (stable hash of the id)', '0.3')
    .option('--hcc-category <n>', 'category number of HCC in Annotation.json', String(LLD_MMRI_HCC_CATEGORY))
    .option('--json', 'end the output with one JSON line')
    .action(
      async (
        data: string,
        opts: { out: string; testFraction: string; hccCategory: string; json?: boolean },
      ) => {
        const testFraction = Number(opts.testFraction);
        if (!(testFraction >= 0 && testFraction <= 1))
          throw new InputError(`--test-fraction must be in [0, 1] (got ${opts.testFraction})`);
        const hccCategory = Number(opts.hccCategory);
        if (!Number.isInteger(hccCategory))
          throw new InputError(`--hcc-category must be an integer (got ${opts.hccCategory})`);
        const summary = await convertLldMmri({ dataDir: data, outDir: opts.out, testFraction, hccCategory });
        const lines = [
          `wrote ${summary.manifestPath}: ${summary.rows} lesions (${summary.hcc} HCC = label 1, a proxy label), ${summary.skipped.length} patients skipped`,
          ...summary.skipped.map((s) => `  skipped ${s.patient}: ${s.reason}`),
        ];
        process.stdout.write(lines.join('\n') + '\n');
        if (opts.json) process.stdout.write(JSON.stringify(summary) + '\n');
      },
    );
}
