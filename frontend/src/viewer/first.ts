// The first diagnostic image without Cornerstone. On a clinic's slow link Cornerstone's
// scripts (over 600 kB gzipped) would cost half a minute before the chest film could show, so
// this small module fetches the frame exactly as the viewer would (link.ts: the archive's lossy
// copy on a slow link), decodes it in a worker with the OpenJPEG WASM decoder, windows it with
// the series' window and puts it on a canvas at full resolution, fitted to the stage. The
// viewer (viewer.ts) then takes over: it gives Cornerstone the same bytes (never downloaded
// twice), checks its own render and only then removes this canvas.
//
// Only what it does well: one single-frame greyscale image, JPEG 2000 or native little endian,
// linear window, on a slow link. Anything else, or any doubt (decode error, unusable window,
// a blank result), leaves the first image to Cornerstone, as before.
//
// Like the rest of the viewer's entry (main.ts, link.ts, metadata.ts, config.ts) it imports
// nothing from src/lib/: the entry must stay one file with no chunk to preload before the
// first image (tests/web/test_vite.py), so it builds its few elements and its one request here.

import type { ViewerConfig } from "./config";
import type { DecodeJob, DecodeResult, WarmUp } from "./firstTypes";
import { FRAMES_ACCEPT, framesAccept, isSlowLink, JPEG2000_LOSSY, linkJudged } from "./link";
import {
  first,
  frameImageId,
  NUMBER_OF_FRAMES,
  previewInstance,
  seriesBase,
  seriesMetadataAhead,
  SOP_INSTANCE_UID,
  type DicomJsonInstance,
} from "./metadata";

/** The frame as received, for Cornerstone to decode without fetching it again. */
export interface FirstFrame {
  imageId: string;
  bytes: Uint8Array;
  transferSyntax: string;
}

/** What the first image module leaves to the viewer. */
export interface FirstImage {
  seriesInstanceUid: string;
  frame: FirstFrame | null;
  /** The drawn image (checked), or null: Cornerstone draws the first image as before. */
  canvas: HTMLCanvasElement | null;
  /** Whether the drawn frame is the archive's lossy copy. */
  lossy: boolean;
  /** Whether the user asked for the lossless original before the viewer arrived. */
  losslessWanted: boolean;
}

const TAG = {
  samplesPerPixel: "00280002",
  photometric: "00280004",
  rows: "00280010",
  columns: "00280011",
  bitsAllocated: "00280100",
  pixelRepresentation: "00280103",
  windowCenter: "00281050",
  windowWidth: "00281051",
  rescaleIntercept: "00281052",
  rescaleSlope: "00281053",
  voiLutFunction: "00281056",
  modalityLutSequence: "00283000",
  voiLutSequence: "00283010",
  transferSyntax: "00020010",
};

function numeric(instance: DicomJsonInstance, tag: string): number | null {
  const value = first(instance, tag);
  if (value === undefined || value === null || value === "") {
    return null;
  }
  const number = Number(value);
  return Number.isFinite(number) ? number : NaN;
}

/** The decode job for this instance's frame, or the reason the fast path does not take it. */
function jobFor(instance: DicomJsonInstance): Omit<DecodeJob, "bytes" | "transferSyntax"> | string {
  const photometric = String(first(instance, TAG.photometric) ?? "");
  const rows = numeric(instance, TAG.rows);
  const columns = numeric(instance, TAG.columns);
  const bitsAllocated = numeric(instance, TAG.bitsAllocated);
  const frames = numeric(instance, NUMBER_OF_FRAMES) ?? 1;
  const voiFunction = String(first(instance, TAG.voiLutFunction) ?? "LINEAR").toUpperCase();
  const samples = numeric(instance, TAG.samplesPerPixel) ?? 1;
  if (samples !== 1 || !photometric.startsWith("MONOCHROME")) {
    return "not greyscale";
  }
  if (frames !== 1) {
    return "multi-frame";
  }
  if (rows === null || columns === null || !(rows > 0 && columns > 0)) {
    return "no rows or columns";
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    return `${bitsAllocated}-bit pixels`;
  }
  if (
    instance[TAG.modalityLutSequence] !== undefined ||
    instance[TAG.voiLutSequence] !== undefined
  ) {
    return "a LUT sequence";
  }
  if (voiFunction !== "LINEAR") {
    return `VOI LUT function ${voiFunction}`;
  }
  const center = numeric(instance, TAG.windowCenter);
  const width = numeric(instance, TAG.windowWidth);
  return {
    rows,
    columns,
    bitsAllocated,
    signed: numeric(instance, TAG.pixelRepresentation) === 1,
    slope: numeric(instance, TAG.rescaleSlope) ?? 1,
    intercept: numeric(instance, TAG.rescaleIntercept) ?? 0,
    // Non-finite numbers go to the worker, which refuses them in words.
    window: center === null || width === null ? null : { center, width },
    invert: photometric === "MONOCHROME1",
  };
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const lead = needle[0] ?? 0;
  for (let i = haystack.indexOf(lead, from); i !== -1; i = haystack.indexOf(lead, i + 1)) {
    if (i + needle.length > haystack.length) {
      return -1;
    }
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j += 1;
    if (j === needle.length) {
      return i;
    }
  }
  return -1;
}

/** The one part of a multipart/related frames answer, with its transfer syntax. */
function singlePart(body: Uint8Array, contentType: string): { bytes: Uint8Array; syntax: string } {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (boundary === undefined) {
    throw new Error("the frames answer is not multipart");
  }
  const encoder = new TextEncoder();
  const open = indexOf(body, encoder.encode(`--${boundary}`), 0);
  const headEnd = open === -1 ? -1 : indexOf(body, encoder.encode("\r\n\r\n"), open);
  if (headEnd === -1) {
    throw new Error("the frames answer has no part");
  }
  const head = new TextDecoder().decode(body.subarray(open, headEnd));
  const start = headEnd + 4;
  const close = indexOf(body, encoder.encode(`\r\n--${boundary}`), start);
  if (close === -1) {
    throw new Error("the frames answer is cut short");
  }
  const partType = /content-type:\s*([^\r\n]*)/i.exec(head)?.[1] ?? "";
  const syntax = /transfer-syntax=([0-9.]+)/i.exec(partType)?.[1] ?? "1.2.840.10008.1.2.1";
  return { bytes: body.slice(start, close), syntax };
}

// Frames larger than this get the archive's lossy copy (JPEG 2000) on a slow link
// (imaging/lossy.py lossy_worthwhile).
const LOSSY_COPY_ABOVE_BYTES = 1_000_000;
const J2K_SYNTAXES = new Set(["1.2.840.10008.1.2.4.90", JPEG2000_LOSSY]);

// A decode still running this long after the frame arrived (a decoder that never loaded, a
// stalled WASM download) is given up: Cornerstone draws the image instead.
const DECODE_WAIT_MS = 20_000;

interface Decoder {
  worker: Worker;
  /** Why the worker failed, if it did before it was given the frame. */
  broken: string | null;
}

function decoderStart(): Decoder {
  const worker = new Worker(new URL("./firstDecode.worker.ts", import.meta.url), {
    type: "module",
  });
  const decoder: Decoder = { worker, broken: null };
  worker.addEventListener("error", (event) => {
    decoder.broken = event.message || "worker error";
  });
  return decoder;
}

function decodeInWorker(decoder: Decoder, job: DecodeJob): Promise<DecodeResult> {
  return new Promise((resolve) => {
    const fail = (reason: string): void => finish({ ok: false, reason, undecodable: false });
    const finish = (result: DecodeResult): void => {
      window.clearTimeout(timer);
      resolve(result);
    };
    const timer = window.setTimeout(() => fail("the decoder took too long"), DECODE_WAIT_MS);
    if (decoder.broken !== null) {
      fail(`the decoder did not start: ${decoder.broken}`);
      return;
    }
    decoder.worker.addEventListener("message", (event: MessageEvent<DecodeResult>) =>
      finish(event.data),
    );
    decoder.worker.addEventListener("error", (event) =>
      fail(`the decoder did not start: ${event.message}`),
    );
    decoder.worker.postMessage(job, [job.bytes]);
  });
}

/** Puts the decoded image on a canvas in the stage, over the preview, labelled as the viewer
 * labels it, with the tools' note and the lossless control. */
function show(
  root: HTMLElement,
  config: ViewerConfig,
  canvas: HTMLCanvasElement,
  lossy: boolean,
  state: FirstImage,
): void {
  const labels = config.labels;
  const stage = root.querySelector<HTMLElement>(".viewer-stage");
  if (stage === null) {
    throw new Error("no stage");
  }
  stage.append(canvas);
  stage.classList.remove("viewer-stage--preview");
  const preview = stage.querySelector<HTMLImageElement>("img.viewer-preview");
  if (preview !== null) {
    preview.hidden = true;
  }
  let badge = stage.querySelector<HTMLElement>(".viewer-quality");
  if (badge === null) {
    badge = document.createElement("span");
    badge.className = "viewer-quality";
    badge.setAttribute("role", "status");
    stage.append(badge);
  }
  badge.dataset["quality"] = "diagnostic";
  badge.textContent = lossy ? labels.diagnosticLossy : labels.diagnostic;
  const note = document.createElement("p");
  note.className = "viewer-status viewer-status--tools";
  note.textContent = labels.toolsLoading;
  stage.append(note);
  const toolbar = root.querySelector<HTMLElement>(".viewer-toolbar");
  if (lossy && toolbar !== null) {
    const lossless = document.createElement("button");
    lossless.type = "button";
    lossless.className = "viewer-action";
    lossless.dataset["action"] = "lossless";
    lossless.textContent = labels.loadLossless;
    lossless.title = labels.loadLossless;
    lossless.addEventListener("click", () => {
      // The viewer loads it as soon as it has taken over.
      state.losslessWanted = true;
      lossless.disabled = true;
      note.textContent = labels.loadingLossless;
    });
    toolbar.append(lossless);
  }
  root.dataset["lossy"] = String(lossy);
  root.dataset["quality"] = "diagnostic";
}

/** Draws the first series' first diagnostic image if the fast path can, and says what it left
 * for the viewer. Never rejects: a failure here only means Cornerstone draws it, as before. */
export async function firstImageDraw(
  root: HTMLElement,
  config: ViewerConfig,
): Promise<FirstImage | null> {
  const entry = config.series[0];
  const preview = root.querySelector<HTMLImageElement>("img.viewer-preview");
  if (entry === undefined || preview === null) {
    return null;
  }
  await linkJudged(preview, entry.previewUrl);
  if (!isSlowLink()) {
    root.dataset["first"] = "fast link: Cornerstone draws it";
    return null;
  }
  const state: FirstImage = {
    seriesInstanceUid: entry.seriesInstanceUid,
    frame: null,
    canvas: null,
    lossy: false,
    losslessWanted: false,
  };
  let decoder: Decoder | undefined;
  try {
    const base = seriesBase(config.dicomwebRoot, config.studyInstanceUid, entry.seriesInstanceUid);
    const instance = previewInstance(await seriesMetadataAhead(base));
    const sop = instance === undefined ? undefined : first(instance, SOP_INSTANCE_UID);
    if (instance === undefined || typeof sop !== "string") {
      throw new Error("no instance");
    }
    const job = jobFor(instance);
    if (typeof job === "string") {
      throw new Error(job);
    }
    const stored = String(first(instance, TAG.transferSyntax) ?? "");
    // A JPEG 2000 frame is coming: the worker loads its decoder meanwhile, not after it.
    const frameBytes = (job.rows * job.columns * job.bitsAllocated) / 8;
    if (J2K_SYNTAXES.has(stored) || frameBytes > LOSSY_COPY_ABOVE_BYTES) {
      decoder = decoderStart();
      decoder.worker.postMessage({ warm: true } satisfies WarmUp);
    }
    const imageId = frameImageId(base, sop, 1);
    const response = await fetch(imageId.slice("wadors:".length), {
      credentials: "same-origin",
      headers: { Accept: framesAccept(FRAMES_ACCEPT, imageId) },
    });
    if (!response.ok) {
      throw new Error(`frame: HTTP ${response.status}`);
    }
    const part = singlePart(
      new Uint8Array(await response.arrayBuffer()),
      response.headers.get("Content-Type") ?? "",
    );
    state.frame = { imageId, bytes: part.bytes, transferSyntax: part.syntax };
    const lossy = part.syntax === JPEG2000_LOSSY && stored !== JPEG2000_LOSSY;
    decoder ??= decoderStart();
    const result = await decodeInWorker(decoder, {
      ...job,
      bytes: part.bytes.slice().buffer,
      transferSyntax: part.syntax,
    });
    if (!result.ok) {
      if (result.undecodable) {
        // Bytes that did not decode here are not handed to Cornerstone: it fetches its own.
        state.frame = null;
      }
      throw new Error(result.reason);
    }
    const canvas = document.createElement("canvas");
    canvas.className = "viewer-first";
    canvas.width = job.columns;
    canvas.height = job.rows;
    const context = canvas.getContext("2d");
    if (context === null) {
      throw new Error("no 2D canvas");
    }
    const pixels = new ImageData(new Uint8ClampedArray(result.rgba), job.columns, job.rows);
    context.putImageData(pixels, 0, 0);
    canvas.dataset["windowCenter"] = String(result.center);
    canvas.dataset["windowWidth"] = String(result.width);
    show(root, config, canvas, lossy, state);
    state.canvas = canvas;
    state.lossy = lossy;
    root.dataset["first"] = "drawn";
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    root.dataset["first"] = `left to Cornerstone: ${reason}`;
  } finally {
    decoder?.worker.terminate();
  }
  return state;
}
