// Consult worklists: refetch the list fragment when a consult enters, leaves or changes in it.

import "./consult.css";

import { onLiveConnected, onLiveEvent } from "../lib/events";
import { request } from "../lib/http";

// Several events often arrive together (one per status change); one refetch covers them.
const DEBOUNCE_MS = 100;
const SHOWN_HEADER = "X-Worklist-Shown";

function startWorklist(container: HTMLElement): void {
  const url = container.dataset["fragmentUrl"];
  const worklist = container.dataset["worklist"];
  if (url === undefined || worklist === undefined) {
    return;
  }
  let timer: number | undefined;
  let running: AbortController | null = null;

  const refresh = async (): Promise<void> => {
    running?.abort();
    const controller = new AbortController();
    running = controller;
    try {
      // Which consults this page view has shown: the server audits only the ones it adds.
      const response = await request(url, {
        accept: "text/html",
        headers: { [SHOWN_HEADER]: container.dataset["shown"] ?? "" },
        signal: controller.signal,
      });
      if (response.ok) {
        container.dataset["shown"] = response.headers.get(SHOWN_HEADER) ?? "";
        container.innerHTML = await response.text();
        container.dataset["refreshed"] = String(Number(container.dataset["refreshed"] ?? "0") + 1);
      }
    } catch (error) {
      if (!(error instanceof DOMException && error.name === "AbortError")) {
        container.dataset["refreshError"] = "1";
      }
    }
  };

  const schedule = (): void => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      void refresh();
    }, DEBOUNCE_MS);
  };

  onLiveEvent((event) => {
    if (event.type === "consult.escalated" || event.type === "consult.worklist_changed") {
      // The server knows which of the user's lists a consult is in; "all" and the coordinator's
      // queue can hold any of them, so every consult event refreshes.
      schedule();
    }
  });
  onLiveConnected(schedule);
}

const container = document.getElementById("worklist");
if (container !== null) {
  startWorklist(container);
}
