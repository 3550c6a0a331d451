// componentize-js, called as a library (./build copies this file into the toolchain directory
// so the packages resolve from there). Usage:
//   node componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm
//
// Why not `jco componentize`: with jco 1.35.0 and preview2-shim 0.26.x the WIT is read by
// WebAssembly tools (wasm-tools, the splicer) running on preview2-shim, whose Node.js
// filesystem no longer preopens anything by default; `jco componentize` then fails with
// "failed to get path metadata: No such file or directory (os error 44)" for any --wit path.
// Here the WIT directory is preopened (read-only use, under its own host path) first.
import { _addPreopen } from '@bytecodealliance/preview2-shim/filesystem';
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const [source, wit, worldName, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm');
  process.exit(2);
}
const witPath = resolve(wit);
_addPreopen(witPath, witPath);

const started = performance.now();
const { component, imports } = await componentize({
  sourcePath: resolve(source),
  witPath,
  worldName,
  // The plugin reaches the world only through its own `log` and `http` imports: no stdio
  // (console), clocks (Date.now, timers), random (Math.random is then deterministic), fetch,
  // or fetch-event, and so no wasi:* imports at all.
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.error(
  `componentize-js: ${out} (${component.length} bytes, ${seconds}s); imports: ${
    imports.map((i) => (Array.isArray(i) ? i.join('#') : String(i))).join(', ') || 'none'
  }`,
);
