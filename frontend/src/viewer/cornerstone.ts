// Starts Cornerstone once per page: the core and the DICOM image loader with its decoding web
// workers (Vite bundles the workers and the WASM codecs; a worker fetches only the codec of the
// frames it is given). The tools (measurements, mouse bindings, cine, prefetch: about half a
// megabyte) are a module of their own, loaded after the first image: toolsLoad().

import { init as coreInit } from "@cornerstonejs/core";
import dicomImageLoader from "@cornerstonejs/dicom-image-loader";

import { FRAMES_ACCEPT, framesAccept } from "./link";

// Decoding workers: enough to keep up with cine without starving the page on small machines.
const MAX_DECODE_WORKERS = 2;

/** The names under which the viewer's tools register (tools.ts checks them on load). */
export const TOOL_NAMES = {
  windowLevel: "WindowLevel",
  pan: "Pan",
  zoom: "Zoom",
  stackScroll: "StackScroll",
  length: "Length",
  angle: "Angle",
  ellipticalRoi: "EllipticalROI",
  arrowAnnotate: "ArrowAnnotate",
} as const;

export type ToolsModule = typeof import("./tools");

let started: Promise<void> | null = null;
let tools: Promise<ToolsModule> | null = null;

async function start(): Promise<void> {
  await coreInit();
  dicomImageLoader.init({
    maxWebWorkers: Math.min(MAX_DECODE_WORKERS, navigator.hardwareConcurrency || 1),
    // Same-origin requests carry the session cookie; only the Accept header changes.
    beforeSend: (_xhr, imageId) => ({ Accept: framesAccept(FRAMES_ACCEPT, imageId) }),
  });
}

/** Resolves once Cornerstone is ready; later calls share the first start. */
export function cornerstoneStart(): Promise<void> {
  started ??= start();
  return started;
}

/** Cornerstone's tools, started (module evaluation initialises them); loaded once. */
export function toolsLoad(): Promise<ToolsModule> {
  tools ??= cornerstoneStart().then(() => import("./tools"));
  return tools;
}
