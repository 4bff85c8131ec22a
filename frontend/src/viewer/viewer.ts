// The image viewer: series thumbnails, one Cornerstone stack viewport with its tools, the
// preview-then-diagnostic first image, cine, overlay and shortcuts. It implements ViewerHandle
// (handle.ts), through which the consult's shared review drives it.

import {
  Enums,
  RenderingEngine,
  eventTarget,
  metaData,
  utilities,
  type Types,
} from "@cornerstonejs/core";
import type { ToolGroupManager, Types as ToolTypes } from "@cornerstonejs/tools";

import { askText } from "./ask";
import type { SeriesEntry, ViewerConfig, ViewerLabels } from "./config";
import { cornerstoneStart, TOOL_NAMES, toolsLoad, type ToolsModule } from "./cornerstone";
import type { FirstImage } from "./first";
import type {
  DisplayQuality,
  PointerPosition,
  SavedAnnotation,
  ViewerHandle,
  ViewState,
} from "./handle";
import { frameBytesOffer, isLossyCopy, linkJudged, losslessRequest } from "./quality";
import { previewIndex, seriesLoad, type LoadedSeries } from "./series";

type Quality = DisplayQuality;
// How long a render may take before the canvas is checked anyway.
const RENDER_WAIT_MS = 3_000;
// Side of the small copy of the canvas that the blank check reads.
const SAMPLE_SIDE = 64;
// Brightness levels (0–255) a drawn image must span somewhere not to count as blank.
const BLANK_SPREAD = 2;

interface Preset {
  key: string;
  label: keyof ViewerLabels;
  width: number;
  center: number;
}

export const PRESETS: Preset[] = [
  { key: "lung", label: "presetLung", width: 1500, center: -600 },
  { key: "mediastinum", label: "presetMediastinum", width: 350, center: 50 },
  { key: "bone", label: "presetBone", width: 2000, center: 500 },
  { key: "brain", label: "presetBrain", width: 80, center: 40 },
  { key: "abdomen", label: "presetAbdomen", width: 400, center: 50 },
];

interface ToolChoice {
  name: string;
  label: keyof ViewerLabels;
  key: string;
}

const TOOLS: ToolChoice[] = [
  { name: TOOL_NAMES.windowLevel, label: "windowLevel", key: "w" },
  { name: TOOL_NAMES.pan, label: "pan", key: "p" },
  { name: TOOL_NAMES.zoom, label: "zoom", key: "z" },
  { name: TOOL_NAMES.length, label: "length", key: "l" },
  { name: TOOL_NAMES.angle, label: "angle", key: "a" },
  { name: TOOL_NAMES.ellipticalRoi, label: "ellipse", key: "e" },
  { name: TOOL_NAMES.arrowAnnotate, label: "arrow", key: "t" },
];
const ANNOTATION_TOOLS = new Set<string>([
  TOOL_NAMES.length,
  TOOL_NAMES.angle,
  TOOL_NAMES.ellipticalRoi,
  TOOL_NAMES.arrowAnnotate,
]);

let viewerCount = 0;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function button(className: string, text: string, title: string): HTMLButtonElement {
  const node = element("button", className, text);
  node.type = "button";
  node.title = title;
  return node;
}

function round(value: number, digits = 0): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** `firstImage` is what the first image module (first.ts) drew and fetched before the viewer's
 * scripts arrived: the viewer keeps that image on screen, with a note that the tools are on
 * their way, until Cornerstone has drawn the same frame from the same bytes and its render has
 * passed the viewer's checks; only then is the canvas removed ("handover"). */
export function createViewer(
  root: HTMLElement,
  config: ViewerConfig,
  firstImage: FirstImage | null = null,
): ViewerHandle {
  viewerCount += 1;
  const labels = config.labels;
  const engineId = `yz-engine-${viewerCount}`;
  const viewportId = `yz-viewport-${viewerCount}`;
  const toolGroupId = `yz-tools-${viewerCount}`;

  // --- Page structure -----------------------------------------------------------------------
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
  // The first image drawn without Cornerstone, until the handover.
  let firstCanvas = firstImage?.canvas ?? null;
  // No preview (the archive could not render one): the badge still says what is shown.
  preview.addEventListener("error", () => {
    preview.hidden = true;
  });
  const quality = element("span", "viewer-quality");
  quality.setAttribute("role", "status");
  const status = element("p", "viewer-status", labels.loading);
  // Lengths and areas are in pixels when the image has no usable pixel spacing: say so.
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

  // --- State ----------------------------------------------------------------------------------
  let engine: RenderingEngine | null = null;
  let viewport: Types.IStackViewport | null = null;
  let toolGroup: ReturnType<typeof ToolGroupManager.createToolGroup> | undefined;
  let current: LoadedSeries | null = null;
  let currentEntry: SeriesEntry | null = null;
  let selectedTool: string = TOOL_NAMES.windowLevel;
  // Cornerstone's tools, once loaded after the first image (attachTools).
  let tools: ToolsModule | null = null;
  let pendingAnnotations: SavedAnnotation[] | null = null;
  let interactive = true;
  let playing = false;
  let applying = 0;
  let lastState = "";
  let remote: { pointer: PointerPosition; label: string } | null = null;
  let loadToken = 0;
  const stateListeners = new Set<(state: ViewState) => void>();
  const pointerListeners = new Set<(pointer: PointerPosition) => void>();
  const annotationListeners = new Set<(annotations: SavedAnnotation[]) => void>();
  const qualityListeners = new Set<(quality: Quality) => void>();
  let shown: Quality = "preview";

  const setQuality = (value: Quality): void => {
    const changed = value !== shown;
    shown = value;
    root.dataset["quality"] = value;
    // Nothing failed stays on screen as if it were an image: the canvas goes, the words stay.
    viewportElement.hidden = value === "failed";
    quality.dataset["quality"] = value;
    // The lossy copy a slow link gets is diagnostic quality, and says it is lossy.
    const lossy =
      value === "diagnostic" &&
      (firstCanvas !== null
        ? (firstImage?.lossy ?? false)
        : viewport !== null && isLossyCopy(viewport.getCurrentImageId()));
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
      for (const listener of qualityListeners) {
        listener(value);
      }
    }
  };

  /** Say in words that the diagnostic image is not displayed; the preview, if it is still on
   * screen, keeps its own "not for diagnosis" badge. */
  const showFailure = (reason: string, detail: string): void => {
    status.textContent = reason;
    status.classList.add("viewer-status--error");
    status.setAttribute("role", "alert");
    status.hidden = false;
    root.dataset["error"] = detail;
    stopPlay();
    if (preview.hidden) {
      setQuality("failed");
    } else {
      setQuality("preview");
    }
  };
  const clearFailure = (): void => {
    status.classList.remove("viewer-status--error");
    status.removeAttribute("role");
    delete root.dataset["error"];
  };

  // --- Toolbar --------------------------------------------------------------------------------
  const toolButtons = new Map<string, HTMLButtonElement>();
  const toolsGroup = element("div", "viewer-toolbar-group");
  for (const tool of TOOLS) {
    const node = button(
      "viewer-tool",
      labels[tool.label],
      `${labels[tool.label]} (${tool.key.toUpperCase()})`,
    );
    node.dataset["tool"] = tool.name;
    node.addEventListener("click", () => selectTool(tool.name));
    toolButtons.set(tool.name, node);
    toolsGroup.append(node);
  }
  const presetSelect = element("select", "viewer-presets");
  presetSelect.title = labels.presets;
  presetSelect.setAttribute("aria-label", labels.presets);
  presetSelect.append(new Option(labels.presets, ""), new Option(labels.presetDefault, "default"));
  PRESETS.forEach((preset, index) => {
    presetSelect.append(
      new Option(
        `${index + 1} · ${labels[preset.label]} (${preset.width}/${preset.center})`,
        preset.key,
      ),
    );
  });
  presetSelect.addEventListener("change", () => {
    if (presetSelect.value !== "") {
      applyPreset(presetSelect.value);
    }
    presetSelect.value = "";
  });
  const invertButton = button("viewer-action", labels.invert, `${labels.invert} (I)`);
  invertButton.dataset["action"] = "invert";
  invertButton.addEventListener("click", () => toggleInvert());
  const resetButton = button("viewer-action", labels.reset, `${labels.reset} (R)`);
  resetButton.dataset["action"] = "reset";
  resetButton.addEventListener("click", () => resetView());
  const playButton = button("viewer-action", labels.play, `${labels.play} (Space)`);
  playButton.dataset["action"] = "play";
  playButton.addEventListener("click", () => togglePlay());
  const helpButton = button("viewer-action", "?", `${labels.shortcuts} (?)`);
  helpButton.dataset["action"] = "help";
  helpButton.setAttribute("aria-expanded", "false");
  helpButton.addEventListener("click", () => toggleHelp());
  const losslessButton = button("viewer-action", labels.loadLossless, labels.loadLossless);
  losslessButton.dataset["action"] = "lossless";
  losslessButton.hidden = true;
  losslessButton.addEventListener("click", () => {
    if (firstCanvas !== null && firstImage !== null) {
      // Asked for before the handover: loaded as soon as Cornerstone has the image.
      firstImage.losslessWanted = true;
      losslessButton.disabled = true;
      status.textContent = labels.loadingLossless;
      return;
    }
    void loadLossless().catch(() => undefined);
  });
  const actionsGroup = element("div", "viewer-toolbar-group");
  actionsGroup.append(
    presetSelect,
    invertButton,
    resetButton,
    playButton,
    losslessButton,
    helpButton,
  );
  toolbar.append(toolsGroup, actionsGroup);

  const helpRows: [string, string][] = [
    ["↑ ↓ / PgUp PgDn / Home End", labels.shortcutScroll],
    [TOOLS.map((t) => t.key.toUpperCase()).join(" "), labels.shortcutTools],
    ["0 1 2 3 4 5", labels.shortcutPresets],
    ["I", labels.shortcutInvert],
    ["R", labels.shortcutReset],
    ["Space", labels.shortcutPlay],
    ["?", labels.shortcutHelp],
  ];
  const helpTitle = element("h2", "viewer-help-title", labels.shortcuts);
  const helpList = element("dl", "viewer-help-list");
  for (const [keys, text] of helpRows) {
    helpList.append(element("dt", "", keys), element("dd", "", text));
  }
  const helpMouse = element("p", "viewer-help-mouse", labels.shortcutMouse);
  const helpClose = button("button button--secondary button--small", labels.close, labels.close);
  helpClose.addEventListener("click", () => toggleHelp(false));
  help.append(helpTitle, helpList, helpMouse, helpClose);

  function toggleHelp(show = help.hidden): void {
    help.hidden = !show;
    helpButton.setAttribute("aria-expanded", String(show));
  }

  // --- Series list ----------------------------------------------------------------------------
  const seriesButtons = new Map<string, HTMLButtonElement>();
  for (const entry of config.series) {
    const item = element("li", "");
    const node = button(
      "viewer-series-item",
      "",
      entry.description || `${labels.series} ${entry.seriesNumber ?? ""}`,
    );
    node.dataset["series"] = entry.seriesInstanceUid;
    const thumb = element("img", "viewer-thumb");
    thumb.src = entry.thumbnailUrl;
    thumb.alt = "";
    thumb.loading = "lazy";
    const caption = element(
      "span",
      "viewer-series-caption",
      `${entry.modality} · ${labels.series} ${entry.seriesNumber ?? "—"}`,
    );
    const detail = element(
      "span",
      "viewer-series-detail",
      entry.description || `${entry.instanceCount} × ${labels.image}`,
    );
    node.append(thumb, caption, detail);
    node.addEventListener("click", () => {
      void showSeries(entry.seriesInstanceUid).catch(() => undefined);
    });
    seriesButtons.set(entry.seriesInstanceUid, node);
    item.append(node);
    seriesList.append(item);
  }

  // --- Cornerstone ----------------------------------------------------------------------------
  async function ensureViewport(): Promise<Types.IStackViewport> {
    if (viewport !== null) {
      return viewport;
    }
    await cornerstoneStart();
    engine = new RenderingEngine(engineId);
    engine.enableElement({
      viewportId,
      type: Enums.ViewportType.STACK,
      element: viewportElement as HTMLDivElement,
    });
    viewport = engine.getViewport(viewportId) as Types.IStackViewport;
    for (const event of [
      Enums.Events.STACK_NEW_IMAGE,
      Enums.Events.VOI_MODIFIED,
      Enums.Events.CAMERA_MODIFIED,
      Enums.Events.IMAGE_RENDERED,
    ]) {
      viewportElement.addEventListener(event, onViewportChange);
    }
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, onImageLoadError);
    viewportElement.addEventListener("mousemove", onMouseMove);
    new ResizeObserver(() => engine?.resize(true, true)).observe(viewportElement);
    return viewport;
  }

  /** Loads Cornerstone's tools (after the first image) and gives them the viewport. */
  async function attachTools(): Promise<void> {
    await ensureViewport();
    if (tools !== null) {
      return;
    }
    const loaded = await toolsLoad();
    const { MouseBindings, KeyboardBindings } = loaded;
    loaded.toolsTakeElement(viewportElement as HTMLDivElement, viewportId, engineId);
    toolGroup = loaded.createToolGroup(toolGroupId);
    if (toolGroup === undefined) {
      throw new Error("Cornerstone tool group could not be created.");
    }
    for (const name of Object.values(TOOL_NAMES)) {
      toolGroup.addTool(name);
    }
    const askLabels = { ok: labels.ok, cancel: labels.cancel };
    toolGroup.setToolConfiguration(TOOL_NAMES.arrowAnnotate, {
      getTextCallback: (done: (text: string) => void) => {
        void askText(labels.arrowPrompt, "", askLabels).then(done);
      },
      changeTextCallback: (
        data: { data?: { label?: string } },
        _eventData: unknown,
        done: (text: string) => void,
      ) => {
        void askText(labels.arrowPrompt, data.data?.label ?? "", askLabels).then(done);
      },
    });
    toolGroup.setToolConfiguration(TOOL_NAMES.ellipticalRoi, { getTextLines: roiTextLines });
    toolGroup.addViewport(viewportId, engineId);
    toolGroup.setToolActive(TOOL_NAMES.stackScroll, {
      bindings: [{ mouseButton: MouseBindings.Wheel }],
    });
    toolGroup.setToolActive(TOOL_NAMES.pan, {
      bindings: [
        { mouseButton: MouseBindings.Auxiliary },
        { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Ctrl },
      ],
    });
    toolGroup.setToolActive(TOOL_NAMES.zoom, {
      bindings: [{ mouseButton: MouseBindings.Secondary }],
    });
    for (const name of ANNOTATION_TOOLS) {
      toolGroup.setToolPassive(name);
    }
    toolGroup.setToolActive(selectedTool, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    markSelectedTool();
    for (const event of loaded.ANNOTATION_EVENTS) {
      eventTarget.addEventListener(event, onAnnotationChange);
    }
    tools = loaded;
    if (current !== null) {
      loaded.stackPrefetch.enable(viewportElement as HTMLDivElement);
      playButton.disabled = !interactive || current.imageIds.length < 2;
    }
    if (pendingAnnotations !== null) {
      setAnnotations(pendingAnnotations);
      pendingAnnotations = null;
    }
  }

  /** The elliptical ROI's statistics in the page's language (Cornerstone's own are English). */
  function roiTextLines(
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

  function onImageLoadError(event: Event): void {
    const detail = (event as CustomEvent<{ imageId?: string; error?: unknown }>).detail;
    if (viewport !== null && detail?.imageId !== undefined && detail.imageId === viewport.getCurrentImageId()) {
      showFailure(fill(labels.renderFailed, { reason: labels.renderError }), describe(detail.error));
    }
  }

  function selectTool(name: string): void {
    if (!interactive) {
      return;
    }
    if (tools !== null && toolGroup !== undefined && name !== selectedTool) {
      toolGroup.setToolPassive(selectedTool);
      toolGroup.setToolActive(name, {
        bindings: [{ mouseButton: tools.MouseBindings.Primary }],
      });
    }
    selectedTool = name;
    markSelectedTool();
  }

  function markSelectedTool(): void {
    for (const [name, node] of toolButtons) {
      node.setAttribute("aria-pressed", String(name === selectedTool));
    }
  }

  // --- View state -----------------------------------------------------------------------------
  function spacing(): [number, number] {
    const data = viewport?.getImageData();
    const values = data?.spacing as number[] | undefined;
    return [values?.[0] || 1, values?.[1] || 1];
  }

  function voi(): { center: number; width: number } {
    const range = viewport?.getProperties().voiRange;
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
  function viewNumbersFinite(): boolean {
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
    if (viewport === null || source === null || source.width === 0 || source.height === 0) {
      return true;
    }
    const corners = [
      [0, 0],
      [image.columns, image.rows],
    ].map((point) => {
      const world = utilities.imageToWorldCoords(image.imageId, point as Types.Point2);
      return world === undefined ? undefined : viewport?.worldToCanvas(world);
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

  /** Draws the displayed image and checks what came out: null when it is on the canvas,
   * else the reason in words. A stored window that misses every pixel value is replaced by
   * the image's own range before the render counts as blank. */
  async function renderProblem(stack: Types.IStackViewport, imageId: string): Promise<string | null> {
    const image = stack.getCornerstoneImage() as Types.IImage | undefined;
    if (image === undefined || image.imageId !== imageId) {
      return labels.renderError;
    }
    await rendered(stack);
    if (!viewNumbersFinite()) {
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
    if (viewport === null || current === null) {
      return {
        seriesInstanceUid: currentEntry?.seriesInstanceUid ?? "",
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

  let overlayFrame = 0;
  function onViewportChange(): void {
    if (overlayFrame === 0) {
      overlayFrame = requestAnimationFrame(() => {
        overlayFrame = 0;
        updateOverlay();
        placeRemotePointer();
        const state = viewState();
        const serialised = JSON.stringify(state);
        if (serialised === lastState) {
          return;
        }
        lastState = serialised;
        if (applying === 0) {
          for (const listener of stateListeners) {
            listener(state);
          }
        }
      });
    }
  }

  function updateOverlay(): void {
    const patient = config.patient;
    overlay.topLeft.replaceChildren(
      element("div", "viewer-overlay-strong", patient.name),
      element("div", "", [patient.id, patient.sex, patient.age].filter(Boolean).join(" · ")),
    );
    overlay.topRight.replaceChildren(
      element("div", "", config.study.date),
      element("div", "", config.study.description),
    );
    if (viewport === null || current === null) {
      return;
    }
    const index = viewport.getCurrentImageIdIndex();
    const imageId = viewport.getCurrentImageId();
    const general = metaData.get("generalImageModule", imageId) as
      | { instanceNumber?: number }
      | undefined;
    const seriesModule = metaData.get("generalSeriesModule", imageId) as
      | { seriesNumber?: number }
      | undefined;
    const { center, width } = voi();
    const zoom = viewport.getZoom();
    calibration.hidden = viewport.getImageData()?.hasPixelSpacing !== false;
    if (shown === "diagnostic" && !viewNumbersFinite()) {
      showFailure(
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
        `${labels.series} ${seriesModule?.seriesNumber ?? currentEntry?.seriesNumber ?? "—"}` +
          ` · #${general?.instanceNumber ?? "—"}`,
      ),
      counter,
    );
    overlay.bottomRight.replaceChildren(
      element("div", "viewer-wl", `W ${Math.round(width)} L ${Math.round(center)}`),
      element("div", "viewer-zoom", `${Math.round(zoom * 100)}%`),
    );
  }

  // --- Actions --------------------------------------------------------------------------------
  function applyPreset(key: string): void {
    if (viewport === null || !interactive) {
      return;
    }
    if (key === "default") {
      viewport.resetProperties();
      viewport.render();
      return;
    }
    const preset = PRESETS.find((p) => p.key === key);
    if (preset === undefined) {
      return;
    }
    viewport.setProperties({
      voiRange: utilities.windowLevel.toLowHighRange(preset.width, preset.center),
    });
    viewport.render();
  }

  function toggleInvert(): void {
    if (viewport === null || !interactive) {
      return;
    }
    viewport.setProperties({ invert: !(viewport.getProperties().invert ?? false) });
    viewport.render();
  }

  function resetView(): void {
    if (viewport === null || !interactive) {
      return;
    }
    stopPlay();
    viewport.resetProperties();
    viewport.resetCamera();
    viewport.render();
  }

  function scrollBy(delta: number): void {
    if (viewport === null || current === null || !interactive) {
      return;
    }
    const last = current.imageIds.length - 1;
    const target = Math.max(0, Math.min(last, viewport.getCurrentImageIdIndex() + delta));
    void viewport.setImageIdIndex(target);
  }

  function setPlaying(value: boolean): void {
    playing = value;
    root.dataset["cine"] = value ? "playing" : "stopped";
    playButton.textContent = value ? labels.stop : labels.play;
    playButton.setAttribute("aria-pressed", String(value));
  }

  function startPlay(): void {
    if (viewport === null || current === null || current.imageIds.length < 2 || tools === null) {
      return;
    }
    // Frames not loaded yet are fetched as the clip reaches them; the prefetch runs ahead.
    tools.cine.playClip(viewportElement as HTMLDivElement, {
      framesPerSecond: current.framesPerSecond,
      loop: true,
      waitForRendered: 30,
    });
    setPlaying(true);
  }

  function stopPlay(): void {
    if (playing) {
      tools?.cine.stopClip(viewportElement as HTMLDivElement);
    }
    setPlaying(false);
  }

  function togglePlay(): void {
    if (!interactive) {
      return;
    }
    if (playing) {
      stopPlay();
    } else {
      startPlay();
    }
  }

  const keyTools = new Map(TOOLS.map((tool) => [tool.key, tool.name]));
  function onKey(event: KeyboardEvent): void {
    const target = event.target;
    if (
      target instanceof HTMLInputElement ||
      target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement ||
      event.ctrlKey ||
      event.metaKey ||
      event.altKey ||
      !root.isConnected
    ) {
      return;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const handled = (): void => event.preventDefault();
    if (key === "?") {
      toggleHelp();
      handled();
    } else if (key === "Escape") {
      toggleHelp(false);
    } else if (!interactive) {
      return;
    } else if (key === "ArrowUp" || key === "PageUp") {
      scrollBy(key === "PageUp" ? -10 : -1);
      handled();
    } else if (key === "ArrowDown" || key === "PageDown") {
      scrollBy(key === "PageDown" ? 10 : 1);
      handled();
    } else if (key === "Home" || key === "End") {
      scrollBy(key === "Home" ? -Infinity : Infinity);
      handled();
    } else if (key === " ") {
      togglePlay();
      handled();
    } else if (key === "i") {
      toggleInvert();
    } else if (key === "r") {
      resetView();
    } else if (key === "0") {
      applyPreset("default");
    } else if (/^[1-9]$/.test(key) && PRESETS[Number(key) - 1] !== undefined) {
      applyPreset(PRESETS[Number(key) - 1]?.key ?? "");
    } else if (keyTools.has(key)) {
      selectTool(keyTools.get(key) ?? selectedTool);
    }
  }
  document.addEventListener("keydown", onKey);

  // --- Pointer --------------------------------------------------------------------------------
  function imagePoint(canvas: Types.Point2): PointerPosition | null {
    if (viewport === null) {
      return null;
    }
    const world = viewport.canvasToWorld(canvas);
    const [x, y] = utilities.worldToImageCoords(viewport.getCurrentImageId(), world) ?? [];
    return x === undefined || y === undefined ? null : { x: round(x, 1), y: round(y, 1) };
  }

  function onMouseMove(event: MouseEvent): void {
    if (pointerListeners.size === 0) {
      return;
    }
    const box = viewportElement.getBoundingClientRect();
    const point = imagePoint([event.clientX - box.left, event.clientY - box.top]);
    if (point !== null) {
      for (const listener of pointerListeners) {
        listener(point);
      }
    }
  }

  function placeRemotePointer(): void {
    if (remote === null || viewport === null) {
      remotePointer.hidden = true;
      return;
    }
    const world = utilities.imageToWorldCoords(viewport.getCurrentImageId(), [
      remote.pointer.x,
      remote.pointer.y,
    ]);
    if (world === undefined) {
      remotePointer.hidden = true;
      return;
    }
    const [x, y] = viewport.worldToCanvas(world);
    remotePointer.style.transform = `translate(${x}px, ${y}px)`;
    remoteLabel.textContent = remote.label;
    remotePointer.hidden = false;
  }

  // --- Annotations ----------------------------------------------------------------------------
  function savedAnnotations(): SavedAnnotation[] {
    if (tools === null) {
      return pendingAnnotations ?? [];
    }
    const all = tools.annotationState.getAllAnnotations() as ToolTypes.Annotation[];
    return all
      .filter((item) => ANNOTATION_TOOLS.has(item.metadata?.toolName ?? ""))
      .map((item) => {
        return {
          annotationUid: item.annotationUID ?? "",
          seriesInstanceUid: current?.seriesInstanceUid ?? "",
          sopInstanceUid: sopInstanceUidOf(item.metadata?.referencedImageId ?? ""),
          tool: item.metadata?.toolName ?? "",
          data: JSON.parse(JSON.stringify(item)) as unknown,
        };
      });
  }

  function onAnnotationChange(): void {
    if (applying > 0) {
      return;
    }
    const list = savedAnnotations();
    for (const listener of annotationListeners) {
      listener(list);
    }
  }

  function setAnnotations(list: SavedAnnotation[]): void {
    if (tools === null) {
      pendingAnnotations = list; // applied once the tools are loaded
      return;
    }
    const annotationState = tools.annotationState;
    applying += 1;
    try {
      annotationState.removeAllAnnotations();
      for (const item of list) {
        annotationState.addAnnotation(
          structuredClone(item.data) as ToolTypes.Annotation,
          viewportElement as HTMLDivElement,
        );
      }
      viewport?.render();
    } finally {
      applying -= 1;
    }
  }

  // --- Loading a series: preview first, then diagnostic frames --------------------------------
  async function showSeries(seriesUid: string, startIndex?: number): Promise<void> {
    const entry = config.series.find((s) => s.seriesInstanceUid === seriesUid);
    if (entry === undefined) {
      throw new Error(`No series ${seriesUid} in this study.`);
    }
    const token = (loadToken += 1);
    stopPlay();
    currentEntry = entry;
    for (const [uid, node] of seriesButtons) {
      node.setAttribute("aria-current", String(uid === seriesUid));
    }
    root.dataset["series"] = seriesUid;
    // The first image module drew this very image: it stays until Cornerstone has it.
    const handingOver =
      firstCanvas !== null &&
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
    clearFailure();
    if (handingOver) {
      preview.hidden = true;
      stage.classList.remove("viewer-stage--preview");
      setQuality("diagnostic");
      status.textContent = firstImage?.losslessWanted ? labels.loadingLossless : labels.toolsLoading;
      losslessButton.disabled = firstImage?.losslessWanted ?? false;
    } else {
      preview.hidden = false;
      stage.classList.add("viewer-stage--preview");
      setQuality("preview");
      status.textContent = labels.loading;
    }
    status.hidden = false;
    updateOverlay();
    // The first frame's bytes, already received, for Cornerstone to decode (not fetch again).
    let withdrawOffer = (): void => undefined;
    try {
      const [stack, loaded] = await Promise.all([
        ensureViewport(),
        seriesLoad(config.dicomwebRoot, config.studyInstanceUid, seriesUid),
        // Frames are asked for once the preview has shown how fast the link is.
        linkJudged(preview, entry.previewUrl),
      ]);
      if (token !== loadToken) {
        return;
      }
      current = loaded;
      root.dataset["frames"] = String(loaded.imageIds.length);
      // The preview shows the middle instance; start there so the upgrade keeps the picture.
      const index = startIndex ?? previewIndex(loaded);
      tools?.stackPrefetch.disable(viewportElement as HTMLDivElement);
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
      const problem = await renderProblem(stack, loaded.imageIds[index] ?? "");
      if (token !== loadToken) {
        return;
      }
      if (problem !== null) {
        throw new RenderFailure(problem);
      }
      // Neighbours of the displayed image first, then outwards (Cornerstone's stack prefetch).
      tools?.stackPrefetch.enable(viewportElement as HTMLDivElement);
      const losslessWanted = handingOver && (firstImage?.losslessWanted ?? false);
      handoverEnd();
      preview.hidden = true;
      stage.classList.remove("viewer-stage--preview");
      status.hidden = true;
      setQuality("diagnostic");
      playButton.disabled = loaded.imageIds.length < 2 || tools === null;
      onViewportChange();
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
        showFailure(
          error instanceof RenderFailure
            ? fill(labels.renderFailed, { reason: error.message })
            : current === null
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
    if (firstCanvas !== null) {
      firstCanvas.remove();
      firstCanvas = null;
      losslessButton.disabled = false;
    }
  }

  const firstSeries = config.series[0];
  const firstShown =
    firstSeries === undefined
      ? Promise.reject(new Error("The study has no images."))
      : showSeries(firstSeries.seriesInstanceUid);
  // The tools come after the first image (or its failure): the page is ready with both.
  const ready = firstShown.then(attachTools, async (error: unknown) => {
    await attachTools();
    throw error;
  });
  ready.catch(() => {
    // Shown on the page (status, data-error); callers awaiting `ready` see the rejection.
  });
  setPlaying(false);
  updateOverlay();

  /** Replace the displayed lossy copy by the image as stored, keeping the view. */
  async function loadLossless(): Promise<void> {
    if (viewport === null || current === null) {
      return;
    }
    const stack = viewport;
    const state = viewState();
    losslessButton.disabled = true;
    status.textContent = labels.loadingLossless;
    status.hidden = false;
    losslessRequest(stack.getCurrentImageId());
    try {
      await stack.setStack(current.imageIds, state.imageIndex);
      await applyViewState(state);
      const problem = await renderProblem(stack, current.imageIds[state.imageIndex] ?? "");
      if (problem !== null) {
        throw new RenderFailure(problem);
      }
      status.hidden = true;
      setQuality("diagnostic");
    } catch (error) {
      showFailure(
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

  // --- The handle -----------------------------------------------------------------------------
  async function applyViewState(state: ViewState): Promise<void> {
    applying += 1;
    try {
      if (current?.seriesInstanceUid !== state.seriesInstanceUid) {
        await showSeries(state.seriesInstanceUid, state.imageIndex);
      }
      const stack = viewport;
      if (stack === null) {
        return;
      }
      stopPlay();
      if (stack.getCurrentImageIdIndex() !== state.imageIndex) {
        await stack.setImageIdIndex(state.imageIndex);
      }
      stack.setProperties({
        voiRange: utilities.windowLevel.toLowHighRange(state.windowWidth, state.windowCenter),
        invert: state.invert,
      });
      stack.setZoom(state.zoom);
      const [sx, sy] = spacing();
      stack.setPan([state.pan[0] * sx, state.pan[1] * sy]);
      stack.render();
      lastState = JSON.stringify(viewState());
    } finally {
      applying -= 1;
    }
  }

  function subscribe<T>(set: Set<T>, listener: T): () => void {
    set.add(listener);
    return () => set.delete(listener);
  }

  return {
    ready,
    viewState,
    applyViewState,
    onViewStateChange: (listener) => subscribe(stateListeners, listener),
    onPointerMove: (listener) => subscribe(pointerListeners, listener),
    showRemotePointer(pointer, label) {
      remote = pointer === null ? null : { pointer, label };
      placeRemotePointer();
    },
    setInteractive(value) {
      interactive = value;
      root.dataset["interactive"] = String(value);
      viewportElement.style.pointerEvents = value ? "" : "none";
      for (const control of toolbar.querySelectorAll<HTMLButtonElement | HTMLSelectElement>(
        "button, select",
      )) {
        control.disabled = !value || (control === playButton && (current?.imageIds.length ?? 0) < 2);
      }
      if (!value) {
        stopPlay();
      }
    },
    annotations: savedAnnotations,
    onAnnotationsChange: (listener) => subscribe(annotationListeners, listener),
    setAnnotations,
    quality: () => shown,
    onQualityChange: (listener) => subscribe(qualityListeners, listener),
    snapshotPng: () =>
      // Not before the handover: until Cornerstone's render has passed its checks, its canvas
      // is not what the clinician sees (key images come only from a verified render).
      firstCanvas !== null
        ? Promise.reject(new Error(labels.toolsLoading))
        : shown === "diagnostic"
          ? snapshot(viewportElement)
          : Promise.reject(new Error(labels.renderFailed.replace("%(reason)s", shown))),
    displayedSopInstanceUid: () =>
      viewport === null ? "" : sopInstanceUidOf(viewport.getCurrentImageId()),
  };
}

/** A render that came out wrong; the message says why, in the page's language. */
class RenderFailure extends Error {}

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

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/%\((\w+)\)s/g, (_, key: string) => values[key] ?? "");
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The SOP Instance UID in a `wadors:…/instances/<uid>/frames/<n>` image id. */
function sopInstanceUidOf(imageId: string): string {
  return /\/instances\/([^/]+)\//.exec(imageId)?.[1] ?? "";
}

/** The viewport's canvas with the SVG annotation layer drawn over it, as a PNG. */
async function snapshot(viewportElement: HTMLElement): Promise<Blob> {
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

