// build.mjs bundles src/ into dist/, which console/web embeds into the
// mamori binary. The output has no timestamps and no content hashes in
// its names, so the same sources and lockfile give the same bytes:
// scripts/test.sh rebuilds and fails when the committed copy differs.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist');
await esbuild.build({
  entryPoints: { app: 'src/main.jsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: 'dist',
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
});
for (const f of ['index.html', 'favicon.svg']) copyFileSync('src/' + f, 'dist/' + f);
