// Entry of the image viewer page: read the page's configuration and start the viewer.
//
// The page's HTML already shows the first preview. On a clinic's slow link that image should
// have the link to itself, so the viewer's scripts (Cornerstone: a megabyte) are fetched only
// once it is on screen; from the browser cache they load at once.

import "./viewer.css";

import { readViewerConfig } from "./config";

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
  void previewShown(root)
    .then(() => import("./viewer"))
    .then(({ createViewer }) => {
      const handle = createViewer(root, config);
      // Browser tests and the consult's shared review reach the viewer through its handle.
      (window as unknown as { yunzhenViewer: typeof handle }).yunzhenViewer = handle;
      if (config.consultId !== null) {
        void import("../review/shared").then((review) => review.startSharedReview(handle, config));
      }
    });
}
