// Starts Cornerstone once per page: the core, the tools the viewer offers, and the DICOM image
// loader with its decoding web workers (Vite bundles the workers and the WASM codecs).

import { init as coreInit } from "@cornerstonejs/core";
import dicomImageLoader from "@cornerstonejs/dicom-image-loader";
import {
  AngleTool,
  ArrowAnnotateTool,
  EllipticalROITool,
  LengthTool,
  PanTool,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as toolsInit,
} from "@cornerstonejs/tools";

import { framesAccept } from "./quality";

// Frames as the archive stores them (compressed frames are decoded here, in the workers);
// the second range lets the archive decode what it cannot send as stored (big endian).
const FRAMES_ACCEPT =
  'multipart/related; type="*/*"; transfer-syntax=*, ' +
  'multipart/related; type="application/octet-stream"; transfer-syntax=*';
// Decoding workers: enough to keep up with cine without starving the page on small machines.
const MAX_DECODE_WORKERS = 2;

export const TOOL_CLASSES = [
  WindowLevelTool,
  PanTool,
  ZoomTool,
  StackScrollTool,
  LengthTool,
  AngleTool,
  EllipticalROITool,
  ArrowAnnotateTool,
];

let started: Promise<void> | null = null;

async function start(): Promise<void> {
  await coreInit();
  toolsInit();
  dicomImageLoader.init({
    maxWebWorkers: Math.min(MAX_DECODE_WORKERS, navigator.hardwareConcurrency || 1),
    // Same-origin requests carry the session cookie; only the Accept header changes.
    beforeSend: (_xhr, imageId) => ({ Accept: framesAccept(FRAMES_ACCEPT, imageId) }),
  });
  for (const tool of TOOL_CLASSES) {
    addTool(tool);
  }
}

/** Resolves once Cornerstone is ready; later calls share the first start. */
export function cornerstoneStart(): Promise<void> {
  started ??= start();
  return started;
}
