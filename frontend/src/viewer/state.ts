// What the viewer's parts (viewer.ts composes them) share while the page is open: one record,
// read and written in place, so each part sees the others' latest changes.

import type { Types } from "@cornerstonejs/core";

import type { SeriesEntry } from "./config";
import type { ToolsModule } from "./cornerstone";
import type { LoadedSeries } from "./series";

export interface ViewerIds {
  engine: string;
  viewport: string;
  toolGroup: string;
}

export interface ViewerState {
  readonly ids: ViewerIds;
  /** Cornerstone's stack viewport, once created (viewport.ts). */
  viewport: Types.IStackViewport | null;
  /** Cornerstone's tools, once loaded after the first image (toolGroup.ts). */
  tools: ToolsModule | null;
  /** The series whose frames the viewport stacks, once loaded. */
  current: LoadedSeries | null;
  /** The series being shown (or loaded), as the page's configuration lists it. */
  currentEntry: SeriesEntry | null;
  /** False while following a shared review's lead: the user's input changes nothing. */
  interactive: boolean;
  /** Above zero while a change not made by the local user is applied: no listener hears it. */
  applying: number;
  /** The first image module's canvas (first.ts), on screen until the handover. */
  firstCanvas: HTMLCanvasElement | null;
}

let viewerCount = 0;

export function viewerStateNew(firstCanvas: HTMLCanvasElement | null): ViewerState {
  viewerCount += 1;
  return {
    ids: {
      engine: `yz-engine-${viewerCount}`,
      viewport: `yz-viewport-${viewerCount}`,
      toolGroup: `yz-tools-${viewerCount}`,
    },
    viewport: null,
    tools: null,
    current: null,
    currentEntry: null,
    interactive: true,
    applying: 0,
    firstCanvas,
  };
}
