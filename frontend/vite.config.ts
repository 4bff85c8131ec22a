// Builds the page scripts into dist/, which Django serves as static files under /static/.
// Templates find the hashed file names through dist/.vite/manifest.json ({% vite_entry %}).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/static/",
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
      ],
    },
  },
});
