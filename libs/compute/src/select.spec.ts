import * as tf from '@tensorflow/tfjs-core';
import type { InputError, PhccError } from '../../common/src';
import type * as Select from './select';

/** A fresh copy of select.ts (its "chosen once" state) per test; tfjs's engine stays shared. */
function freshSelect(): typeof Select {
  let mod: typeof Select | undefined;
  // The fresh tfjs-core copy warns that it re-sets the (shared) node platform: expected here.
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require('./select') as typeof Select;
    });
  } finally {
    warn.mockRestore();
  }
  return mod!;
}

describe('initBackend', () => {
  const envBefore = process.env.PHCC_BACKEND;
  afterEach(() => {
    if (envBefore === undefined) delete process.env.PHCC_BACKEND;
    else process.env.PHCC_BACKEND = envBefore;
  });

  it('picks wasm when no native binding is installed, says why, and logs it', async () => {
    delete process.env.PHCC_BACKEND;
    const { initBackend } = freshSelect();
    const lines: string[] = [];
    const log = {
      debug() {},
      warn() {},
      error() {},
      info: (_o: object | string, msg?: string) => lines.push(msg ?? ''),
    };
    const info = await initBackend({ log });
    // This repository never installs tfjs-node (its install downloads libtensorflow).
    expect(info).toMatchObject({
      name: 'wasm',
      package: '@tensorflow/tfjs-backend-wasm',
      threads: 1,
      gpu: false,
    });
    expect(info.reason).toMatch(/no native TensorFlow/);
    expect(tf.getBackend()).toBe('wasm');
    expect(lines.join('\n')).toMatch(/compute backend: wasm .*1 thread/);
  });

  it('is idempotent and refuses to switch silently', async () => {
    const { initBackend } = freshSelect();
    const first = await initBackend({ backend: 'cpu' });
    expect(await initBackend()).toBe(first);
    expect(await initBackend({ backend: 'cpu' })).toBe(first);
    await expect(initBackend({ backend: 'wasm' })).rejects.toThrow(/already initialised as cpu/);
    await tf.setBackend('wasm');
  });

  it('honours PHCC_BACKEND and rejects unknown names as bad input', async () => {
    process.env.PHCC_BACKEND = 'cpu';
    expect((await freshSelect().initBackend()).reason).toMatch(/PHCC_BACKEND/);
    process.env.PHCC_BACKEND = 'tpu';
    const err = await freshSelect()
      .initBackend()
      .catch((e: unknown) => e);
    // isolateModules loads its own copy of libs/common, hence name checks, not instanceof.
    expect((err as InputError).name).toBe('InputError');
    expect((err as InputError).exitCode).toBe(2);
    expect(String(err)).toMatch(/unknown compute backend "tpu".*PHCC_BACKEND/);
    await tf.setBackend('wasm');
  });

  it('names the package to install when tensorflow is forced but missing', async () => {
    delete process.env.PHCC_BACKEND;
    const err = await freshSelect()
      .initBackend({ backend: 'tensorflow' })
      .catch((e: unknown) => e);
    expect((err as PhccError).code).toBe('BACKEND_MISSING');
    expect((err as PhccError).exitCode).toBe(2);
    expect(String(err)).toMatch(/npm install @tensorflow\/tfjs-node/);
  });

  it('lists the backends this install can run, fastest first', () => {
    expect(freshSelect().availableBackends()).toEqual(['wasm', 'cpu']);
  });
});
