// The first image's decoder, off the page's thread: a JPEG 2000 or native little-endian frame
// to modality values (rescale), then through the series' window to grey levels, with the same
// rules as the viewer: the stored window, else the image's own range; a stored window that
// leaves every pixel one grey gives way to the image's range. Anything it cannot do well it
// refuses with a reason, and the page falls back to Cornerstone.

import openJpegFactory, { type OpenJpegModule } from "@cornerstonejs/codec-openjpeg/decodewasmjs";
import openJpegWasm from "@cornerstonejs/codec-openjpeg/decodewasm?url";

import type { DecodeJob, DecodeResult, WarmUp } from "./firstTypes";

const J2K = new Set(["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"]);
const NATIVE_LITTLE_ENDIAN = new Set(["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]);
// Grey levels a drawn image must span not to count as blank (viewer.ts BLANK_SPREAD).
const BLANK_SPREAD = 2;

let codec: Promise<OpenJpegModule> | null = null;

/** A frame of a kind this decoder leaves to Cornerstone (its bytes may be fine). */
class NotHandled extends Error {}

type Samples = Uint8Array | Int8Array | Uint16Array | Int16Array;

function typed(bytes: Uint8Array, bits: number, signed: boolean, count: number): Samples {
  if (bits <= 8) {
    const copy = bytes.slice(0, count);
    return signed ? new Int8Array(copy.buffer) : copy;
  }
  // A copy: aligned, and independent of the decoder's memory.
  const copy = bytes.slice(0, count * 2).buffer;
  return signed ? new Int16Array(copy) : new Uint16Array(copy);
}

function codecLoad(): Promise<OpenJpegModule> {
  codec ??= openJpegFactory({
    locateFile: (file) => (file.endsWith(".wasm") ? openJpegWasm : file),
  });
  return codec;
}

async function samples(job: DecodeJob): Promise<Samples> {
  const count = job.rows * job.columns;
  if (NATIVE_LITTLE_ENDIAN.has(job.transferSyntax)) {
    if (job.bitsAllocated !== 8 && job.bitsAllocated !== 16) {
      throw new NotHandled(`native ${job.bitsAllocated}-bit frames are not handled`);
    }
    const bytes = new Uint8Array(job.bytes);
    if (bytes.length < (count * job.bitsAllocated) / 8) {
      throw new Error("the frame is shorter than its rows and columns");
    }
    return typed(bytes, job.bitsAllocated, job.signed, count);
  }
  if (!J2K.has(job.transferSyntax)) {
    throw new NotHandled(`transfer syntax ${job.transferSyntax} is not handled`);
  }
  const decoder = new (await codecLoad()).J2KDecoder();
  try {
    const encoded = new Uint8Array(job.bytes);
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.width !== job.columns || info.height !== job.rows || info.componentCount !== 1) {
      throw new Error(
        `decoded ${info.width}×${info.height}×${info.componentCount}, ` +
          `expected ${job.columns}×${job.rows}×1`,
      );
    }
    return typed(decoder.getDecodedBuffer(), info.bitsPerSample, info.isSigned, count);
  } finally {
    decoder.delete();
  }
}

async function decode(job: DecodeJob): Promise<DecodeResult> {
  const raw = await samples(job);
  const count = job.rows * job.columns;
  const values = new Float32Array(count);
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < count; i += 1) {
    const value = (raw[i] ?? 0) * job.slope + job.intercept;
    values[i] = value;
    if (value < low) low = value;
    if (value > high) high = value;
  }
  if (!(Number.isFinite(low) && Number.isFinite(high) && high > low)) {
    return {
      ok: false,
      reason: "the frame has no contrast or no finite values",
      undecodable: false,
    };
  }
  let lower = low;
  let upper = high;
  let ownRange = true;
  if (job.window !== null) {
    const { center, width } = job.window;
    if (!(Number.isFinite(center) && Number.isFinite(width) && width > 0)) {
      return {
        ok: false,
        reason: `the stored window is not usable (W ${width} L ${center})`,
        undecodable: false,
      };
    }
    lower = center - width / 2;
    upper = center + width / 2;
    ownRange = false;
    // A window that misses every pixel value leaves one flat grey: the image's own range.
    if (high <= lower || low >= upper) {
      lower = low;
      upper = high;
      ownRange = true;
    }
  }
  const rgba = new Uint8ClampedArray(count * 4);
  const scale = 255 / (upper - lower);
  let darkest = 255;
  let brightest = 0;
  for (let i = 0, o = 0; i < count; i += 1, o += 4) {
    let grey = Math.round(((values[i] ?? 0) - lower) * scale);
    grey = grey < 0 ? 0 : grey > 255 ? 255 : grey;
    if (job.invert) grey = 255 - grey;
    if (grey < darkest) darkest = grey;
    if (grey > brightest) brightest = grey;
    rgba[o] = grey;
    rgba[o + 1] = grey;
    rgba[o + 2] = grey;
    rgba[o + 3] = 255;
  }
  if (brightest - darkest < BLANK_SPREAD) {
    return {
      ok: false,
      reason: "the frame came out blank although its pixels vary",
      undecodable: false,
    };
  }
  return {
    ok: true,
    rgba: rgba.buffer,
    center: (lower + upper) / 2,
    width: upper - lower,
    ownRange,
  };
}

self.addEventListener("message", (event: MessageEvent<DecodeJob | WarmUp>) => {
  const job = event.data;
  if ("warm" in job) {
    // A failure to load shows when the frame is decoded.
    codecLoad().catch(() => undefined);
    return;
  }
  decode(job).then(
    (result) => {
      const transfer = result.ok ? [result.rgba] : [];
      self.postMessage(result, { transfer });
    },
    (error: unknown) => {
      const failure: DecodeResult = {
        ok: false,
        reason: error instanceof Error ? error.message : String(error),
        undecodable: !(error instanceof NotHandled),
      };
      self.postMessage(failure);
    },
  );
});
