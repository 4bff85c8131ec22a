// Cornerstone's tools as the viewer uses them. Loaded after the first image (cornerstone.ts
// toolsLoad): on a township clinic's link their half megabyte would otherwise delay it.

import type { Types as CoreTypes } from "@cornerstonejs/core";
import {
  AngleTool,
  ArrowAnnotateTool,
  EllipticalROITool,
  Enums,
  LengthTool,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  annotation,
  init,
  store,
} from "@cornerstonejs/tools";
import { cine, stackPrefetch } from "@cornerstonejs/tools/utilities";

import { TOOL_NAMES } from "./cornerstone";

// Only what the viewer uses: a dynamically imported module keeps everything it exports, and
// whole namespaces (utilities, store) would bring Cornerstone's segmentation compute worker.
export const { MouseBindings, KeyboardBindings } = Enums;
export const ANNOTATION_EVENTS = [
  Enums.Events.ANNOTATION_COMPLETED,
  Enums.Events.ANNOTATION_MODIFIED,
  Enums.Events.ANNOTATION_REMOVED,
];
export { cine, stackPrefetch };
export const annotationState = annotation.state;
export const createToolGroup = ToolGroupManager.createToolGroup;

const TOOL_CLASSES = [
  WindowLevelTool,
  PanTool,
  ZoomTool,
  StackScrollTool,
  LengthTool,
  AngleTool,
  EllipticalROITool,
  ArrowAnnotateTool,
];

const registered = new Set<string>(TOOL_CLASSES.map((tool) => tool.toolName));
const missing = Object.values(TOOL_NAMES).filter((name) => !registered.has(name));
if (missing.length > 0) {
  // A Cornerstone upgrade renamed a tool: fail loudly rather than leave a dead button.
  throw new Error(`Cornerstone tools not found: ${missing.join(", ")}`);
}

init();
for (const tool of TOOL_CLASSES) {
  addTool(tool);
}

/** Gives the tools a viewport whose element was enabled before they were loaded: they listen
 * for elements being enabled, and this one was already. */
export function toolsTakeElement(
  element: HTMLDivElement,
  viewportId: string,
  renderingEngineId: string,
): void {
  const detail = { element, viewportId, renderingEngineId };
  store.addEnabledElement(
    new CustomEvent("CORNERSTONE_ELEMENT_ENABLED", {
      detail,
    }) as CoreTypes.EventTypes.ElementEnabledEvent,
  );
}
