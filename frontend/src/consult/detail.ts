// Consult detail and opinion pages: attachment upload with progress, and the page brought up
// to date when the consult changes while it is open (or a notice, if that would lose input).

import "./consult.css";

import { onLiveEvent } from "../lib/events";
import { request } from "../lib/http";
import { bindAutosave } from "./autosave";
import { uploadFiles } from "./upload";

const consultId = Number(document.getElementById("consult")?.dataset["consultId"] ?? "0");

function bindUpload(): void {
  const form = document.getElementById("upload");
  if (form instanceof HTMLFormElement) {
    uploadFiles(form);
  }
  const opinion = document.getElementById("opinion-form");
  if (opinion instanceof HTMLFormElement) {
    bindAutosave(opinion);
  }
}

/** Whether the user has typed, chosen or started sending something a re-render would lose. */
function userIsEditing(root: HTMLElement): boolean {
  const sending = Array.from(root.querySelectorAll("progress"));
  if (sending.some((bar) => !bar.hidden && bar.value < bar.max)) {
    return true;
  }
  const fields = root.querySelectorAll<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>(
    "input, textarea, select",
  );
  for (const field of fields) {
    if (field instanceof HTMLSelectElement) {
      // With no option marked selected in the HTML, the first one is shown.
      const shown = Math.max(
        0,
        Array.from(field.options).findIndex((option) => option.defaultSelected),
      );
      if (field.selectedIndex !== shown) {
        return true;
      }
    } else if (field instanceof HTMLInputElement && ["checkbox", "radio"].includes(field.type)) {
      if (field.checked !== field.defaultChecked) {
        return true;
      }
    } else if (field instanceof HTMLInputElement && field.type === "file") {
      if ((field.files?.length ?? 0) > 0) {
        return true;
      }
    } else if (field.type !== "hidden" && field.value !== field.defaultValue) {
      return true;
    }
  }
  return false;
}

function showNotice(): void {
  const notice = document.getElementById("consult-changed");
  if (notice !== null) {
    notice.hidden = false;
  }
}

/** Load the page again and put its content in place of the current one. */
async function refresh(): Promise<void> {
  const main = document.querySelector("main");
  if (main === null || userIsEditing(main)) {
    showNotice();
    return;
  }
  const response = await request(window.location.href, { accept: "text/html" });
  const fresh = response.ok
    ? new DOMParser().parseFromString(await response.text(), "text/html").querySelector("main")
    : null;
  // Typing may have started while the page was on its way.
  if (fresh === null || userIsEditing(main)) {
    showNotice();
    return;
  }
  main.replaceWith(fresh);
  bindUpload();
  refreshWhenTheSessionOpens();
}

/** A session not yet startable: bring the page up to date when its join window opens. */
function refreshWhenTheSessionOpens(): void {
  const opens = document.querySelector<HTMLElement>("[data-join-opens]")?.dataset["joinOpens"];
  const delay = opens === undefined ? Number.NaN : Date.parse(opens) - Date.now();
  // Past or days away: a reload shows it; timers are not held that long.
  if (Number.isFinite(delay) && delay > 0 && delay < 24 * 3600 * 1000) {
    window.setTimeout(() => {
      refresh().catch(showNotice);
    }, delay + 1000);
  }
}

if (consultId > 0) {
  let pending: Promise<void> = Promise.resolve();
  onLiveEvent((event) => {
    if (event.type === "consult.worklist_changed" && event.consult_id === consultId) {
      pending = pending.then(refresh, refresh).catch(showNotice);
    }
  });
}
bindUpload();
refreshWhenTheSessionOpens();
