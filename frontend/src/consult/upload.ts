// Attachment upload to the consult attachments API, one XHR per file for upload progress.
// Size and type are checked here first for a quick answer; the server checks them again.

import { element } from "../lib/dom";
import { answerErrorWords, csrfToken } from "../lib/http";

interface Limit {
  types: string[];
  max: number;
}

function readLimits(raw: string | undefined): Record<string, Limit> {
  try {
    const parsed: unknown = JSON.parse(raw ?? "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, Limit>) : {};
  } catch {
    return {};
  }
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}

interface Row {
  item: HTMLLIElement;
  bar: HTMLProgressElement;
  status: HTMLSpanElement;
}

function addRow(list: HTMLElement, name: string): Row {
  const item = element("li", "upload-item");
  const bar = element("progress");
  bar.max = 100;
  bar.value = 0;
  const status = element("span", "upload-status");
  item.append(element("span", "upload-name", name), bar, status);
  list.append(item);
  return { item, bar, status };
}

function fail(row: Row, message: string): void {
  row.item.classList.add("upload-item--error");
  row.item.setAttribute("role", "alert");
  row.status.textContent = message;
  row.bar.hidden = true;
}

function send(form: HTMLFormElement, url: string, kind: string, file: File, row: Row): Promise<boolean> {
  const messages = form.dataset;
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("X-CSRFToken", csrfToken(form));
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (progress) => {
      if (progress.lengthComputable) {
        row.bar.value = Math.round((progress.loaded / progress.total) * 100);
      }
    });
    request.addEventListener("load", () => {
      if (request.status === 201) {
        row.bar.value = 100;
        row.item.classList.add("upload-item--done");
        row.status.textContent = messages["msgDone"] ?? "";
        resolve(true);
      } else {
        const reason = answerErrorWords(request.status, request.responseText);
        fail(row, `${messages["msgFailed"] ?? ""} ${reason}`);
        resolve(false);
      }
    });
    request.addEventListener("error", () => {
      fail(row, messages["msgNetwork"] ?? "");
      resolve(false);
    });
    const body = new FormData();
    body.append("kind", kind);
    body.append("file", file);
    request.send(body);
  });
}

export function uploadFiles(form: HTMLFormElement): void {
  const url = form.dataset["uploadUrl"];
  const input = form.querySelector<HTMLInputElement>("input[type=file]");
  const kindSelect = form.querySelector<HTMLSelectElement>("select[name=kind]");
  const list = form.querySelector<HTMLElement>(".upload-list");
  if (url === undefined || input === null || kindSelect === null || list === null) {
    return;
  }
  const limits = readLimits(form.dataset["limits"]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const files = Array.from(input.files ?? []);
    const kind = kindSelect.value;
    const limit = limits[kind];
    list.replaceChildren();
    const uploads = files.map((file) => {
      const row = addRow(list, file.name);
      if (limit !== undefined && file.size > limit.max) {
        const message = (form.dataset["msgTooLarge"] ?? "").replace("%(max)s", megabytes(limit.max));
        fail(row, message);
        return Promise.resolve(false);
      }
      if (limit !== undefined && file.type !== "" && !limit.types.includes(file.type)) {
        fail(row, form.dataset["msgType"] ?? "");
        return Promise.resolve(false);
      }
      return send(form, url, kind, file, row);
    });
    void Promise.all(uploads).then((results) => {
      form.dataset["uploaded"] = String(results.filter(Boolean).length);
      if (results.length > 0 && results.every(Boolean)) {
        // Every file arrived: show them in the attachment list, rendered by the server.
        window.location.reload();
      }
    });
  });
}
