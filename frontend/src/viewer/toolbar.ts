// The viewer's toolbar (tools, window presets, invert, reset, cine, lossless, help), its help
// dialog and the keyboard shortcuts: what the user asks for, handed to the viewer's actions.

import { button, element } from "../lib/dom";
import { PRESETS, TOOLS } from "./choices";
import type { ViewerLabels } from "./config";
import type { ViewerLayout } from "./layout";

export interface ToolbarActions {
  selectTool(name: string): void;
  /** A preset's key, or "default" for the image's own window. */
  applyPreset(key: string): void;
  toggleInvert(): void;
  resetView(): void;
  togglePlay(): void;
  scrollBy(delta: number): void;
  loadLossless(): void;
}

export interface Toolbar {
  playButton: HTMLButtonElement;
  losslessButton: HTMLButtonElement;
  markSelectedTool(selected: string): void;
  setPlaying(playing: boolean): void;
  /** Disables every control while not interactive, and cine when there is nothing to play. */
  setEnabled(interactive: boolean, playable: boolean): void;
}

export function createToolbar(
  root: HTMLElement,
  layout: ViewerLayout,
  labels: ViewerLabels,
  actions: ToolbarActions,
  isInteractive: () => boolean,
): Toolbar {
  const { toolbar, help } = layout;
  const toolButtons = new Map<string, HTMLButtonElement>();
  const toolsGroup = element("div", "viewer-toolbar-group");
  for (const tool of TOOLS) {
    const node = button(
      "viewer-tool",
      labels[tool.label],
      `${labels[tool.label]} (${tool.key.toUpperCase()})`,
    );
    node.dataset["tool"] = tool.name;
    node.addEventListener("click", () => actions.selectTool(tool.name));
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
      actions.applyPreset(presetSelect.value);
    }
    presetSelect.value = "";
  });
  const invertButton = button("viewer-action", labels.invert, `${labels.invert} (I)`);
  invertButton.dataset["action"] = "invert";
  invertButton.addEventListener("click", () => actions.toggleInvert());
  const resetButton = button("viewer-action", labels.reset, `${labels.reset} (R)`);
  resetButton.dataset["action"] = "reset";
  resetButton.addEventListener("click", () => actions.resetView());
  const playButton = button("viewer-action", labels.play, `${labels.play} (Space)`);
  playButton.dataset["action"] = "play";
  playButton.addEventListener("click", () => actions.togglePlay());
  const helpButton = button("viewer-action", "?", `${labels.shortcuts} (?)`);
  helpButton.dataset["action"] = "help";
  helpButton.setAttribute("aria-expanded", "false");
  helpButton.addEventListener("click", () => toggleHelp());
  const losslessButton = button("viewer-action", labels.loadLossless, labels.loadLossless);
  losslessButton.dataset["action"] = "lossless";
  losslessButton.hidden = true;
  losslessButton.addEventListener("click", () => actions.loadLossless());
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
    const tool = keyTools.get(key);
    if (key === "?") {
      toggleHelp();
      handled();
    } else if (key === "Escape") {
      toggleHelp(false);
    } else if (!isInteractive()) {
      return;
    } else if (key === "ArrowUp" || key === "PageUp") {
      actions.scrollBy(key === "PageUp" ? -10 : -1);
      handled();
    } else if (key === "ArrowDown" || key === "PageDown") {
      actions.scrollBy(key === "PageDown" ? 10 : 1);
      handled();
    } else if (key === "Home" || key === "End") {
      actions.scrollBy(key === "Home" ? -Infinity : Infinity);
      handled();
    } else if (key === " ") {
      actions.togglePlay();
      handled();
    } else if (key === "i") {
      actions.toggleInvert();
    } else if (key === "r") {
      actions.resetView();
    } else if (key === "0") {
      actions.applyPreset("default");
    } else if (/^[1-9]$/.test(key) && PRESETS[Number(key) - 1] !== undefined) {
      actions.applyPreset(PRESETS[Number(key) - 1]?.key ?? "");
    } else if (tool !== undefined) {
      actions.selectTool(tool);
    }
  }
  document.addEventListener("keydown", onKey);

  return {
    playButton,
    losslessButton,
    markSelectedTool(selected) {
      for (const [name, node] of toolButtons) {
        node.setAttribute("aria-pressed", String(name === selected));
      }
    },
    setPlaying(playing) {
      playButton.textContent = playing ? labels.stop : labels.play;
      playButton.setAttribute("aria-pressed", String(playing));
    },
    setEnabled(interactive, playable) {
      for (const control of toolbar.querySelectorAll<HTMLButtonElement | HTMLSelectElement>(
        "button, select",
      )) {
        control.disabled = !interactive || (control === playButton && !playable);
      }
    },
  };
}
