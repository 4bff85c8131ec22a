// The measurements and annotations on the image: read and replaced as the consult saves them
// (SavedAnnotation), their changes told to listeners, the ROI's statistics in the page's
// language, and the image with its annotations as a PNG (key images).

import { utilities } from "@cornerstonejs/core";
import type { Types as ToolTypes } from "@cornerstonejs/tools";

import { fill } from "../lib/text";
import { ANNOTATION_TOOLS } from "./choices";
import type { ViewerLabels } from "./config";
import type { SavedAnnotation } from "./handle";
import type { ViewerState } from "./state";

export interface Annotations {
  list(): SavedAnnotation[];
  /** Replaces the displayed annotations (kept until the tools arrive, then applied). */
  set(list: SavedAnnotation[]): void;
  onChange(listener: (annotations: SavedAnnotation[]) => void): () => void;
  /** Cornerstone says an annotation was completed, modified or removed. */
  changed(): void;
  /** The tools have arrived: shows what was set before them. */
  toolsAttached(): void;
}

export function createAnnotations(
  state: ViewerState,
  viewportElement: HTMLDivElement,
): Annotations {
  const listeners = new Set<(annotations: SavedAnnotation[]) => void>();
  let pending: SavedAnnotation[] | null = null;

  function list(): SavedAnnotation[] {
    if (state.tools === null) {
      return pending ?? [];
    }
    const all = state.tools.annotationState.getAllAnnotations() as ToolTypes.Annotation[];
    return all
      .filter((item) => ANNOTATION_TOOLS.has(item.metadata?.toolName ?? ""))
      .map((item) => {
        return {
          annotationUid: item.annotationUID ?? "",
          seriesInstanceUid: state.current?.seriesInstanceUid ?? "",
          sopInstanceUid: sopInstanceUidOf(item.metadata?.referencedImageId ?? ""),
          tool: item.metadata?.toolName ?? "",
          data: JSON.parse(JSON.stringify(item)) as unknown,
        };
      });
  }

  function set(annotations: SavedAnnotation[]): void {
    if (state.tools === null) {
      pending = annotations; // applied once the tools are loaded
      return;
    }
    const annotationState = state.tools.annotationState;
    state.applying += 1;
    try {
      annotationState.removeAllAnnotations();
      for (const item of annotations) {
        annotationState.addAnnotation(
          structuredClone(item.data) as ToolTypes.Annotation,
          viewportElement,
        );
      }
      state.viewport?.render();
    } finally {
      state.applying -= 1;
    }
  }

  return {
    list,
    set,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    changed() {
      if (state.applying > 0) {
        return;
      }
      const annotations = list();
      for (const listener of listeners) {
        listener(annotations);
      }
    },
    toolsAttached() {
      if (pending !== null) {
        set(pending);
        pending = null;
      }
    },
  };
}

interface RoiStats {
  area?: number;
  mean?: number;
  max?: number;
  min?: number;
  stdDev?: number;
  isEmptyArea?: boolean;
  areaUnit?: string;
  modalityUnit?: string;
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** The elliptical ROI's statistics in the page's language (Cornerstone's own are English). */
export function roiTextLines(
  labels: ViewerLabels,
  data: { cachedStats?: Record<string, RoiStats | undefined> },
  targetId: string,
): string[] {
  const stats = data.cachedStats?.[targetId];
  if (stats === undefined) {
    return [];
  }
  const unit = stats.modalityUnit ?? "";
  const value = (n: number, suffix: string): string =>
    `${utilities.roundNumber(n)}${suffix === "" ? "" : ` ${suffix}`}`;
  const lines: string[] = [];
  if (isNumber(stats.area)) {
    lines.push(
      stats.isEmptyArea
        ? labels.roiAreaOblique
        : fill(labels.roiArea, { value: value(stats.area, stats.areaUnit ?? "") }),
    );
  }
  const rows: [number | undefined, string][] = [
    [stats.mean, labels.roiMean],
    [stats.max, labels.roiMax],
    [stats.min, labels.roiMin],
    [stats.stdDev, labels.roiStdDev],
  ];
  for (const [n, template] of rows) {
    if (isNumber(n)) {
      lines.push(fill(template, { value: value(n, unit) }));
    }
  }
  return lines;
}

/** The SOP Instance UID in a `wadors:…/instances/<uid>/frames/<n>` image id. */
export function sopInstanceUidOf(imageId: string): string {
  return /\/instances\/([^/]+)\//.exec(imageId)?.[1] ?? "";
}

/** The viewport's canvas with the SVG annotation layer drawn over it, as a PNG. */
export async function snapshot(viewportElement: HTMLElement): Promise<Blob> {
  const source = viewportElement.querySelector("canvas");
  if (source === null) {
    throw new Error("Nothing is displayed yet.");
  }
  const canvas = document.createElement("canvas");
  canvas.width = source.width;
  canvas.height = source.height;
  const context = canvas.getContext("2d");
  if (context === null) {
    throw new Error("No 2D canvas.");
  }
  context.drawImage(source, 0, 0);
  const svg = viewportElement.querySelector("svg");
  if (svg !== null) {
    const markup = new XMLSerializer().serializeToString(svg);
    const image = new Image();
    image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(markup)}`;
    await image.decode();
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
  }
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob === null ? reject(new Error("PNG encoding failed.")) : resolve(blob)), "image/png");
  });
}
