// Builds the page scripts into dist/, which Django serves as static files under /static/.
// Templates find the hashed file names through dist/.vite/manifest.json ({% vite_entry %}).
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { brotliCompress, constants as zlibConstants, gzip } from "node:zlib";

import { defineConfig, type Plugin } from "vite";

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

// What is worth compressing: text and WASM. Images and the manifest (read by Django, not sent)
// are left alone.
const COMPRESSIBLE = /\.(js|mjs|css|wasm|svg|json)$/;
const MIN_BYTES = 1024;
// A sibling is kept only when it saves at least this share of the file.
const MIN_SAVING = 0.05;
const BROTLI_QUALITY = 9;

/**
 * Writes a .gz and a .br next to every compressible file of the build. WhiteNoise serves them
 * (with Content-Encoding and Vary: Accept-Encoding) to browsers that accept them, in
 * development (`make run`, files found through STATICFILES_DIRS) as in production, so a clinic
 * on a slow link never downloads the viewer's megabytes uncompressed. Browsers ask for brotli
 * only over HTTPS. gzip is at its best level (0.3 s for the viewer chunk); brotli at quality 9,
 * not 11, which would add 10-20 s to every build for 9 % less. Production's collectstatic
 * (CompressedStaticFilesStorage) writes its own siblings of the collected files.
 */
function precompress(): Plugin {
  let outDir = "";
  return {
    name: "yunzhen-precompress",
    apply: "build",
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async writeBundle(_options, bundle) {
      const names = Object.keys(bundle).filter(
        (name) => COMPRESSIBLE.test(name) && !name.startsWith(".vite/"),
      );
      await Promise.all(
        names.map(async (name) => {
          const path = join(outDir, name);
          const raw = await readFile(path);
          if (raw.length < MIN_BYTES) {
            return;
          }
          const [gzipped, brotli] = await Promise.all([
            gzipAsync(raw, { level: zlibConstants.Z_BEST_COMPRESSION }),
            brotliAsync(raw, {
              params: {
                [zlibConstants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
                [zlibConstants.BROTLI_PARAM_SIZE_HINT]: raw.length,
              },
            }),
          ]);
          const limit = raw.length * (1 - MIN_SAVING);
          await Promise.all([
            gzipped.length < limit ? writeFile(`${path}.gz`, gzipped) : null,
            brotli.length < limit ? writeFile(`${path}.br`, brotli) : null,
          ]);
        }),
      );
    },
  };
}

export default defineConfig({
  base: "/static/",
  plugins: [precompress()],
  resolve: {
    alias: {
      // Cornerstone's vtk.js imports xmlbuilder2, whose Node build extends Node's EventEmitter
      // (undefined in browsers) when the module loads; its own browser bundle does not.
      xmlbuilder2: "xmlbuilder2/lib/xmlbuilder2.min.js",
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    rolldownOptions: {
      input: [
        "src/main.ts",
        "src/consult/worklist.ts",
        "src/consult/request.ts",
        "src/consult/detail.ts",
        "src/viewer/main.ts",
        "src/upload/main.ts",
      ],
    },
  },
});
