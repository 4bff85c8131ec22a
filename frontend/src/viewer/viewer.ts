// The image viewer: series thumbnails, one Cornerstone stack viewport with its tools, the
// preview-then-diagnostic first image, cine, overlay and shortcuts. It implements ViewerHandle
// (handle.ts), through which the consult's shared review drives it. Each part is a module:
// layout, toolbar (with the keys), seriesList, show (loading a series), viewport, overlay,
// actions (presets, invert, cine), toolGroup, annotations and display (quality, failures);
// this one puts them together.

import { fill } from "../lib/text";
import { createViewActions } from "./actions";
import { createAnnotations, snapshot, sopInstanceUidOf } from "./annotations";
import type { ViewerConfig } from "./config";
import { createDisplay, describe } from "./display";
import type { FirstImage } from "./first";
import type { ViewerHandle } from "./handle";
import { viewerLayout } from "./layout";
import { createOverlay } from "./overlay";
import { isLossyCopy } from "./quality";
import { createSeriesList } from "./seriesList";
import { createShow } from "./show";
import { viewerStateNew } from "./state";
import { createToolbar } from "./toolbar";
import { createToolGroup } from "./toolGroup";
import { createViewport } from "./viewport";

/** `firstImage` is what the first image module (first.ts) drew and fetched before the viewer's
 * scripts arrived: the viewer keeps that image on screen, with a note that the tools are on
 * their way, until Cornerstone has drawn the same frame from the same bytes and its render has
 * passed the viewer's checks; only then is the canvas removed ("handover"). */
export function createViewer(
  root: HTMLElement,
  config: ViewerConfig,
  firstImage: FirstImage | null = null,
): ViewerHandle {
  const labels = config.labels;
  const state = viewerStateNew(firstImage?.canvas ?? null);
  const layout = viewerLayout(root, labels, state.firstCanvas);
  const { viewportElement } = layout;

  // The toolbar reaches the parts made after it through arrows: only the user's clicks and
  // keys call them, once this function has returned.
  const toolbar = createToolbar(
    root,
    layout,
    labels,
    {
      selectTool: (name) => toolGroup.select(name),
      applyPreset: (key) => actions.applyPreset(key),
      toggleInvert: () => actions.toggleInvert(),
      resetView: () => actions.resetView(),
      togglePlay: () => actions.togglePlay(),
      scrollBy: (delta) => actions.scrollBy(delta),
      loadLossless: () => show.losslessAsked(),
    },
    () => state.interactive,
  );
  const actions = createViewActions(state, root, viewportElement, toolbar);
  const display = createDisplay({
    root,
    layout,
    labels,
    losslessButton: toolbar.losslessButton,
    lossyShown: () =>
      state.firstCanvas !== null
        ? (firstImage?.lossy ?? false)
        : state.viewport !== null && isLossyCopy(state.viewport.getCurrentImageId()),
    onFailure: () => actions.stopPlay(),
  });
  const viewport = createViewport(state, viewportElement, labels, {
    onRedraw: () => {
      overlay.update();
      overlay.placeRemotePointer();
    },
    onImageLoadError: (error) =>
      display.showFailure(fill(labels.renderFailed, { reason: labels.renderError }), describe(error)),
    onMouseMove: (event) => overlay.mouseMoved(event),
  });
  const overlay = createOverlay(state, root, layout, config, viewport, display);
  const annotations = createAnnotations(state, viewportElement);
  const toolGroup = createToolGroup(state, viewportElement, labels, viewport, {
    onSelected: (name) => toolbar.markSelectedTool(name),
    onAnnotationChange: () => annotations.changed(),
    onAttached: (tools) => {
      if (state.current !== null) {
        tools.stackPrefetch.enable(viewportElement);
        toolbar.playButton.disabled = !state.interactive || state.current.imageIds.length < 2;
      }
      annotations.toolsAttached();
    },
  });
  const seriesList = createSeriesList(layout.seriesList, config.series, labels, (uid) => {
    void show.series(uid).catch(() => undefined);
  });
  const show = createShow({
    state,
    root,
    config,
    layout,
    firstImage,
    display,
    viewport,
    toolbar,
    markCurrent: (uid) => seriesList.markCurrent(uid),
    stopPlay: () => actions.stopPlay(),
    updateOverlay: () => overlay.update(),
  });

  const firstSeries = config.series[0];
  const firstShown =
    firstSeries === undefined
      ? Promise.reject(new Error("The study has no images."))
      : show.series(firstSeries.seriesInstanceUid);
  // The tools come after the first image (or its failure): the page is ready with both.
  const ready = firstShown.then(
    () => toolGroup.attach(),
    async (error: unknown) => {
      await toolGroup.attach();
      throw error;
    },
  );
  ready.catch(() => {
    // Shown on the page (status, data-error); callers awaiting `ready` see the rejection.
  });
  actions.setPlaying(false);
  overlay.update();

  return {
    ready,
    viewState: viewport.viewState,
    applyViewState: show.viewState,
    onViewStateChange: viewport.onViewStateChange,
    onPointerMove: overlay.onPointerMove,
    showRemotePointer: overlay.showRemotePointer,
    setInteractive(value) {
      state.interactive = value;
      root.dataset["interactive"] = String(value);
      viewportElement.style.pointerEvents = value ? "" : "none";
      toolbar.setEnabled(value, (state.current?.imageIds.length ?? 0) >= 2);
      if (!value) {
        actions.stopPlay();
      }
    },
    annotations: annotations.list,
    onAnnotationsChange: annotations.onChange,
    setAnnotations: annotations.set,
    quality: display.quality,
    onQualityChange: display.onQualityChange,
    snapshotPng: () =>
      // Not before the handover: until Cornerstone's render has passed its checks, its canvas
      // is not what the clinician sees (key images come only from a verified render).
      state.firstCanvas !== null
        ? Promise.reject(new Error(labels.toolsLoading))
        : display.quality() === "diagnostic"
          ? snapshot(viewportElement)
          : Promise.reject(new Error(labels.renderFailed.replace("%(reason)s", display.quality()))),
    displayedSopInstanceUid: () =>
      state.viewport === null ? "" : sopInstanceUidOf(state.viewport.getCurrentImageId()),
  };
}
