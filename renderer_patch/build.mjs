// Builds the two browser files from src/ into quartdash/static/, with no dependency:
// the sources are ES modules with single-line imports, joined in dependency order
// inside one function scope. `node build.mjs --check` fails if the committed files
// differ from a fresh build (the test suite runs it).

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const out = join(here, "..", "quartdash", "static");

const ENTRIES = { "quartdash-worker.js": "worker.js", "quartdash-page.js": "page.js" };
const IMPORT = /^import\s+\{[^}]*\}\s+from\s+"\.\/([\w.-]+)";\s*$/;

function ordered(entry, seen = new Set(), order = []) {
  if (seen.has(entry)) return order;
  seen.add(entry);
  for (const line of readFileSync(join(src, entry), "utf8").split("\n")) {
    const match = IMPORT.exec(line);
    if (match) ordered(match[1], seen, order);
  }
  order.push(entry);
  return order;
}

function bundle(entry) {
  const parts = ordered(entry).map((name) => {
    const body = readFileSync(join(src, name), "utf8")
      .split("\n")
      .filter((line) => !IMPORT.test(line))
      .map((line) => line.replace(/^export (?=const|function|class|let)/, ""))
      .join("\n")
      .trim();
    return `// --- ${name}\n${body}`;
  });
  return (
    "// Built by renderer_patch/build.mjs from renderer_patch/src; do not edit.\n" +
    `(() => {\n"use strict";\n${parts.join("\n\n")}\n})();\n`
  );
}

const check = process.argv.includes("--check");
let stale = [];
for (const [file, entry] of Object.entries(ENTRIES)) {
  const text = bundle(entry);
  const path = join(out, file);
  if (check) {
    let current = "";
    try { current = readFileSync(path, "utf8"); } catch {}
    if (current !== text) stale.push(file);
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path} (${text.length} bytes)`);
  }
}
if (stale.length) {
  console.error(`stale: ${stale.join(", ")}; run: node renderer_patch/build.mjs`);
  process.exit(1);
}
