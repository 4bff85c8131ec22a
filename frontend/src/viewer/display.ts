// What the stage says it shows: the quality badge (preview, diagnostic, lossy), and a failure
// in words when the diagnostic image is not displayed. Nothing failed is labelled as good.

import type { ViewerLabels } from "./config";
import type { DisplayQuality } from "./handle";
import type { ViewerLayout } from "./layout";

/** A render that came out wrong; the message says why, in the page's language. */
export class RenderFailure extends Error {}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface Display {
  quality(): DisplayQuality;
  setQuality(value: DisplayQuality): void;
  onQualityChange(listener: (quality: DisplayQuality) => void): () => void;
  /** Says in words that the diagnostic image is not displayed; the preview, if it is still on
   * screen, keeps its own "not for diagnosis" badge. `detail` goes to data-error. */
  showFailure(reason: string, detail: string): void;
  clearFailure(): void;
}

export interface DisplayParts {
  root: HTMLElement;
  layout: ViewerLayout;
  labels: ViewerLabels;
  /** Shown beside a lossy copy (the "load lossless" control). */
  losslessButton: HTMLButtonElement;
  /** Whether the diagnostic image shown is the archive's lossy copy. */
  lossyShown(): boolean;
  /** Called on every failure before it is shown (cine stops). */
  onFailure(): void;
}

export function createDisplay(parts: DisplayParts): Display {
  const { root, labels, losslessButton } = parts;
  const { quality, status, viewportElement, preview } = parts.layout;
  const listeners = new Set<(quality: DisplayQuality) => void>();
  let shown: DisplayQuality = "preview";

  const setQuality = (value: DisplayQuality): void => {
    const changed = value !== shown;
    shown = value;
    root.dataset["quality"] = value;
    // Nothing failed stays on screen as if it were an image: the canvas goes, the words stay.
    viewportElement.hidden = value === "failed";
    quality.dataset["quality"] = value;
    // The lossy copy a slow link gets is diagnostic quality, and says it is lossy.
    const lossy = value === "diagnostic" && parts.lossyShown();
    root.dataset["lossy"] = String(lossy);
    losslessButton.hidden = !lossy;
    quality.textContent =
      value === "diagnostic"
        ? lossy
          ? labels.diagnosticLossy
          : labels.diagnostic
        : value === "preview"
          ? labels.preview
          : "";
    quality.hidden = value === "failed";
    if (changed) {
      for (const listener of listeners) {
        listener(value);
      }
    }
  };

  return {
    quality: () => shown,
    setQuality,
    onQualityChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    showFailure(reason, detail) {
      status.textContent = reason;
      status.classList.add("viewer-status--error");
      status.setAttribute("role", "alert");
      status.hidden = false;
      root.dataset["error"] = detail;
      parts.onFailure();
      if (preview.hidden) {
        setQuality("failed");
      } else {
        setQuality("preview");
      }
    },
    clearFailure() {
      status.classList.remove("viewer-status--error");
      status.removeAttribute("role");
      delete root.dataset["error"];
    },
  };
}
