// Showing a series: its preview at once, then the diagnostic frames once Cornerstone has drawn
// and checked them; the first image module's canvas handed over the same way; a view state
// applied exactly (shared review); the lossless original in place of a lossy copy.

import { fill } from "../lib/text";
import type { ViewerConfig } from "./config";
import { describe, RenderFailure, type Display } from "./display";
import type { FirstImage } from "./first";
import type { ViewState } from "./handle";
import type { ViewerLayout } from "./layout";
import { frameBytesOffer, linkJudged, losslessRequest } from "./quality";
import { previewIndex, seriesLoad } from "./series";
import type { ViewerState } from "./state";
import type { Toolbar } from "./toolbar";
import type { Viewport } from "./viewport";

export interface Show {
  /** Shows the series, at `startIndex` or at the preview's image; rejects (having said why
   * on the page) when its diagnostic image cannot be displayed. */
  series(seriesUid: string, startIndex?: number): Promise<void>;
  /** Shows exactly this state (loads the series first if another one is displayed). */
  viewState(view: ViewState): Promise<void>;
  /** The user asked for the lossless original of the image on screen. */
  losslessAsked(): void;
}

export interface ShowParts {
  state: ViewerState;
  root: HTMLElement;
  config: ViewerConfig;
  layout: ViewerLayout;
  firstImage: FirstImage | null;
  display: Display;
  viewport: Viewport;
  toolbar: Pick<Toolbar, "losslessButton" | "playButton">;
  markCurrent(seriesUid: string): void;
  stopPlay(): void;
  updateOverlay(): void;
}

export function createShow(parts: ShowParts): Show {
  const { state, root, config, firstImage, display, viewport, toolbar } = parts;
  const { preview, stage, status, viewportElement } = parts.layout;
  const { losslessButton, playButton } = toolbar;
  const labels = config.labels;
  let loadToken = 0;

  async function showSeries(seriesUid: string, startIndex?: number): Promise<void> {
    const entry = config.series.find((s) => s.seriesInstanceUid === seriesUid);
    if (entry === undefined) {
      throw new Error(`No series ${seriesUid} in this study.`);
    }
    const token = (loadToken += 1);
    parts.stopPlay();
    state.currentEntry = entry;
    parts.markCurrent(seriesUid);
    root.dataset["series"] = seriesUid;
    // The first image module drew this very image: it stays until Cornerstone has it.
    const handingOver =
      state.firstCanvas !== null &&
      firstImage?.seriesInstanceUid === seriesUid &&
      startIndex === undefined;
    if (!handingOver) {
      handoverEnd();
    }
    if (firstImage !== null && firstImage.seriesInstanceUid !== seriesUid) {
      firstImage.frame = null;
    }
    if (preview.getAttribute("src") !== entry.previewUrl) {
      preview.src = entry.previewUrl;
    }
    display.clearFailure();
    if (handingOver) {
      preview.hidden = true;
      stage.classList.remove("viewer-stage--preview");
      display.setQuality("diagnostic");
      status.textContent = firstImage?.losslessWanted ? labels.loadingLossless : labels.toolsLoading;
      losslessButton.disabled = firstImage?.losslessWanted ?? false;
    } else {
      preview.hidden = false;
      stage.classList.add("viewer-stage--preview");
      display.setQuality("preview");
      status.textContent = labels.loading;
    }
    status.hidden = false;
    parts.updateOverlay();
    // The first frame's bytes, already received, for Cornerstone to decode (not fetch again).
    let withdrawOffer = (): void => undefined;
    try {
      const [stack, loaded] = await Promise.all([
        viewport.ensure(),
        seriesLoad(config.dicomwebRoot, config.studyInstanceUid, seriesUid),
        // Frames are asked for once the preview has shown how fast the link is.
        linkJudged(preview, entry.previewUrl),
      ]);
      if (token !== loadToken) {
        return;
      }
      state.current = loaded;
      root.dataset["frames"] = String(loaded.imageIds.length);
      // The preview shows the middle instance; start there so the upgrade keeps the picture.
      const index = startIndex ?? previewIndex(loaded);
      state.tools?.stackPrefetch.disable(viewportElement);
      const frame = firstImage?.frame;
      if (frame !== undefined && frame !== null && loaded.imageIds.includes(frame.imageId)) {
        const withdraw = frameBytesOffer(frame.imageId, frame.bytes, frame.transferSyntax);
        withdrawOffer = () => {
          // Offered once: Cornerstone has the image now (or fetches it itself from here on).
          withdraw();
          if (firstImage !== null) {
            firstImage.frame = null;
          }
        };
      }
      await stack.setStack(loaded.imageIds, index);
      if (token !== loadToken) {
        return;
      }
      const problem = await viewport.renderProblem(stack, loaded.imageIds[index] ?? "");
      if (token !== loadToken) {
        return;
      }
      if (problem !== null) {
        throw new RenderFailure(problem);
      }
      // Neighbours of the displayed image first, then outwards (Cornerstone's stack prefetch).
      state.tools?.stackPrefetch.enable(viewportElement);
      const losslessWanted = handingOver && (firstImage?.losslessWanted ?? false);
      handoverEnd();
      preview.hidden = true;
      stage.classList.remove("viewer-stage--preview");
      status.hidden = true;
      display.setQuality("diagnostic");
      playButton.disabled = loaded.imageIds.length < 2 || state.tools === null;
      viewport.changed();
      if (losslessWanted) {
        void loadLossless().catch(() => undefined);
      }
    } catch (error) {
      if (token === loadToken && handingOver) {
        // Cornerstone could not take the image over: say so over the preview, as without the
        // first image module; the page offers nothing it has not verified with its tools.
        handoverEnd();
        preview.hidden = false;
      }
      if (token === loadToken) {
        display.showFailure(
          error instanceof RenderFailure
            ? fill(labels.renderFailed, { reason: error.message })
            : state.current === null
              ? labels.loadFailed
              : fill(labels.renderFailed, { reason: labels.renderError }),
          describe(error),
        );
      }
      throw error;
    } finally {
      withdrawOffer();
    }
  }

  /** Removes the first image module's canvas (Cornerstone has drawn the image, or failed to,
   * or another image is shown). */
  function handoverEnd(): void {
    if (state.firstCanvas !== null) {
      state.firstCanvas.remove();
      state.firstCanvas = null;
      losslessButton.disabled = false;
    }
  }

  /** Replace the displayed lossy copy by the image as stored, keeping the view. */
  async function loadLossless(): Promise<void> {
    const { viewport: stack, current } = state;
    if (stack === null || current === null) {
      return;
    }
    const view = viewport.viewState();
    losslessButton.disabled = true;
    status.textContent = labels.loadingLossless;
    status.hidden = false;
    losslessRequest(stack.getCurrentImageId());
    try {
      await stack.setStack(current.imageIds, view.imageIndex);
      await applyViewState(view);
      const problem = await viewport.renderProblem(stack, current.imageIds[view.imageIndex] ?? "");
      if (problem !== null) {
        throw new RenderFailure(problem);
      }
      status.hidden = true;
      display.setQuality("diagnostic");
    } catch (error) {
      display.showFailure(
        fill(labels.renderFailed, {
          reason: error instanceof RenderFailure ? error.message : labels.renderError,
        }),
        describe(error),
      );
      throw error;
    } finally {
      losslessButton.disabled = false;
    }
  }

  async function applyViewState(view: ViewState): Promise<void> {
    state.applying += 1;
    try {
      if (state.current?.seriesInstanceUid !== view.seriesInstanceUid) {
        await showSeries(view.seriesInstanceUid, view.imageIndex);
      }
      const stack = state.viewport;
      if (stack === null) {
        return;
      }
      parts.stopPlay();
      await viewport.applyView(stack, view);
    } finally {
      state.applying -= 1;
    }
  }

  return {
    series: showSeries,
    viewState: applyViewState,
    losslessAsked() {
      if (state.firstCanvas !== null && firstImage !== null) {
        // Asked for before the handover: loaded as soon as Cornerstone has the image.
        firstImage.losslessWanted = true;
        losslessButton.disabled = true;
        status.textContent = labels.loadingLossless;
        return;
      }
      void loadLossless().catch(() => undefined);
    },
  };
}
