// What the user's toolbar buttons and keys do to the view: window presets, invert, reset,
// scrolling and cine. None of them acts while the user follows a shared review's lead.

import { utilities } from "@cornerstonejs/core";

import { PRESETS } from "./choices";
import type { ViewerState } from "./state";
import type { Toolbar } from "./toolbar";

export interface ViewActions {
  applyPreset(key: string): void;
  toggleInvert(): void;
  resetView(): void;
  scrollBy(delta: number): void;
  setPlaying(value: boolean): void;
  stopPlay(): void;
  togglePlay(): void;
}

export function createViewActions(
  state: ViewerState,
  root: HTMLElement,
  viewportElement: HTMLDivElement,
  toolbar: Pick<Toolbar, "setPlaying">,
): ViewActions {
  let playing = false;

  function applyPreset(key: string): void {
    const viewport = state.viewport;
    if (viewport === null || !state.interactive) {
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
    const viewport = state.viewport;
    if (viewport === null || !state.interactive) {
      return;
    }
    viewport.setProperties({ invert: !(viewport.getProperties().invert ?? false) });
    viewport.render();
  }

  function resetView(): void {
    const viewport = state.viewport;
    if (viewport === null || !state.interactive) {
      return;
    }
    stopPlay();
    viewport.resetProperties();
    viewport.resetCamera();
    viewport.render();
  }

  function scrollBy(delta: number): void {
    const { viewport, current } = state;
    if (viewport === null || current === null || !state.interactive) {
      return;
    }
    const last = current.imageIds.length - 1;
    const target = Math.max(0, Math.min(last, viewport.getCurrentImageIdIndex() + delta));
    void viewport.setImageIdIndex(target);
  }

  function setPlaying(value: boolean): void {
    playing = value;
    root.dataset["cine"] = value ? "playing" : "stopped";
    toolbar.setPlaying(value);
  }

  function startPlay(): void {
    const { viewport, current, tools } = state;
    if (viewport === null || current === null || current.imageIds.length < 2 || tools === null) {
      return;
    }
    // Frames not loaded yet are fetched as the clip reaches them; the prefetch runs ahead.
    tools.cine.playClip(viewportElement, {
      framesPerSecond: current.framesPerSecond,
      loop: true,
      waitForRendered: 30,
    });
    setPlaying(true);
  }

  function stopPlay(): void {
    if (playing) {
      state.tools?.cine.stopClip(viewportElement);
    }
    setPlaying(false);
  }

  return {
    applyPreset,
    toggleInvert,
    resetView,
    scrollBy,
    setPlaying,
    stopPlay,
    togglePlay() {
      if (!state.interactive) {
        return;
      }
      if (playing) {
        stopPlay();
      } else {
        startPlay();
      }
    },
  };
}
