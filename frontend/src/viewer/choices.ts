// The viewer's tools and window presets, with their labels and keys: the toolbar offers them,
// the keyboard reaches them, the viewport and the tool group apply them.

import type { ViewerLabels } from "./config";
import { TOOL_NAMES } from "./cornerstone";

export interface Preset {
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

export interface ToolChoice {
  name: string;
  label: keyof ViewerLabels;
  key: string;
}

export const TOOLS: ToolChoice[] = [
  { name: TOOL_NAMES.windowLevel, label: "windowLevel", key: "w" },
  { name: TOOL_NAMES.pan, label: "pan", key: "p" },
  { name: TOOL_NAMES.zoom, label: "zoom", key: "z" },
  { name: TOOL_NAMES.length, label: "length", key: "l" },
  { name: TOOL_NAMES.angle, label: "angle", key: "a" },
  { name: TOOL_NAMES.ellipticalRoi, label: "ellipse", key: "e" },
  { name: TOOL_NAMES.arrowAnnotate, label: "arrow", key: "t" },
];

/** The tools whose marks are annotations, saved with a consult. */
export const ANNOTATION_TOOLS = new Set<string>([
  TOOL_NAMES.length,
  TOOL_NAMES.angle,
  TOOL_NAMES.ellipticalRoi,
  TOOL_NAMES.arrowAnnotate,
]);
