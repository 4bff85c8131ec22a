// Entry of the image viewer page: read the page's configuration and start the viewer.
//
// The page's HTML already shows the first preview. On a clinic's slow link that image should
// have the link to itself, so nothing else is fetched until it is on screen. Then, on a slow
// link, a small module draws the first diagnostic image without Cornerstone (first.ts), and
// only after it the viewer's scripts (Cornerstone: over 600 kB gzipped) are fetched; the
// viewer takes the image over once they have arrived. From the browser cache they load at once.

import "./viewer.css";

import { readViewerConfig } from "./config";
import { firstImageDraw } from "./first";
import { seriesBase, seriesMetadataAhead } from "./metadata";

const PREVIEW_WAIT_MS = 5_000;

function previewShown(root: HTMLElement): Promise<void> {
  const preview = root.querySelector<HTMLImageElement>("img.viewer-preview");
  if (preview === null || preview.complete) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    preview.addEventListener("load", () => resolve(), { once: true });
    preview.addEventListener("error", () => resolve(), { once: true });
    window.setTimeout(resolve, PREVIEW_WAIT_MS);
  });
}

const root = document.getElementById("viewer");
if (root !== null) {
  const config = readViewerConfig();
  const firstSeries = config.series[0];
  if (firstSeries !== undefined) {
    // A few kilobytes beside the preview, so that the frame can be asked for the moment the
    // preview is in; the viewer takes this answer rather than asking again.
    const { dicomwebRoot, studyInstanceUid } = config;
    const base = seriesBase(dicomwebRoot, studyInstanceUid, firstSeries.seriesInstanceUid);
    seriesMetadataAhead(base).catch(() => undefined);
  }
  void previewShown(root)
    .then(() => firstImageDraw(root, config))
    .then(async (firstImage) => {
      const { createViewer } = await import("./viewer");
      const handle = createViewer(root, config, firstImage);
      // Browser tests and the consult's shared review reach the viewer through its handle.
      (window as unknown as { yunzhenViewer: typeof handle }).yunzhenViewer = handle;
      if (config.consultId !== null) {
        void import("../review/shared").then((review) => review.startSharedReview(handle, config));
      }
    });
}
