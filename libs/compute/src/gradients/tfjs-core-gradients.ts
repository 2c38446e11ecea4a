import * as tf from '@tensorflow/tfjs-core';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Registers tfjs's own gradient functions in a CommonJS process.
 *
 * tfjs-core's CommonJS bundle (what `require('@tensorflow/tfjs-core')` loads) contains no
 * gradients: the umbrella `@tensorflow/tfjs` bundle inlines them from tfjs-core's ES-module files
 * (dist/gradients/*_grad.js), and we do not depend on that umbrella (it drags in layers, webgl,
 * converter). Node cannot import those ES modules directly (extensionless specifiers), and jest
 * runs without ES-module support. So this loads each gradient file, rewriting its imports to the
 * already-initialised CommonJS copy of tfjs-core (same engine, same registries) and, for the few
 * internal helpers the bundle does not export, to the file itself loaded the same way.
 */

type Exports = Record<string, unknown>;

const coreDist = dirname(require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js'));

/** Modules the gradient files import, served from the CommonJS bundle by path. */
function bundleModule(specifierPath: string): Exports | undefined {
  const rel = specifierPath.slice(coreDist.length + 1);
  switch (rel) {
    case 'kernel_names':
    case 'base':
    case 'index':
      return tf as unknown as Exports;
    case 'util':
      return tf.util as unknown as Exports;
    case 'engine':
      return { ENGINE: tf.engine() };
    case 'ops/axis_util':
    case 'ops/broadcast_util':
    case 'ops/conv_util':
    case 'ops/selu_util':
      return tf.backend_util as unknown as Exports;
    case 'ops/slice_util':
      return tf.slice_util as unknown as Exports;
    default:
      return undefined;
  }
}

const loaded = new Map<string, Exports>();

function importNames(fromFile: string, specifier: string, names: string[]): Exports {
  const target = resolve(dirname(fromFile), specifier);
  const mapped = bundleModule(target);
  if (mapped) return mapped;
  // An op file: the bundle exports public ops under the same name; internal ones
  // (conv2DBackpropFilter, maxPoolGrad, …) come from the file itself.
  if (target.startsWith(join(coreDist, 'ops') + '/')) {
    const pub = tf as unknown as Exports;
    if (names.every((n) => typeof pub[n] === 'function')) return pub;
  }
  return loadEsmFile(target + '.js');
}

const IMPORT_NAMED = /import\s*\{([^}]*)\}\s*from\s*'([^']+)';?/g;
const IMPORT_STAR = /import\s*\*\s*as\s+(\w+)\s+from\s*'([^']+)';?/g;
const EXPORT_DECL = /^export\s+((?:async\s+)?function\*?|const|let|var|class)\s+(\w+)/gm;
const EXPORT_LIST = /^export\s*\{([^}]*)\};?/gm;

function loadEsmFile(file: string): Exports {
  const cached = loaded.get(file);
  if (cached) return cached;
  const exportsObj: Exports = {};
  loaded.set(file, exportsObj);
  const imports: Exports[] = [];
  let source = readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  if (/^export\s*\*|^export\s*\{[^}]*\}\s*from|^import\s+\w+\s*(,|from)/m.test(source)) {
    throw new Error(`unsupported module syntax in ${file}`);
  }
  source = source.replace(IMPORT_STAR, (_m, ns: string, spec: string) => {
    imports.push(importNames(file, spec, []));
    return `const ${ns} = __imports[${imports.length - 1}];`;
  });
  source = source.replace(IMPORT_NAMED, (_m, list: string, spec: string) => {
    const pairs = splitList(list);
    imports.push(
      importNames(
        file,
        spec,
        pairs.map(([name]) => name),
      ),
    );
    const binding = pairs.map(([name, local]) => (name === local ? name : `${name}: ${local}`)).join(', ');
    return `const { ${binding} } = __imports[${imports.length - 1}];`;
  });
  const exported: [string, string][] = [];
  source = source.replace(EXPORT_DECL, (_m, kind: string, name: string) => {
    exported.push([name, name]);
    return `${kind} ${name}`;
  });
  source = source.replace(EXPORT_LIST, (_m, list: string) => {
    for (const [local, name] of splitList(list)) exported.push([name, local]);
    return '';
  });
  // Getters, defined before the body runs, keep `let` exports live as ES modules do.
  const getters = exported
    .map(
      ([name, local]) =>
        `Object.defineProperty(__exports, '${name}', { enumerable: true, get: () => ${local} });`,
    )
    .join('\n');
  const body = new Function('__exports', '__imports', `'use strict';\n${getters}\n${source}`);
  body(exportsObj, imports);
  return exportsObj;
}

/** `a, b as c` → [['a','a'], ['b','c']] */
function splitList(list: string): [string, string][] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [name, local] = s.split(/\s+as\s+/);
      return [name.trim(), (local ?? name).trim()];
    });
}

let done = false;

/**
 * Registers every tfjs-core gradient not registered yet (a native tfjs-node install brings the
 * umbrella package, which registers them itself). Returns the kernels given a gradient here.
 */
export function registerTfjsCoreGradients(): string[] {
  if (done) return [];
  done = true;
  const added: string[] = [];
  const dir = join(coreDist, 'gradients');
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('_grad.js')) continue;
    const mod = loadEsmFile(join(dir, file));
    for (const value of Object.values(mod)) {
      if (!isGradConfig(value)) continue;
      if (tf.getGradient(value.kernelName)) continue;
      tf.registerGradient(value);
      added.push(value.kernelName);
    }
  }
  return added;
}

function isGradConfig(v: unknown): v is tf.GradConfig {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as tf.GradConfig).kernelName === 'string' &&
    typeof (v as tf.GradConfig).gradFunc === 'function'
  );
}
