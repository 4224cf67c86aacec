// Builds the widget into dist/:
//   dist/loader.js                 stable name (it is in every tenant's snippet); names the version below
//   dist/v/<version>/app.js        the chat frame's script
//   dist/v/<version>/frame.html    the chat frame (CSS inlined)
//   dist/manifest.json             version and sizes
// <version> is a hash of the frame's files, so browsers may cache them for a year. Prints raw (bundled,
// unminified), minified and gzip sizes, and fails when loader + app exceed the size budget.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const BUDGET_MINIFIED = 50 * 1024;
const AIM_GZIP = 20 * 1024;

const bundle = async (entry, minify, define = {}) => {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "iife",
    target: ["es2020"],
    minify,
    legalComments: "none",
    charset: "utf8",
    write: false,
    define,
  });
  return result.outputFiles[0].text;
};

const css = (await esbuild.transform(readFileSync("src/style.css", "utf8"), { loader: "css", minify: true })).code;
const html = readFileSync("src/frame.html", "utf8")
  .replace("/*CSS*/", css.trim())
  .replace(/>\s+</g, "><")
  .trim();
const app = await bundle("src/app.ts", true);
const version = createHash("sha256").update(app).update(html).digest("hex").slice(0, 12);
const define = { __WIDGET_VERSION__: JSON.stringify(version) };
const loader = await bundle("src/loader.ts", true, define);

const files = {
  "loader.js": { text: loader, raw: await bundle("src/loader.ts", false, define) },
  [`v/${version}/app.js`]: { text: app, raw: await bundle("src/app.ts", false) },
  [`v/${version}/frame.html`]: { text: html, raw: readFileSync("src/frame.html", "utf8") + readFileSync("src/style.css", "utf8") },
};

rmSync("dist", { recursive: true, force: true });
mkdirSync(`dist/v/${version}`, { recursive: true });
const sizes = {};
for (const [name, file] of Object.entries(files)) {
  writeFileSync(`dist/${name}`, file.text);
  sizes[name] = {
    raw: Buffer.byteLength(file.raw),
    minified: Buffer.byteLength(file.text),
    gzip: gzipSync(file.text, { level: 9 }).length,
  };
}
writeFileSync("dist/manifest.json", JSON.stringify({ version, sizes }, null, 2) + "\n");

const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`.padStart(9);
console.log(`widget ${version}`);
console.log(`${"file".padEnd(28)}${"raw".padStart(9)}${"minified".padStart(10)}${"gzip".padStart(9)}`);
const total = { raw: 0, minified: 0, gzip: 0 };
for (const [name, size] of Object.entries(sizes)) {
  console.log(`${name.padEnd(28)}${kb(size.raw)} ${kb(size.minified)}${kb(size.gzip)}`);
  for (const key of Object.keys(total)) total[key] += size[key];
}
console.log(`${"total".padEnd(28)}${kb(total.raw)} ${kb(total.minified)}${kb(total.gzip)}`);
const scripts = sizes["loader.js"].minified + sizes[`v/${version}/app.js`].minified;
console.log(`loader + app minified: ${kb(scripts).trim()} (budget ${kb(BUDGET_MINIFIED).trim()})`);
if (total.gzip > AIM_GZIP) console.warn(`warning: ${kb(total.gzip).trim()} gzipped is above the ${kb(AIM_GZIP).trim()} aim`);
if (scripts > BUDGET_MINIFIED) {
  console.error("error: the widget is over its size budget");
  process.exit(1);
}
