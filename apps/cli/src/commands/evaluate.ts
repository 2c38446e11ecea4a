import { Command, Option } from 'commander';
import { ALLOW_OUTSIDE_PATHS, AllowOutsidePathsOption } from './cohort-paths';

export interface EvaluateCliOptions extends AllowOutsidePathsOption {
  model: string;
  cohort: string;
  split: 'train' | 'val' | 'test' | 'all';
  out?: string;
  normalisation: 'auto' | 'cohort' | 'model';
  site?: string;
  threshold?: string;
  json?: boolean;
}

/**
 * `phcc-fed evaluate`: its options here; the evaluation (evaluate-action.ts) loads TensorFlow.js,
 * so it is imported only when the command runs.
 */
export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      'evaluate a model on a cohort: AUC with 95 % CI (DeLong); sensitivity, specificity, PPV, NPV, accuracy at a cut-off fixed on the validation split (or given); predictions CSV',
    )
    .requiredOption('--model <dir>', 'model folder written by `train` (or a federated run)')
    .requiredOption('--cohort <dir>', 'cohort folder with manifest.csv')
    .addOption(
      new Option('--split <split>', 'which patients to evaluate (labelled ones only)')
        .choices(['train', 'val', 'test', 'all'])
        .default('test'),
    )
    .option('--out <file>', 'predictions CSV (default: <model>/predictions-<cohort name>.csv)')
    .addOption(
      new Option(
        '--normalisation <from>',
        "intensity statistics: 'cohort' = the cohort's own training split (its site's scale), " +
          "'model' = stored with the model, 'auto' = cohort when it has training patients, else model",
      )
        .choices(['auto', 'cohort', 'model'])
        .default('auto'),
    )
    .option(
      '--site <name>',
      'with model statistics: which training site (default: same name as the cohort, else the first)',
    )
    .option(
      '--threshold <t>',
      "fixed cut-off on the model's score (e.g. the training sites' for an external site); " +
        "default: Youden's cut-off on the cohort's validation split when it has one",
    )
    .option('--json', 'end the output with one JSON line (auc, ci95, n, …)')
    .option(...ALLOW_OUTSIDE_PATHS)
    .action(async (opts: EvaluateCliOptions, cmd: Command) => {
      const { runEvaluate } = await import('./evaluate-action');
      await runEvaluate(opts, cmd);
    });
}
