// Cornerstone's tools on the viewport: loaded after the first image (cornerstone.ts toolsLoad),
// bound to the mouse (wheel scrolls, middle button or Ctrl pans, right button zooms, left
// button the tool chosen in the toolbar), with the arrow's label asked in the page's dialog.

import { eventTarget } from "@cornerstonejs/core";
import type { ToolGroupManager } from "@cornerstonejs/tools";

import { roiTextLines } from "./annotations";
import { askText } from "./ask";
import { ANNOTATION_TOOLS } from "./choices";
import type { ViewerLabels } from "./config";
import { TOOL_NAMES, toolsLoad, type ToolsModule } from "./cornerstone";
import type { ViewerState } from "./state";
import type { Viewport } from "./viewport";

export interface ToolGroupHooks {
  /** The tool chosen for the left button changed (or is first marked). */
  onSelected(name: string): void;
  /** Cornerstone says an annotation was completed, modified or removed. */
  onAnnotationChange(): void;
  /** The tools are on the viewport (state.tools is set). */
  onAttached(tools: ToolsModule): void;
}

export interface ToolGroup {
  /** Loads the tools and gives them the viewport (created first if need be); once. */
  attach(): Promise<void>;
  /** Puts the named tool on the left button. */
  select(name: string): void;
  selected(): string;
}

export function createToolGroup(
  state: ViewerState,
  viewportElement: HTMLDivElement,
  labels: ViewerLabels,
  viewport: Pick<Viewport, "ensure">,
  hooks: ToolGroupHooks,
): ToolGroup {
  const { ids } = state;
  let group: ReturnType<typeof ToolGroupManager.createToolGroup> | undefined;
  let selectedTool: string = TOOL_NAMES.windowLevel;

  async function attach(): Promise<void> {
    await viewport.ensure();
    if (state.tools !== null) {
      return;
    }
    const loaded = await toolsLoad();
    const { MouseBindings, KeyboardBindings } = loaded;
    loaded.toolsTakeElement(viewportElement, ids.viewport, ids.engine);
    group = loaded.createToolGroup(ids.toolGroup);
    if (group === undefined) {
      throw new Error("Cornerstone tool group could not be created.");
    }
    for (const name of Object.values(TOOL_NAMES)) {
      group.addTool(name);
    }
    const askLabels = { ok: labels.ok, cancel: labels.cancel };
    group.setToolConfiguration(TOOL_NAMES.arrowAnnotate, {
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
    group.setToolConfiguration(TOOL_NAMES.ellipticalRoi, {
      getTextLines: (data: Parameters<typeof roiTextLines>[1], targetId: string) =>
        roiTextLines(labels, data, targetId),
    });
    group.addViewport(ids.viewport, ids.engine);
    group.setToolActive(TOOL_NAMES.stackScroll, {
      bindings: [{ mouseButton: MouseBindings.Wheel }],
    });
    group.setToolActive(TOOL_NAMES.pan, {
      bindings: [
        { mouseButton: MouseBindings.Auxiliary },
        { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Ctrl },
      ],
    });
    group.setToolActive(TOOL_NAMES.zoom, {
      bindings: [{ mouseButton: MouseBindings.Secondary }],
    });
    for (const name of ANNOTATION_TOOLS) {
      group.setToolPassive(name);
    }
    group.setToolActive(selectedTool, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    hooks.onSelected(selectedTool);
    for (const event of loaded.ANNOTATION_EVENTS) {
      eventTarget.addEventListener(event, hooks.onAnnotationChange);
    }
    state.tools = loaded;
    hooks.onAttached(loaded);
  }

  return {
    attach,
    select(name) {
      if (!state.interactive) {
        return;
      }
      if (state.tools !== null && group !== undefined && name !== selectedTool) {
        group.setToolPassive(selectedTool);
        group.setToolActive(name, {
          bindings: [{ mouseButton: state.tools.MouseBindings.Primary }],
        });
      }
      selectedTool = name;
      hooks.onSelected(name);
    },
    selected: () => selectedTool,
  };
}
