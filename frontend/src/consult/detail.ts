// Consult detail and opinion pages: attachment upload with progress, and a notice when the
// consult changes while the page is open.

import "./consult.css";

import { onLiveEvent } from "../lib/events";
import { uploadFiles } from "./upload";

const page = document.getElementById("consult");
const consultId = Number(page?.dataset["consultId"] ?? "0");
const notice = document.getElementById("consult-changed");
if (notice !== null && consultId > 0) {
  onLiveEvent((event) => {
    if (event.type === "consult.worklist_changed" && event.consult_id === consultId) {
      notice.hidden = false;
    }
  });
}

const form = document.getElementById("upload");
if (form instanceof HTMLFormElement) {
  uploadFiles(form);
}
