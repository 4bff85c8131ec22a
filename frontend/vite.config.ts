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

// Modules that the page's bundle would carry but never runs, each replaced there by a stand-in
// that throws if ever used: [importing module, import specifier, exported names], where
// "default" is a default export that throws on any use and "class" a default-exported class
// that throws when constructed.
const CORNERSTONE_LOADER_INDEX = /dicom-image-loader\/dist\/esm\/index\.js$/;
const CORNERSTONE_MESH = /@cornerstonejs\/core\/dist\/esm\/cache\/classes\/Mesh\.js$/;
const CORNERSTONE_VIEWPORT_TYPES =
  /@cornerstonejs\/core\/dist\/esm\/RenderingEngine\/helpers\/viewportTypeToViewportClass\.js$/;
// The viewport classes the rendering engine can make besides the stack viewport the viewer
// asks for (generic "next" viewports are off: core's useGenericViewport setting): volume, 3D,
// video, whole-slide and ECG viewports, with most of vtk.js behind them.
const OTHER_VIEWPORTS = [
  "../VolumeViewport.js",
  "../VolumeViewport3D.js",
  "../VideoViewport.js",
  "../WSIViewport.js",
  "../ECGViewport.js",
  "../GenericViewport/ECG/ECGViewport.js",
  "../GenericViewport/ECG/ECGViewportLegacyAdapter.js",
  "../GenericViewport/Planar/PlanarViewport.js",
  "../GenericViewport/Planar/PlanarViewportLegacyAdapter.js",
  "../GenericViewport/Video/VideoViewport.js",
  "../GenericViewport/Video/VideoViewportLegacyAdapter.js",
  "../GenericViewport/Volume3D/viewport3D.js",
  "../GenericViewport/Volume3D/VolumeViewport3DLegacyAdapter.js",
  "../GenericViewport/WSI/WSIViewport.js",
  "../GenericViewport/WSI/WSIViewportLegacyAdapter.js",
];
const NEVER_RUN: [RegExp, string, string[]][] = [
  // The image loader's index re-exports its decoding worker and every codec's JavaScript for
  // decoding without workers; the viewer decodes in workers only (cornerstone.ts), which
  // import the real modules (Vite bundles the worker on its own).
  [CORNERSTONE_LOADER_INDEX, "./decodeImageFrameWorker.js", ["decodeImageFrame", "postProcessDecodedPixels"]],
  [CORNERSTONE_LOADER_INDEX, "./shared/decoders/index.js", ["initializers", "decoders"]],
  // Surface mesh files (PLY, STL, VTP, OBJ) for segmentations: the viewer shows none, and
  // the VTP reader alone brings an XML library of 670 kB.
  [CORNERSTONE_MESH, "@kitware/vtk.js/IO/Geometry/PLYReader.js", ["default"]],
  [CORNERSTONE_MESH, "@kitware/vtk.js/IO/Geometry/STLReader.js", ["default"]],
  [CORNERSTONE_MESH, "@kitware/vtk.js/IO/XML/XMLPolyDataReader.js", ["default"]],
  [CORNERSTONE_MESH, "@kitware/vtk.js/IO/Misc/OBJReader.js", ["default"]],
  // Deflated DICOM files loaded whole (wadouri:); the viewer loads frames over WADO-RS, which
  // the archive sends inflated.
  [/imageLoader\/wadouri\/parseDicomWithInflater\.js$/, "pako", ["default"]],
  // Viewports the viewer never creates: a class whose constructor throws, so that core's
  // `instanceof VolumeViewport` tests (scrolling, a viewport's image ids) answer false, as
  // they do for a stack viewport. The tools chunk keeps the real classes for its own tests.
  ...OTHER_VIEWPORTS.map((path): [RegExp, string, string[]] => [
    CORNERSTONE_VIEWPORT_TYPES,
    path,
    ["class"],
  ]),
  [/core\/dist\/esm\/utilities\/scroll\.js$/, "../RenderingEngine/VolumeViewport.js", ["class"]],
  [
    /core\/dist\/esm\/utilities\/getViewportImageIds\.js$/,
    "../RenderingEngine/VolumeViewport.js",
    ["class"],
  ],
];
const NEVER_RUN_PREFIX = "\0yunzhen-never-run:";

function neverRunStandIn(specifier: string, names: string[]): string {
  const fail = `throw new Error(${JSON.stringify(`${specifier} is left out of this build`)});`;
  return names
    .map((name) => {
      if (name === "class") {
        return `export default class NeverRun { constructor() { ${fail} } }`;
      }
      return name === "default"
        ? `export default new Proxy({}, { get() { ${fail} } });`
        : `export function ${name}() { ${fail} }`;
    })
    .join("\n");
}

/** Replaces the NEVER_RUN imports with stand-ins in the page bundles (not in workers). */
function neverRun(): Plugin {
  return {
    name: "yunzhen-never-run",
    apply: "build",
    enforce: "pre",
    resolveId(source, importer) {
      const index = NEVER_RUN.findIndex(
        ([from, specifier]) => specifier === source && importer !== undefined && from.test(importer),
      );
      return index === -1 ? null : `${NEVER_RUN_PREFIX}${index}`;
    },
    load(id) {
      if (!id.startsWith(NEVER_RUN_PREFIX)) {
        return null;
      }
      const entry = NEVER_RUN[Number(id.slice(NEVER_RUN_PREFIX.length))];
      return entry === undefined ? null : neverRunStandIn(entry[1], entry[2]);
    },
  };
}

export default defineConfig({
  base: "/static/",
  plugins: [neverRun(), precompress()],
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
      output: {
        codeSplitting: {
          groups: [
            // The shared library (src/lib/) is one chunk: the site's entry (src/main.ts, on every
            // page) needs part of it, so the pages' modules get the rest without a request of
            // their own. A few kilobytes; the viewer's first image path imports none of it.
            { name: "lib", test: /\/src\/lib\// },
          ],
        },
      },
    },
  },
});
