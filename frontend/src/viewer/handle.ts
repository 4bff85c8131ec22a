// What the viewer page offers to code that drives it from outside: the shared review of a
// consult (follow the lead's view, save annotations). The viewer implements it; nothing else
// reaches into Cornerstone.

/** What the viewport shows: the archive's preview, the diagnostic image, or nothing usable
 * (the render failed; the page says why in words). */
export type DisplayQuality = "preview" | "diagnostic" | "failed";

/** Everything a follower needs to see what the lead sees. */
export interface ViewState {
  seriesInstanceUid: string;
  /** Index of the displayed image in the series' stack (0-based). */
  imageIndex: number;
  windowCenter: number;
  windowWidth: number;
  invert: boolean;
  /** Zoom as Cornerstone's parallel scale relative to the fitted image (1 = fitted). */
  zoom: number;
  /** Pan in image pixels from the fitted position. */
  pan: [number, number];
}

/** The lead's pointer, in image pixel coordinates of the displayed image. */
export interface PointerPosition {
  x: number;
  y: number;
}

/** One measurement or annotation as stored with the consult (Cornerstone's annotation JSON). */
export interface SavedAnnotation {
  annotationUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** Cornerstone tool name, e.g. "Length", "Angle", "EllipticalROI", "ArrowAnnotate". */
  tool: string;
  /** The tool's own annotation object, serialisable with JSON.stringify. */
  data: unknown;
}

export interface ViewerHandle {
  /** Resolves once the first image of the first series is on screen. */
  readonly ready: Promise<void>;
  viewState(): ViewState;
  /** Shows exactly this state (loads the series first if another one is displayed). */
  applyViewState(state: ViewState): Promise<void>;
  /** Called after every change the local user makes (scroll, window/level, zoom/pan, invert,
   * series switch); not called for changes made by applyViewState. */
  onViewStateChange(listener: (state: ViewState) => void): () => void;
  /** The local user's pointer over the image, throttled by the caller. */
  onPointerMove(listener: (pointer: PointerPosition) => void): () => void;
  /** Draws (or hides, with null) a remote pointer marker over the image. */
  showRemotePointer(pointer: PointerPosition | null, label: string): void;
  /** When false the user's interactions do not change the view (a follower's viewport). */
  setInteractive(interactive: boolean): void;
  annotations(): SavedAnnotation[];
  /** Called when the local user completes, modifies or removes an annotation. */
  onAnnotationsChange(listener: (annotations: SavedAnnotation[]) => void): () => void;
  /** Replaces the displayed annotations with these (e.g. the lead's, or the saved ones). */
  setAnnotations(annotations: SavedAnnotation[]): void;
  /** What is displayed now; key images are made only of a diagnostic render. */
  quality(): DisplayQuality;
  /** Called whenever `quality()` changes. */
  onQualityChange(listener: (quality: DisplayQuality) => void): () => void;
  /** The displayed image with its annotations drawn on it, as a PNG (for key images).
   * Rejects unless the diagnostic image is displayed. */
  snapshotPng(): Promise<Blob>;
  /** The SOP Instance UID of the displayed image ("" before the first image is shown). */
  displayedSopInstanceUid(): string;
}
