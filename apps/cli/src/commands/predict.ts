import { Command } from 'commander';

export interface PredictCliOptions {
  model: string;
  dce: string[];
  mask: string;
  cam?: string;
  id?: string;
  site?: string;
  phaseTimes?: string;
  json?: boolean;
}

/**
 * `phcc-fed predict`: its options here; the prediction (predict-action.ts) loads TensorFlow.js,
 * so it is imported only when the command runs.
 */
export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description(
      "predict one patient's probability of proliferative HCC and, with --cam, write Grad-CAM overlays",
    )
    .requiredOption('--model <dir>', 'model folder written by `train` (or a federated run)')
    .requiredOption('--dce <files...>', 'the DCE series: one 4-D NIfTI, or one 3-D NIfTI per phase in order')
    .requiredOption('--mask <file>', 'tumour mask NIfTI on the DCE grid')
    .option('--cam <dir>', 'write Grad-CAM PNG overlays (one per phase) and a NIfTI heat map here')
    .option('--id <name>', 'patient name used for the output files (default: from the DCE file name)')
    .option('--site <name>', "training site whose intensity statistics to use (default: the model's first)")
    .option(
      '--phase-times <list>',
      'seconds after injection per stored phase, ";"-separated (reorders phases)',
    )
    .option('--json', 'end the output with one JSON line')
    .action(async (opts: PredictCliOptions, cmd: Command) => {
      const { runPredict } = await import('./predict-action');
      await runPredict(opts, cmd);
    });
}
