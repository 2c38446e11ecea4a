import { SingleBar } from 'cli-progress';
import { Log } from '../../../libs/common/src';
import { TrainProgress } from '../../../libs/model/src/training/types';

/** Something that receives every training step's progress and is closed when the stage ends. */
export interface TrainProgressView {
  update(progress: TrainProgress): void;
  stop(): void;
}

export interface TrainProgressOptions {
  log: Log;
  /** Where bars are drawn; a bar is drawn only when this is an interactive terminal. */
  stream?: NodeJS.WriteStream;
  /** Seconds between plain log lines without a terminal (the first step and each epoch end are always logged). */
  logEverySec?: number;
}

/**
 * A bar on a terminal; periodic log lines otherwise (CI logs and `2> file` would otherwise fill
 * with carriage-return redraws). Either way the stage, epoch, loss, images/s and ETA are shown.
 */
export function trainProgressView(options: TrainProgressOptions): TrainProgressView {
  const stream = options.stream ?? process.stderr;
  return stream.isTTY ? new BarView(stream) : new LogView(options.log, options.logEverySec ?? 10);
}

class BarView implements TrainProgressView {
  private bar?: SingleBar;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(p: TrainProgress): void {
    const payload = {
      stage: p.stage === 'ssl' ? 'SSL      ' : 'fine-tune',
      epoch: `${p.epoch}/${p.epochs}`,
      loss: p.epochLoss.toFixed(4),
      ips: p.imagesPerSec.toFixed(1),
      etaText: formatEta(p.etaSec),
    };
    if (!this.bar) {
      this.bar = new SingleBar({
        format: '{stage} epoch {epoch} {bar} {percentage}% | loss {loss} | {ips} img/s | ETA {etaText}',
        stream: this.stream,
        hideCursor: true,
      });
      this.bar.start(p.totalSteps, 0, payload);
    }
    this.bar.update(p.globalStep, payload);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

class LogView implements TrainProgressView {
  private lastLogged = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly log: Log,
    private readonly everySec: number,
  ) {}

  update(p: TrainProgress): void {
    const now = performance.now() / 1000;
    const epochEnd = p.step === p.stepsPerEpoch;
    if (!epochEnd && now - this.lastLogged < this.everySec) return;
    this.lastLogged = now;
    this.log.info(
      {
        stage: p.stage,
        epoch: p.epoch,
        epochs: p.epochs,
        step: p.globalStep,
        steps: p.totalSteps,
        loss: Number(p.epochLoss.toFixed(5)),
        imagesPerSec: Number(p.imagesPerSec.toFixed(1)),
        etaSec: Math.round(p.etaSec),
      },
      `${p.stage} epoch ${p.epoch}/${p.epochs} step ${p.globalStep}/${p.totalSteps}: ` +
        `loss ${p.epochLoss.toFixed(4)}, ${p.imagesPerSec.toFixed(1)} img/s, ETA ${formatEta(p.etaSec)}`,
    );
  }

  stop(): void {
    this.lastLogged = Number.NEGATIVE_INFINITY;
  }
}

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
