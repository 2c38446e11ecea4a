/** Worker-thread entry: renders patients on request (see render-pool.ts). */
import { parentPort } from 'node:worker_threads';
import { renderPatient, RenderRequest } from './render';

parentPort?.on('message', (req: RenderRequest) => {
  try {
    parentPort?.postMessage({ ok: true, patient: renderPatient(req) });
  } catch (error) {
    parentPort?.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
  }
});
