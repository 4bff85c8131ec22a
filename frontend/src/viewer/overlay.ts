// What is written over the image: the patient and study, the series, image number, window and
// zoom, the calibration note, and the shared review's pointers (the lead's marker drawn here,
// the local user's pointer told to listeners).

import { metaData } from "@cornerstonejs/core";

import { element } from "../lib/dom";
import { fill } from "../lib/text";
import type { ViewerConfig } from "./config";
import type { Display } from "./display";
import type { PointerPosition } from "./handle";
import type { ViewerLayout } from "./layout";
import type { ViewerState } from "./state";
import type { Viewport } from "./viewport";

export interface Overlay {
  update(): void;
  /** Draws (or hides, with null) the remote pointer marker. */
  showRemotePointer(pointer: PointerPosition | null, label: string): void;
  /** Moves the remote pointer marker with the image. */
  placeRemotePointer(): void;
  onPointerMove(listener: (pointer: PointerPosition) => void): () => void;
  /** The mouse moved over the viewport (Viewport's hook). */
  mouseMoved(event: MouseEvent): void;
}

export function createOverlay(
  state: ViewerState,
  root: HTMLElement,
  layout: ViewerLayout,
  config: ViewerConfig,
  viewport: Viewport,
  display: Display,
): Overlay {
  const labels = config.labels;
  const { overlay, calibration, remotePointer, remoteLabel, viewportElement } = layout;
  const pointerListeners = new Set<(pointer: PointerPosition) => void>();
  let remote: { pointer: PointerPosition; label: string } | null = null;

  function update(): void {
    const patient = config.patient;
    overlay.topLeft.replaceChildren(
      element("div", "viewer-overlay-strong", patient.name),
      element("div", "", [patient.id, patient.sex, patient.age].filter(Boolean).join(" · ")),
    );
    overlay.topRight.replaceChildren(
      element("div", "", config.study.date),
      element("div", "", config.study.description),
    );
    const { viewport: stack, current } = state;
    if (stack === null || current === null) {
      return;
    }
    const index = stack.getCurrentImageIdIndex();
    const imageId = stack.getCurrentImageId();
    const general = metaData.get("generalImageModule", imageId) as
      | { instanceNumber?: number }
      | undefined;
    const seriesModule = metaData.get("generalSeriesModule", imageId) as
      | { seriesNumber?: number }
      | undefined;
    const { center, width } = viewport.voi();
    const zoom = stack.getZoom();
    calibration.hidden = stack.getImageData()?.hasPixelSpacing !== false;
    if (display.quality() === "diagnostic" && !viewport.numbersFinite()) {
      display.showFailure(
        fill(labels.renderFailed, { reason: labels.renderInvalid }),
        `W ${width} L ${center} zoom ${zoom}`,
      );
    }
    const counter = element(
      "div",
      "viewer-index",
      `${labels.image} ${index + 1} / ${current.imageIds.length}`,
    );
    root.dataset["imageIndex"] = String(index);
    overlay.bottomLeft.replaceChildren(
      element(
        "div",
        "",
        `${labels.series} ${seriesModule?.seriesNumber ?? state.currentEntry?.seriesNumber ?? "—"}` +
          ` · #${general?.instanceNumber ?? "—"}`,
      ),
      counter,
    );
    overlay.bottomRight.replaceChildren(
      element("div", "viewer-wl", `W ${Math.round(width)} L ${Math.round(center)}`),
      element("div", "viewer-zoom", `${Math.round(zoom * 100)}%`),
    );
  }

  function placeRemotePointer(): void {
    const at = remote === null ? null : viewport.canvasPoint(remote.pointer);
    if (remote === null || at === null) {
      remotePointer.hidden = true;
      return;
    }
    const [x, y] = at;
    remotePointer.style.transform = `translate(${x}px, ${y}px)`;
    remoteLabel.textContent = remote.label;
    remotePointer.hidden = false;
  }

  return {
    update,
    showRemotePointer(pointer, label) {
      remote = pointer === null ? null : { pointer, label };
      placeRemotePointer();
    },
    placeRemotePointer,
    onPointerMove(listener) {
      pointerListeners.add(listener);
      return () => pointerListeners.delete(listener);
    },
    mouseMoved(event) {
      if (pointerListeners.size === 0) {
        return;
      }
      const box = viewportElement.getBoundingClientRect();
      const point = viewport.imagePoint([event.clientX - box.left, event.clientY - box.top]);
      if (point !== null) {
        for (const listener of pointerListeners) {
          listener(point);
        }
      }
    },
  };
}
