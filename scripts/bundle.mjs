// The CLI as one ES module bundle (dist/bundle/): Node 20 loads ~130 small modules noticeably
// slower than the same code in a few files, and has no compile cache to make up for it.
// Lazy `import()`s become chunks, so a command still loads only what it runs.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names change with their content: no stale chunk from an earlier build stays behind.
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  // Both entries sit two folders below the package root, like dist/<dir>/<file>.js, so the
  // paths the code finds from import.meta.url (package.json, templates/, bin/) stay right.
  entryPoints: { main: 'dist/cli/main.js', 'check-worker': 'dist/sync/check-worker.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  // Whitespace and syntax only: ~30% less source for Node to read and compile at every start
  // (zod and yaml are most of it); identifiers stay, so stack traces keep their function names.
  minifyWhitespace: true,
  minifySyntax: true,
  // yaml and other CommonJS dependencies call require(); an ES module has none of its own.
  banner: {
    js: "import { createRequire as __gfCreateRequire } from 'node:module'; const require = __gfCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
