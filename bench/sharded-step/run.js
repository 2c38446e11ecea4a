// Runs sharded-step.ts from source: registers a TypeScript transpile hook (typescript is a dev
// dependency) so the bench needs no build step and nothing of it reaches dist/.
'use strict';
const ts = require('typescript');
const fs = require('node:fs');
require.extensions['.ts'] = (m, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
    },
  });
  m._compile(out.outputText, filename);
};
require('./sharded-step.ts');
