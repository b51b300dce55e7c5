// Bundle every top-level js/src/*.js view into xwidgets/static/<name>.js (ESM).
// Run with `npm run build` (hatch-jupyter-builder does this on pip install / wheel builds).
import { readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, "src");
const outDir = resolve(here, "..", "xwidgets", "static");

const entryPoints = readdirSync(srcDir, { withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith(".js"))
  .map((d) => join(srcDir, d.name))
  .sort();

if (entryPoints.length === 0) {
  console.error(`no entry points found in ${srcDir}`);
  process.exit(1);
}

const result = await esbuild.build({
  entryPoints,
  outdir: outDir,
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  // UMD dependencies must not register with requirejs's global `define`
  // (classic notebook, VS Code, HTML export); see shared/ANYWIDGET.md.
  define: { "define.amd": "false" },
  logLevel: "warning",
  metafile: true,
});

for (const out of Object.keys(result.metafile.outputs).sort()) {
  const abs = resolve(process.cwd(), out);
  const size = statSync(abs).size;
  console.log(`built ${relative(here, abs)} (${size} bytes)`);
}
