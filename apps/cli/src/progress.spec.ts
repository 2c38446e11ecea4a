import { Writable } from 'node:stream';
import { Log } from '../../../libs/common/src';
import { TrainProgress } from '../../../libs/model/src/training/types';
import { formatEta, trainProgressView } from './progress';

function step(stepInEpoch: number, overrides: Partial<TrainProgress> = {}): TrainProgress {
  return {
    stage: 'ssl',
    epoch: 1,
    epochs: 2,
    step: stepInEpoch,
    stepsPerEpoch: 3,
    globalStep: stepInEpoch,
    totalSteps: 6,
    loss: 0.5,
    epochLoss: 0.75,
    lr: 1e-3,
    imagesPerSec: 12.34,
    etaSec: 75,
    ...overrides,
  };
}

function recordingLog(): { log: Log; messages: string[] } {
  const messages: string[] = [];
  const keep = (obj: object | string, msg?: string) => messages.push(msg ?? String(obj));
  return { log: { debug: keep, info: keep, warn: keep, error: keep }, messages };
}

/** A stream that claims to be (or not to be) a terminal and keeps what is written. */
function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, {
    isTTY,
    columns: 120,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  });
  return { stream, written };
}

describe('trainProgressView', () => {
  it('without a terminal logs the first step and every epoch end, throttled in between', () => {
    const { log, messages } = recordingLog();
    const { stream, written } = fakeStream(false);
    const view = trainProgressView({ log, stream, logEverySec: 3600 });
    view.update(step(1));
    view.update(step(2));
    view.update(step(3));
    view.stop();
    expect(written).toEqual([]);
    expect(messages).toEqual([
      'ssl epoch 1/2 step 1/6: loss 0.7500, 12.3 img/s, ETA 1m15s',
      'ssl epoch 1/2 step 3/6: loss 0.7500, 12.3 img/s, ETA 1m15s',
    ]);
  });

  it('on a terminal draws a bar with stage, epoch, loss, images/s and ETA instead of logging', () => {
    const { log, messages } = recordingLog();
    const { stream, written } = fakeStream(true);
    const view = trainProgressView({ log, stream });
    view.update(step(1, { stage: 'finetune', etaSec: 5 }));
    view.stop();
    expect(messages).toEqual([]);
    const text = written.join('');
    expect(text).toContain('fine-tune epoch 1/2');
    expect(text).toContain('loss 0.7500');
    expect(text).toContain('12.3 img/s');
    expect(text).toContain('ETA 5s');
  });
});

describe('formatEta', () => {
  it('formats minutes and seconds and marks unknown values', () => {
    expect(formatEta(0)).toBe('0s');
    expect(formatEta(59.6)).toBe('1m00s');
    expect(formatEta(3725)).toBe('62m05s');
    expect(formatEta(Number.NaN)).toBe('?');
  });
});
