import { extname, join } from 'node:path';
import { Worker, WorkerOptions } from 'node:worker_threads';

/** What every worker script answers when a request fails; the pool turns it into a rejection. */
export interface WorkerFailure {
  type: 'error';
  message: string;
}

/**
 * A fixed set of worker threads, each running `mainPath`, that answer one message with one
 * message, strictly in turn (the pool never has two requests in flight on one worker). Shared by
 * the generic `DataParallelTrainer` and pHCC-SSL's gradient replicas (training/parallel.ts).
 */
export class WorkerPool<Request, Reply extends { type: string }> {
  /** Exit codes of workers that stopped: a request to one must fail, not wait for ever. */
  private readonly exited = new Map<Worker, number>();
  private readonly pending = new Map<Worker, { resolve: (m: Reply) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly workers: Worker[],
    private readonly label: string,
  ) {
    for (const w of workers) this.listen(w);
  }

  /** Spawns `count` workers; `label` names them in errors ("data-parallel worker failed: …"). */
  static spawn<Request, Reply extends { type: string }>(
    mainPath: string,
    count: number,
    label: string,
  ): WorkerPool<Request, Reply> {
    return new WorkerPool<Request, Reply>(
      Array.from({ length: count }, () => spawnWorker(mainPath)),
      label,
    );
  }

  get size(): number {
    return this.workers.length;
  }

  ask(index: number, msg: Request, transfer: ArrayBuffer[] = []): Promise<Reply> {
    const w = this.workers[index];
    if (this.exited.has(w))
      return Promise.reject(new Error(`${this.label} exited (code ${this.exited.get(w)})`));
    if (this.pending.has(w)) return Promise.reject(new Error(`${this.label} ${index} is still busy`));
    return new Promise((resolve, reject) => {
      this.pending.set(w, { resolve, reject });
      w.postMessage(msg, transfer);
    });
  }

  all(make: (i: number) => Request): Promise<Reply[]> {
    return Promise.all(this.workers.map((_, i) => this.ask(i, make(i))));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private listen(w: Worker): void {
    w.on('message', (msg: Reply | WorkerFailure) => {
      const waiter = this.pending.get(w);
      if (!waiter) return;
      this.pending.delete(w);
      if (msg.type === 'error')
        waiter.reject(new Error(`${this.label} failed: ${(msg as WorkerFailure).message}`));
      else waiter.resolve(msg as Reply);
    });
    w.on('error', (err) => {
      const waiter = this.pending.get(w);
      this.pending.delete(w);
      waiter?.reject(err);
    });
    w.on('exit', (code) => {
      this.exited.set(w, code);
      const waiter = this.pending.get(w);
      this.pending.delete(w);
      waiter?.reject(new Error(`${this.label} exited (code ${code})`));
    });
  }
}

/**
 * The compiled sibling of a worker script: `name` is given without extension and resolved next to
 * `dir` with the running build's extension (.ts under ts-jest, .js in dist).
 */
export function workerScript(dir: string, name: string): string {
  return join(dir, name + extname(__filename));
}

/**
 * A worker running `main`. From dist that is the compiled .js; under ts-jest the sources are .ts,
 * so an inline bootstrap registers a TypeScript transpile hook first (typescript is a dev
 * dependency, present wherever .ts sources run).
 */
export function spawnWorker(main: string, options: WorkerOptions = {}): Worker {
  if (extname(main) !== '.ts') return new Worker(main, options);
  const typescript = require.resolve('typescript', { paths: [__dirname] });
  const bootstrap = `
    const ts = require(${JSON.stringify(typescript)});
    const fs = require('node:fs');
    require.extensions['.ts'] = (m, filename) => {
      const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
        fileName: filename,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022,
          esModuleInterop: true, experimentalDecorators: true, emitDecoratorMetadata: true },
      });
      m._compile(out.outputText, filename);
    };
    require(${JSON.stringify(main)});`;
  return new Worker(bootstrap, { ...options, eval: true });
}
