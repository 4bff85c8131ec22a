// The consult's image upload page: pick a folder or files, check each file's DICOM header here,
// show patient → study → series, then send the chosen studies resumably, a few files at a time,
// with a progress bar per study, and attach each study to the consult once it is in the archive.

import "./upload.css";

import { dicomDay } from "../lib/dates";
import { byId, element } from "../lib/dom";
import { errorWords, request } from "../lib/http";

import { readHeader, sha256Hex, type Header, type ImageHeader } from "./header";
import { sendFile, SendFailed, type UploadResult } from "./send";

// A few files in flight keep a slow link busy without starving each other.
const FILES_IN_FLIGHT = 3;
const HEADERS_IN_FLIGHT = 8;

interface Item {
  file: File;
  header: ImageHeader;
  sent: number;
  status: HTMLElement;
  row: HTMLElement;
  study: Study;
}

interface Study {
  uid: string;
  header: ImageHeader;
  items: Item[];
  series: Map<string, Item[]>;
  include: HTMLInputElement;
  bar: HTMLProgressElement;
  percent: HTMLElement;
  note: HTMLElement;
  attached: Promise<void> | null;
}

const root = document.getElementById("dicom-upload");
if (root !== null) {
  uploadPage(root);
}

function uploadPage(root: HTMLElement): void {
  const data = root.dataset;
  const msg = (key: string): string => data[key] ?? "";
  const endpoint = msg("endpoint");
  const studiesBox = byId("dicom-studies");
  const skippedBox = byId("dicom-skipped-box") as HTMLDetailsElement;
  const skippedList = byId("dicom-skipped");
  const skippedCount = byId("dicom-skipped-count");
  const sendButton = byId("dicom-send") as HTMLButtonElement;
  const sendHint = byId("dicom-send-hint");
  let studies: Study[] = [];
  let phase: "nothing-chosen" | "reading" | "chosen" | "sending" = "nothing-chosen";

  /** The send button is usable exactly when a study is ticked; otherwise the hint beside it
   * says why not (nothing chosen yet, still reading, no DICOM image, or nothing ticked). */
  function showSendState(): void {
    const ticked = studies.some((study) => study.include.checked);
    sendButton.disabled = phase !== "chosen" || !ticked;
    let hint = "";
    if (phase === "nothing-chosen") {
      hint = msg("msgChooseFirst");
    } else if (phase === "reading") {
      hint = msg("msgReading");
    } else if (phase === "chosen" && studies.length === 0) {
      hint = msg("msgNoImages");
    } else if (phase === "chosen" && !ticked) {
      hint = msg("msgNothingTicked");
    }
    sendHint.textContent = hint;
    sendHint.hidden = hint === "";
  }

  async function choose(files: File[]): Promise<void> {
    phase = "reading";
    studies = [];
    showSendState();
    studiesBox.replaceChildren();
    skippedList.replaceChildren();
    skippedBox.hidden = true;
    const headers = await mapLimited(files, HEADERS_IN_FLIGHT, (file) =>
      readHeader(file).catch((): Header => ({ kind: "unreadable" })),
    );
    const images: { file: File; header: ImageHeader }[] = [];
    files.forEach((file, index) => {
      const header = headers[index];
      if (header === undefined) {
        return;
      }
      if (header.kind === "image") {
        images.push({ file, header });
      } else {
        skip(file, header.kind);
      }
    });
    studies = render(images);
    phase = "chosen";
    showSendState();
  }

  function skip(file: File, kind: "dicomdir" | "not-dicom" | "unreadable"): void {
    const reason = { dicomdir: "msgDicomdir", "not-dicom": "msgNotDicom", unreadable: "msgUnreadable" };
    skippedList.append(element("li", "", `${pathOf(file)}: ${msg(reason[kind])}`));
    skippedCount.textContent = String(skippedList.children.length);
    skippedBox.hidden = false;
  }

  function render(images: { file: File; header: ImageHeader }[]): Study[] {
    const byPatient = new Map<string, Map<string, Study>>();
    for (const { file, header } of images) {
      const patientKey = `${header.patientId}\u0000${header.patientName}`;
      const patientStudies = byPatient.get(patientKey) ?? new Map<string, Study>();
      byPatient.set(patientKey, patientStudies);
      const study = patientStudies.get(header.studyUid) ?? newStudy(header);
      patientStudies.set(header.studyUid, study);
      const status = element("span", "dicom-file-status", msg("msgQueued"));
      const row = element("li", "dicom-file");
      row.append(element("span", "dicom-file-name", pathOf(file)), status);
      const item: Item = { file, header, sent: 0, status, row, study };
      study.items.push(item);
      const series = study.series.get(header.seriesUid) ?? [];
      series.push(item);
      study.series.set(header.seriesUid, series);
    }
    const all: Study[] = [];
    for (const patientStudies of byPatient.values()) {
      const first = patientStudies.values().next().value;
      if (first === undefined) {
        continue;
      }
      const section = element("section", "dicom-patient");
      section.append(patientHeading(first.header));
      for (const study of patientStudies.values()) {
        section.append(studyBlock(study));
        all.push(study);
      }
      studiesBox.append(section);
    }
    return all;
  }

  function patientHeading(header: ImageHeader): HTMLElement {
    const heading = element("div", "dicom-patient-head");
    const facts = [
      header.patientName,
      header.patientId,
      header.patientSex,
      dicomDay(header.patientBirthDate),
    ];
    heading.append(
      element("h2", "", `${msg("msgPatient")}: ${facts.filter(Boolean).join(" · ")}`),
    );
    const idDiffers = header.patientId !== msg("patientId");
    const nameDiffers = normalName(header.patientName) !== normalName(msg("patientName"));
    // The archive files images by patient ID, so another ID is a warning; a name written
    // otherwise (pinyin against characters) with the same ID is only pointed out.
    if (idDiffers) {
      const warning = element("p", "message message--warning dicom-mismatch", msg("msgMismatch"));
      warning.setAttribute("role", "alert");
      heading.append(warning);
    } else if (nameDiffers) {
      heading.append(element("p", "message message--info dicom-name-differs", msg("msgNameDiffers")));
    }
    return heading;
  }

  function newStudy(header: ImageHeader): Study {
    return {
      uid: header.studyUid,
      header,
      items: [],
      series: new Map(),
      include: element("input"),
      bar: element("progress"),
      percent: element("span", "dicom-study-percent", "0%"),
      note: element("p", "dicom-study-note"),
      attached: null,
    };
  }

  function studyBlock(study: Study): HTMLElement {
    const block = element("article", "dicom-study");
    block.dataset["studyUid"] = study.uid;
    const { header } = study;
    const title = [dicomDay(header.studyDate), header.studyDescription]
      .filter(Boolean)
      .join(" · ");
    const label = element("label", "dicom-study-include");
    study.include.type = "checkbox";
    // A study whose patient matches neither by ID nor by name is sent only when ticked.
    study.include.checked = !(
      header.patientId !== msg("patientId") &&
      normalName(header.patientName) !== normalName(msg("patientName"))
    );
    study.include.addEventListener("change", showSendState);
    label.append(study.include, ` ${msg("msgInclude")}`);
    block.append(
      element("h3", "", `${msg("msgStudy")}: ${title || study.uid}`),
      label,
    );
    const seriesList = element("ul", "dicom-series");
    for (const items of study.series.values()) {
      const first = items[0];
      if (first === undefined) {
        continue;
      }
      const s = first.header;
      const facts = [s.modality, s.seriesNumber, s.seriesDescription].filter(Boolean).join(" · ");
      const entry = element("li", "", `${msg("msgSeries")}: ${facts} (${items.length} ${msg("msgFiles")})`);
      const files = element("ul", "dicom-files");
      files.append(...items.map((item) => item.row));
      entry.append(files);
      seriesList.append(entry);
    }
    study.bar.max = Math.max(1, study.items.reduce((sum, item) => sum + item.file.size, 0));
    study.bar.value = 0;
    const progress = element("div", "dicom-study-progress");
    progress.append(study.bar, study.percent);
    block.append(progress, study.note, seriesList);
    return block;
  }

  function showProgress(study: Study): void {
    const sent = study.items.reduce((sum, item) => sum + item.sent, 0);
    study.bar.value = sent;
    study.percent.textContent = `${Math.floor((sent / study.bar.max) * 100)}%`;
  }

  function attach(study: Study): Promise<void> {
    study.attached ??= request(msg("attachUrl"), {
      method: "POST",
      json: { study_instance_uid: study.uid },
    }).then(async (response) => {
      if (response.ok) {
        study.note.textContent = msg("msgAttached");
        study.note.classList.add("dicom-study-note--done");
        return;
      }
      study.note.textContent = `${msg("msgAttachFailed")} ${await errorWords(response)}`;
      study.note.classList.add("dicom-study-note--error");
    });
    return study.attached;
  }

  function finish(item: Item, result: UploadResult): void {
    if (result.state === "stored" || result.state === "already_stored") {
      item.status.textContent = msg(result.state === "stored" ? "msgStored" : "msgAlreadyStored");
      item.row.classList.add("dicom-file--done");
      void attach(item.study);
      return;
    }
    fail(item, `${msg("msgRefused")} ${result.message}`);
  }

  function fail(item: Item, text: string): void {
    item.status.textContent = text;
    item.row.classList.add("dicom-file--error");
  }

  async function sendOne(item: Item): Promise<void> {
    item.status.textContent = msg("msgChecking");
    try {
      const sha256 = await sha256Hex(item.file);
      item.status.textContent = msg("msgSending");
      const result = await sendFile(item.file, sha256, endpoint, {
        onProgress: (bytesSent) => {
          item.sent = bytesSent;
          item.status.textContent = msg("msgSending");
          showProgress(item.study);
        },
        onWaiting: () => {
          item.status.textContent = msg("msgOffline");
        },
      });
      item.sent = item.file.size;
      showProgress(item.study);
      finish(item, result);
    } catch (error: unknown) {
      fail(item, `${msg("msgFailed")} ${error instanceof SendFailed ? error.message : ""}`);
    }
  }

  sendButton.addEventListener("click", () => {
    if (!window.isSecureContext || crypto.subtle === undefined) {
      skippedBox.hidden = false;
      skippedList.replaceChildren(element("li", "", msg("msgNoSecureContext")));
      return;
    }
    const chosen = studies.filter((study) => study.include.checked);
    if (chosen.length === 0) {
      showSendState();
      return;
    }
    phase = "sending";
    showSendState();
    for (const study of studies) {
      study.include.disabled = true;
    }
    void mapLimited(
      chosen.flatMap((study) => study.items),
      FILES_IN_FLIGHT,
      sendOne,
    );
  });

  showSendState();
  for (const id of ["dicom-folder", "dicom-files"]) {
    const input = byId(id) as HTMLInputElement;
    input.addEventListener("change", () => void choose(Array.from(input.files ?? [])));
  }
  const drop = byId("dicom-drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("dicom-drop--over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dicom-drop--over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dicom-drop--over");
    const entries = Array.from(event.dataTransfer?.items ?? [])
      .map((entry) => entry.webkitGetAsEntry())
      .filter((entry): entry is FileSystemEntry => entry !== null);
    void Promise.all(entries.map(filesOf)).then((lists) => choose(lists.flat()));
  });
}

function pathOf(file: File): string {
  return file.webkitRelativePath || file.name;
}

function normalName(name: string): string {
  return name.replace(/[\s^]+/g, "").toLowerCase();
}

/** Run `work` over `items`, at most `limit` at a time, keeping the results in order. */
async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Every file under a dropped file or folder. */
async function filesOf(entry: FileSystemEntry): Promise<File[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) =>
      (entry as FileSystemFileEntry).file(resolve, reject),
    );
    return [file];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  // readEntries answers in batches (100 in Chromium) until it returns none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) {
      break;
    }
    children.push(...batch);
  }
  const nested = await Promise.all(children.map(filesOf));
  return nested.flat();
}
