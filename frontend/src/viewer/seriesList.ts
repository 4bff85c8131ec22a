// The study's series beside the image: a thumbnail, modality, number and description each;
// choosing one shows it, and the one on screen is marked.

import { button, element } from "../lib/dom";
import type { SeriesEntry, ViewerLabels } from "./config";

export interface SeriesList {
  /** Marks the series being shown (aria-current). */
  markCurrent(seriesUid: string): void;
}

export function createSeriesList(
  list: HTMLUListElement,
  series: SeriesEntry[],
  labels: ViewerLabels,
  onChoose: (seriesUid: string) => void,
): SeriesList {
  const seriesButtons = new Map<string, HTMLButtonElement>();
  for (const entry of series) {
    const item = element("li");
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
    node.addEventListener("click", () => onChoose(entry.seriesInstanceUid));
    seriesButtons.set(entry.seriesInstanceUid, node);
    item.append(node);
    list.append(item);
  }
  return {
    markCurrent(seriesUid) {
      for (const [uid, node] of seriesButtons) {
        node.setAttribute("aria-current", String(uid === seriesUid));
      }
    },
  };
}
