// Entry of the image viewer page: read the page's configuration and start the viewer.

import "./viewer.css";

import { readViewerConfig } from "./config";
import { createViewer } from "./viewer";

const root = document.getElementById("viewer");
if (root !== null) {
  const config = readViewerConfig();
  const handle = createViewer(root, config);
  // Browser tests and the consult's shared review reach the viewer through its handle.
  (window as unknown as { yunzhenViewer: typeof handle }).yunzhenViewer = handle;
  if (config.consultId !== null) {
    void import("../review/shared").then((review) => review.startSharedReview(handle, config));
  }
}
