// The viewer's page structure: the series list, the toolbar over the stage, and on the stage
// the viewport, the preview, the overlay, the quality badge and the status line.

import { element } from "../lib/dom";
import type { ViewerLabels } from "./config";

export interface ViewerLayout {
  seriesList: HTMLUListElement;
  toolbar: HTMLDivElement;
  stage: HTMLDivElement;
  viewportElement: HTMLDivElement;
  /** The first series' preview, taken over from the page's HTML when it is there. */
  preview: HTMLImageElement;
  quality: HTMLSpanElement;
  status: HTMLParagraphElement;
  /** Says that lengths and areas are in pixels (no usable pixel spacing). */
  calibration: HTMLParagraphElement;
  overlay: {
    topLeft: HTMLDivElement;
    topRight: HTMLDivElement;
    bottomLeft: HTMLDivElement;
    bottomRight: HTMLDivElement;
  };
  remotePointer: HTMLDivElement;
  remoteLabel: HTMLSpanElement;
  help: HTMLDivElement;
}

/** Replaces the root's content by the viewer's structure; `firstCanvas` (first.ts) stays on
 * the stage over the preview. */
export function viewerLayout(
  root: HTMLElement,
  labels: ViewerLabels,
  firstCanvas: HTMLCanvasElement | null,
): ViewerLayout {
  // The page may draw the first series' preview itself, so a slow link shows it before this
  // script arrives (imaging/viewer.html): take that image over instead of loading it again.
  const preview =
    root.querySelector<HTMLImageElement>("img.viewer-preview") ?? element("img", "viewer-preview");
  root.classList.add("viewer");
  root.replaceChildren();
  const seriesList = element("ul", "viewer-series");
  seriesList.setAttribute("aria-label", labels.series);
  const main = element("div", "viewer-main");
  const toolbar = element("div", "viewer-toolbar");
  toolbar.setAttribute("role", "toolbar");
  const stage = element("div", "viewer-stage");
  const viewportElement = element("div", "viewer-viewport");
  viewportElement.addEventListener("contextmenu", (event) => event.preventDefault());
  preview.alt = "";
  // No preview (the archive could not render one): the badge still says what is shown.
  preview.addEventListener("error", () => {
    preview.hidden = true;
  });
  const quality = element("span", "viewer-quality");
  quality.setAttribute("role", "status");
  const status = element("p", "viewer-status", labels.loading);
  const calibration = element("p", "viewer-calibration", labels.uncalibrated);
  calibration.hidden = true;
  const overlay = {
    topLeft: element("div", "viewer-overlay viewer-overlay--top-left"),
    topRight: element("div", "viewer-overlay viewer-overlay--top-right"),
    bottomLeft: element("div", "viewer-overlay viewer-overlay--bottom-left"),
    bottomRight: element("div", "viewer-overlay viewer-overlay--bottom-right"),
  };
  const remotePointer = element("div", "viewer-pointer");
  remotePointer.hidden = true;
  const remoteLabel = element("span", "viewer-pointer-label");
  remotePointer.append(remoteLabel);
  stage.append(
    viewportElement,
    preview,
    ...(firstCanvas === null ? [] : [firstCanvas]),
    overlay.topLeft,
    overlay.topRight,
    overlay.bottomLeft,
    overlay.bottomRight,
    remotePointer,
    quality,
    calibration,
    status,
  );
  const help = element("div", "viewer-help");
  help.hidden = true;
  help.setAttribute("role", "dialog");
  help.setAttribute("aria-label", labels.shortcuts);
  main.append(toolbar, stage);
  root.append(seriesList, main, help);
  return {
    seriesList,
    toolbar,
    stage,
    viewportElement,
    preview,
    quality,
    status,
    calibration,
    overlay,
    remotePointer,
    remoteLabel,
    help,
  };
}
