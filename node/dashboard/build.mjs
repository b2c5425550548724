// Builds the dashboard into dist/: index.html, app.js and app.css, the
// three files the regulator's node embeds (node/src/rpc/dashboard.rs) and
// serves under a strict Content-Security-Policy.
//
// The output is deterministic (same sources and package-lock.json, same
// bytes): no timestamps, no hashes in names, no source maps, no absolute
// paths. CI rebuilds it and compares it with the committed dist/.
//
//   node build.mjs           build once
//   node build.mjs --watch   rebuild on change (development)
//   node build.mjs --test    bundle test/*.test.ts for Node and run them

import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const sdkSource = path.resolve(here, '../../sdk/typescript/src');
const watch = process.argv.includes('--watch');
const runTests = process.argv.includes('--test');

/** Marks a Node-only module that was resolved; the build fails if it is in the output. */
const NODE_ONLY = 'hutong-dashboard: a Node-only module reached the browser bundle';

/**
 * How imports resolve:
 * - `@hutong/sdk/<file>.js` is the repository's SDK source
 *   (sdk/typescript/src/<file>.ts), compiled with the dashboard;
 * - the SDK's own dependencies (@noble/*, @scure/*) resolve from this
 *   package's node_modules, pinned by its package-lock.json, never from
 *   sdk/typescript/node_modules (which may be absent, or hold other
 *   versions on another machine);
 * - Node-only modules (`node:*`, `ws`), reachable only from SDK helpers
 *   the dashboard does not call, become a stub; the build checks that no
 *   stub survived tree-shaking.
 */
const resolvePlugin = (browser) => ({
  name: 'hutong-resolve',
  setup(build) {
    build.onResolve({ filter: /^@hutong\/sdk\// }, (args) => ({
      path: path.join(sdkSource, args.path.slice('@hutong/sdk/'.length).replace(/\.js$/, '.ts')),
    }));
    build.onResolve({ filter: /^@(noble|scure)\// }, async (args) => {
      if (args.pluginData === 'from-dashboard') return undefined;
      const r = await build.resolve(args.path, { kind: args.kind, resolveDir: here, pluginData: 'from-dashboard' });
      return r.errors.length > 0 ? { errors: r.errors } : { path: r.path };
    });
    if (!browser) return;
    build.onResolve({ filter: /^(node:.*|ws)$/ }, (args) => ({ path: args.path, namespace: 'node-only' }));
    build.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${NODE_ONLY}: ${args.path}`)});`,
      loader: 'js',
    }));
  },
});

const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  // Keep licence comments of bundled packages, at the end of the file.
  legalComments: 'eof',
  charset: 'utf8',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  logLevel: 'warning',
};

const js = {
  ...common,
  entryPoints: ['src/main.tsx'],
  outfile: 'dist/app.js',
  format: 'iife',
  platform: 'browser',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  define: { 'process.env.NODE_ENV': '"production"' },
  plugins: [resolvePlugin(true)],
};

const css = {
  ...common,
  entryPoints: ['src/app.css'],
  outfile: 'dist/app.css',
};

async function checkOutput() {
  const bundle = await readFile(path.join(dist, 'app.js'), 'utf8');
  if (bundle.includes(NODE_ONLY)) throw new Error('dist/app.js holds a Node-only module (see build.mjs)');
}

/** The unit tests (pure modules: JSON, the log's chain, cycles), bundled for Node and run. */
async function test() {
  const out = path.join(here, 'node_modules/.cache/dashboard-tests');
  await rm(out, { recursive: true, force: true });
  const files = (await readdir(path.join(here, 'test'))).filter((f) => f.endsWith('.test.ts'));
  await esbuild.build({
    ...common,
    minify: false,
    entryPoints: files.map((f) => `test/${f}`),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    target: 'node20',
    platform: 'node',
    plugins: [resolvePlugin(false)],
  });
  // The fixtures are read relative to the bundled tests.
  await mkdir(path.join(out, 'fixtures'), { recursive: true });
  for (const f of await readdir(path.join(here, 'test/fixtures'))) await copyFile(path.join(here, 'test/fixtures', f), path.join(out, 'fixtures', f));
  const run = spawnSync(process.execPath, ['--test', ...files.map((f) => path.join(out, f.replace(/\.ts$/, '.mjs')))], { stdio: 'inherit' });
  process.exit(run.status ?? 1);
}

if (runTests) await test();

await mkdir(dist, { recursive: true });
await copyFile(path.join(here, 'src/index.html'), path.join(dist, 'index.html'));
if (watch) {
  const contexts = await Promise.all([esbuild.context(js), esbuild.context(css)]);
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('watching src/ (index.html is copied once; restart to copy it again)');
} else {
  await Promise.all([esbuild.build(js), esbuild.build(css)]);
  await checkOutput();
  for (const f of ['index.html', 'app.js', 'app.css']) {
    const bytes = (await readFile(path.join(dist, f))).length;
    console.log(`dist/${f.padEnd(10)} ${bytes.toLocaleString('en').padStart(9)} bytes`);
  }
}
