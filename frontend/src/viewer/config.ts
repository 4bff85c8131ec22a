// The page's configuration (imaging/viewer.py builds it; the template embeds it as JSON in
// <script type="application/json" id="viewer-config">).

export interface SeriesEntry {
  seriesInstanceUid: string;
  seriesNumber: number | null;
  modality: string;
  description: string;
  instanceCount: number;
  thumbnailUrl: string;
  /** The lossy preview to show at once: rendered at ingest, or rendered on request. */
  previewUrl: string;
}

export interface ViewerLabels {
  preview: string;
  diagnostic: string;
  /** The badge over the archive's lossy copy of a large image, with its ratio. */
  diagnosticLossy: string;
  loadLossless: string;
  loadingLossless: string;
  loading: string;
  /** Over the first image drawn before Cornerstone's tools have arrived. */
  toolsLoading: string;
  loadFailed: string;
  /** "The diagnostic image could not be displayed: %(reason)s" */
  renderFailed: string;
  renderError: string;
  renderBlank: string;
  renderInvalid: string;
  /** Shown over an image without usable pixel spacing: measured in pixels. */
  uncalibrated: string;
  /** The elliptical ROI's statistics, each "…: %(value)s". */
  roiArea: string;
  roiAreaOblique: string;
  roiMean: string;
  roiMax: string;
  roiMin: string;
  roiStdDev: string;
  series: string;
  image: string;
  windowLevel: string;
  pan: string;
  zoom: string;
  length: string;
  angle: string;
  ellipse: string;
  arrow: string;
  arrowPrompt: string;
  invert: string;
  reset: string;
  play: string;
  stop: string;
  presets: string;
  presetDefault: string;
  presetLung: string;
  presetMediastinum: string;
  presetBone: string;
  presetBrain: string;
  presetAbdomen: string;
  shortcuts: string;
  shortcutScroll: string;
  shortcutTools: string;
  shortcutPresets: string;
  shortcutInvert: string;
  shortcutReset: string;
  shortcutPlay: string;
  shortcutHelp: string;
  shortcutMouse: string;
  close: string;
  ok: string;
  cancel: string;
}

export interface ViewerConfig {
  studyInstanceUid: string;
  /** Path of the archive's DICOMweb root on this origin, e.g. "/dicomweb". */
  dicomwebRoot: string;
  /** Set when the page is opened from a consult, for the shared review. */
  consultId: number | null;
  patient: { name: string; id: string; sex: string; age: string };
  study: { date: string; description: string };
  series: SeriesEntry[];
  labels: ViewerLabels;
}

/** lib/dom.ts readJsonScript, kept here: the viewer's entry imports nothing from src/lib/
 * (first.ts says why). */
export function readViewerConfig(id = "viewer-config"): ViewerConfig {
  const element = document.getElementById(id);
  if (element === null || element.textContent === null) {
    throw new Error(`#${id} is missing from the page.`);
  }
  return JSON.parse(element.textContent) as ViewerConfig;
}
