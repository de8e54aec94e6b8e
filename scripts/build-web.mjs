#!/usr/bin/env node
// Builds the miners' dashboard (web/) into dist/web: one JavaScript and one CSS bundle (uPlot included) and
// index.html. Everything the page loads is served by the pool (src/ops/web.ts); nothing comes from a CDN.
// Run by `npm run build` and by the test setup (test/setup/build-web.ts).
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function buildWeb(outDir = path.join(root, 'dist', 'web')) {
  mkdirSync(path.join(outDir, 'assets'), { recursive: true });
  await build({
    entryPoints: [path.join(root, 'web', 'src', 'main.ts')],
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    target: ['es2020'],
    outfile: path.join(outDir, 'assets', 'app.js'),
    logLevel: 'warning',
  });
  copyFileSync(path.join(root, 'web', 'index.html'), path.join(outDir, 'index.html'));
  return outDir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = await buildWeb();
  console.log(`dashboard built in ${path.relative(process.cwd(), dir) || '.'}`);
}
