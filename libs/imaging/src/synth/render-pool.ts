/**
 * Renders patients on worker threads when the compiled worker script exists (the built CLI), or
 * in-process otherwise (ts-jest runs the TypeScript sources, which a worker cannot load).
 * Results come back in request order, so manifests are written in patient order.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PhccError } from '../../../common/src';
import { renderPatient, RenderedPatient, RenderRequest } from './render';

type WorkerReply = { ok: true; patient: RenderedPatient } | { ok: false; message: string };

export interface RenderPool {
  /** Threads rendering (0 = in-process). */
  readonly threads: number;
  render(req: RenderRequest): Promise<RenderedPatient>;
  close(): Promise<void>;
}

const WORKER_SCRIPT = join(__dirname, 'worker.js');

/** Default thread count: one per core, at most 8 (beyond that, gzip and disk are the limit). */
export function defaultRenderThreads(): number {
  return existsSync(WORKER_SCRIPT) ? Math.min(8, availableParallelism()) : 0;
}

export function createRenderPool(threads = defaultRenderThreads()): RenderPool {
  if (threads <= 0 || !existsSync(WORKER_SCRIPT)) {
    return {
      threads: 0,
      // Yield to the event loop between patients so file writes make progress.
      render: (req) =>
        new Promise((resolve, reject) =>
          setImmediate(() => {
            try {
              resolve(renderPatient(req));
            } catch (error) {
              reject(error);
            }
          }),
        ),
      close: async () => {},
    };
  }
  const workers = Array.from({ length: threads }, () => new Worker(WORKER_SCRIPT));
  const idle: Worker[] = [...workers];
  const waiting: Array<() => void> = [];
  const acquire = (): Promise<Worker> =>
    idle.length
      ? Promise.resolve(idle.pop()!)
      : new Promise((resolve) => waiting.push(() => resolve(idle.pop()!)));
  const release = (w: Worker) => {
    idle.push(w);
    waiting.shift()?.();
  };
  return {
    threads,
    async render(req) {
      const worker = await acquire();
      try {
        return await new Promise<RenderedPatient>((resolve, reject) => {
          const onError = (error: Error) => {
            worker.off('message', onMessage);
            reject(error);
          };
          const onMessage = (reply: WorkerReply) => {
            worker.off('error', onError);
            if (reply.ok) resolve(reply.patient);
            else
              reject(
                new PhccError(`rendering ${req.site.name} patient ${req.index + 1} failed: ${reply.message}`),
              );
          };
          worker.once('message', onMessage);
          worker.once('error', onError);
          worker.postMessage(req);
        });
      } finally {
        release(worker);
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
