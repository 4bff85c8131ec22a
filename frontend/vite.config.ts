// Builds the page scripts into dist/, which Django serves as static files under /static/.
// Templates find the hashed file names through dist/.vite/manifest.json ({% vite_entry %}).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/static/",
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
