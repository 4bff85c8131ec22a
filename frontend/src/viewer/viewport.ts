// The Cornerstone stack viewport: created on first use, read as a view state that the shared
// review can send and apply, and checked after each render (a NaN window or a blank canvas is
// a failure to say, not an image to show).

import { Enums, RenderingEngine, eventTarget, utilities, type Types } from "@cornerstonejs/core";

import type { ViewerLabels } from "./config";
import { cornerstoneStart } from "./cornerstone";
import type { PointerPosition, ViewState } from "./handle";
import type { ViewerState } from "./state";

// How long a render may take before the canvas is checked anyway.
const RENDER_WAIT_MS = 3_000;
// Side of the small copy of the canvas that the blank check reads.
const SAMPLE_SIDE = 64;
// Brightness levels (0–255) a drawn image must span somewhere not to count as blank.
const BLANK_SPREAD = 2;

export interface ViewportHooks {
  /** Once per animation frame after the viewport changed (image, window, camera, render). */
  onRedraw(): void;
  /** The displayed image failed to load. */
  onImageLoadError(error: unknown): void;
  onMouseMove(event: MouseEvent): void;
}

export interface Viewport {
  /** The stack viewport, created (and Cornerstone started) on the first call. */
  ensure(): Promise<Types.IStackViewport>;
  /** The displayed window, in modality units. */
  voi(): { center: number; width: number };
  /** The displayed image's pixel spacing (1 where it has none). */
  spacing(): [number, number];
  /** Whether the window and camera are numbers a render can use. */
  numbersFinite(): boolean;
  /** Draws the displayed image and checks what came out: null when it is on the canvas,
   * else the reason in words. */
  renderProblem(stack: Types.IStackViewport, imageId: string): Promise<string | null>;
  viewState(): ViewState;
  /** Tells the view-state listeners of a change (coalesced to one per animation frame). */
  changed(): void;
  onViewStateChange(listener: (state: ViewState) => void): () => void;
  /** Shows this image, window and camera (the series is already on the stack). */
  applyView(stack: Types.IStackViewport, view: ViewState): Promise<void>;
  /** A point of the viewport element (CSS pixels) in the displayed image's pixels. */
  imagePoint(canvas: Types.Point2): PointerPosition | null;
  /** An image pixel position on the viewport element (CSS pixels), if it can be placed. */
  canvasPoint(pointer: PointerPosition): Types.Point2 | null;
}

function round(value: number, digits = 0): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function createViewport(
  state: ViewerState,
  viewportElement: HTMLDivElement,
  labels: ViewerLabels,
  hooks: ViewportHooks,
): Viewport {
  const { ids } = state;
  const stateListeners = new Set<(view: ViewState) => void>();
  let engine: RenderingEngine | null = null;
  let lastState = "";
  let redrawFrame = 0;

  async function ensure(): Promise<Types.IStackViewport> {
    if (state.viewport !== null) {
      return state.viewport;
    }
    await cornerstoneStart();
    engine = new RenderingEngine(ids.engine);
    engine.enableElement({
      viewportId: ids.viewport,
      type: Enums.ViewportType.STACK,
      element: viewportElement,
    });
    const viewport = engine.getViewport(ids.viewport) as Types.IStackViewport;
    state.viewport = viewport;
    for (const event of [
      Enums.Events.STACK_NEW_IMAGE,
      Enums.Events.VOI_MODIFIED,
      Enums.Events.CAMERA_MODIFIED,
      Enums.Events.IMAGE_RENDERED,
    ]) {
      viewportElement.addEventListener(event, changed);
    }
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, onImageLoadError);
    viewportElement.addEventListener("mousemove", hooks.onMouseMove);
    new ResizeObserver(() => engine?.resize(true, true)).observe(viewportElement);
    return viewport;
  }

  function onImageLoadError(event: Event): void {
    const detail = (event as CustomEvent<{ imageId?: string; error?: unknown }>).detail;
    const viewport = state.viewport;
    if (viewport !== null && detail?.imageId !== undefined && detail.imageId === viewport.getCurrentImageId()) {
      hooks.onImageLoadError(detail.error);
    }
  }

  function spacing(): [number, number] {
    const data = state.viewport?.getImageData();
    const values = data?.spacing as number[] | undefined;
    return [values?.[0] || 1, values?.[1] || 1];
  }

  function voi(): { center: number; width: number } {
    const range = state.viewport?.getProperties().voiRange;
    if (range === undefined) {
      return { center: 0, width: 0 };
    }
    const { windowCenter, windowWidth } = utilities.windowLevel.toWindowLevel(
      range.lower,
      range.upper,
    );
    return { center: windowCenter, width: windowWidth };
  }

  /** Whether the window and camera are numbers a render can use (zero or missing spacing once
   * made them NaN and the canvas black). */
  function numbersFinite(): boolean {
    const viewport = state.viewport;
    if (viewport === null) {
      return false;
    }
    const { center, width } = voi();
    const pan = viewport.getPan();
    const zoom = viewport.getZoom();
    return (
      Number.isFinite(center) &&
      Number.isFinite(width) &&
      width > 0 &&
      Number.isFinite(zoom) &&
      zoom > 0 &&
      pan.every((value) => Number.isFinite(value))
    );
  }

  /** Resolves after the viewport's next render, or after RENDER_WAIT_MS without one. */
  function rendered(stack: Types.IStackViewport): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        window.clearTimeout(timer);
        viewportElement.removeEventListener(Enums.Events.IMAGE_RENDERED, done);
        // The event fires as the frame is drawn; the next animation frame has it on the canvas.
        requestAnimationFrame(() => resolve());
      };
      const timer = window.setTimeout(done, RENDER_WAIT_MS);
      viewportElement.addEventListener(Enums.Events.IMAGE_RENDERED, done);
      stack.render();
    });
  }

  /** Whether the image, where it is drawn on the canvas, is one flat colour (the letterbox
   * around it does not count). */
  function canvasBlank(image: Types.IImage): boolean {
    const source = viewportElement.querySelector("canvas");
    const viewport = state.viewport;
    if (viewport === null || source === null || source.width === 0 || source.height === 0) {
      return true;
    }
    const corners = [
      [0, 0],
      [image.columns, image.rows],
    ].map((point) => {
      const world = utilities.imageToWorldCoords(image.imageId, point as Types.Point2);
      return world === undefined ? undefined : viewport.worldToCanvas(world);
    });
    const [a, b] = corners;
    if (a === undefined || b === undefined) {
      return true;
    }
    // Canvas CSS pixels to the canvas's own pixels.
    const scale = source.width / Math.max(1, source.clientWidth);
    const clamp = (v: number, max: number): number => Math.max(0, Math.min(max, v * scale));
    const left = clamp(Math.min(a[0], b[0]), source.width);
    const right = clamp(Math.max(a[0], b[0]), source.width);
    const top = clamp(Math.min(a[1], b[1]), source.height);
    const bottom = clamp(Math.max(a[1], b[1]), source.height);
    if (!(right - left >= 1 && bottom - top >= 1)) {
      return true;
    }
    const sample = document.createElement("canvas");
    sample.width = SAMPLE_SIDE;
    sample.height = SAMPLE_SIDE;
    const context = sample.getContext("2d", { willReadFrequently: true });
    if (context === null) {
      return false;
    }
    context.drawImage(source, left, top, right - left, bottom - top, 0, 0, SAMPLE_SIDE, SAMPLE_SIDE);
    const { data } = context.getImageData(0, 0, SAMPLE_SIDE, SAMPLE_SIDE);
    let low = 255;
    let high = 0;
    for (let i = 0; i < data.length; i += 4) {
      const value = ((data[i] ?? 0) + (data[i + 1] ?? 0) + (data[i + 2] ?? 0)) / 3;
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
    return high - low < BLANK_SPREAD;
  }

  /** A stored window that misses every pixel value is replaced by the image's own range
   * before the render counts as blank. */
  async function renderProblem(stack: Types.IStackViewport, imageId: string): Promise<string | null> {
    const image = stack.getCornerstoneImage() as Types.IImage | undefined;
    if (image === undefined || image.imageId !== imageId) {
      return labels.renderError;
    }
    await rendered(stack);
    if (!numbersFinite()) {
      return labels.renderInvalid;
    }
    const { minPixelValue: low, maxPixelValue: high } = image;
    if (!(high > low) || !canvasBlank(image)) {
      return null;
    }
    stack.setProperties({ voiRange: { lower: low, upper: high } });
    await rendered(stack);
    return canvasBlank(image) ? labels.renderBlank : null;
  }

  function viewState(): ViewState {
    const { viewport, current } = state;
    if (viewport === null || current === null) {
      return {
        seriesInstanceUid: state.currentEntry?.seriesInstanceUid ?? "",
        imageIndex: 0,
        windowCenter: 0,
        windowWidth: 0,
        invert: false,
        zoom: 1,
        pan: [0, 0],
      };
    }
    const { center, width } = voi();
    const [sx, sy] = spacing();
    const pan = viewport.getPan();
    return {
      seriesInstanceUid: current.seriesInstanceUid,
      imageIndex: viewport.getCurrentImageIdIndex(),
      windowCenter: round(center, 2),
      windowWidth: round(width, 2),
      invert: viewport.getProperties().invert ?? false,
      zoom: round(viewport.getZoom(), 4),
      pan: [round(pan[0] / sx, 2), round(pan[1] / sy, 2)],
    };
  }

  function changed(): void {
    if (redrawFrame === 0) {
      redrawFrame = requestAnimationFrame(() => {
        redrawFrame = 0;
        hooks.onRedraw();
        const view = viewState();
        const serialised = JSON.stringify(view);
        if (serialised === lastState) {
          return;
        }
        lastState = serialised;
        if (state.applying === 0) {
          for (const listener of stateListeners) {
            listener(view);
          }
        }
      });
    }
  }

  async function applyView(stack: Types.IStackViewport, view: ViewState): Promise<void> {
    if (stack.getCurrentImageIdIndex() !== view.imageIndex) {
      await stack.setImageIdIndex(view.imageIndex);
    }
    stack.setProperties({
      voiRange: utilities.windowLevel.toLowHighRange(view.windowWidth, view.windowCenter),
      invert: view.invert,
    });
    stack.setZoom(view.zoom);
    const [sx, sy] = spacing();
    stack.setPan([view.pan[0] * sx, view.pan[1] * sy]);
    stack.render();
    lastState = JSON.stringify(viewState());
  }

  function imagePoint(canvas: Types.Point2): PointerPosition | null {
    const viewport = state.viewport;
    if (viewport === null) {
      return null;
    }
    const world = viewport.canvasToWorld(canvas);
    const [x, y] = utilities.worldToImageCoords(viewport.getCurrentImageId(), world) ?? [];
    return x === undefined || y === undefined ? null : { x: round(x, 1), y: round(y, 1) };
  }

  function canvasPoint(pointer: PointerPosition): Types.Point2 | null {
    const viewport = state.viewport;
    if (viewport === null) {
      return null;
    }
    const world = utilities.imageToWorldCoords(viewport.getCurrentImageId(), [
      pointer.x,
      pointer.y,
    ]);
    return world === undefined ? null : viewport.worldToCanvas(world);
  }

  return {
    ensure,
    voi,
    spacing,
    numbersFinite,
    renderProblem,
    viewState,
    changed,
    onViewStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    applyView,
    imagePoint,
    canvasPoint,
  };
}
