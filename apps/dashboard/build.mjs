// Builds the dashboard into dist/ui (run by `npm run build`): one JavaScript bundle (Preact + uPlot
// + our code), one stylesheet, one page. Everything is served by the coordinator at /ui; nothing
// is fetched from anywhere else at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'dist', 'ui');
const require = createRequire(import.meta.url);
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, 'src', 'main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
});
const css = [
  readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  readFileSync(join(here, 'src', 'styles.css'), 'utf8'),
];
writeFileSync(join(out, 'app.css'), css.join('\n'));
copyFileSync(join(here, 'src', 'index.html'), join(out, 'index.html'));
copyFileSync(join(here, 'src', 'favicon.svg'), join(out, 'favicon.svg'));
