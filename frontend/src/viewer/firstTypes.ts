// Messages between the first image module (first.ts) and its decoding worker.

/** Sent first when the frame will likely be JPEG 2000: the worker loads its WASM decoder
 * while the frame is still on its way. */
export interface WarmUp {
  warm: true;
}

export interface DecodeJob {
  bytes: ArrayBuffer;
  transferSyntax: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  signed: boolean;
  slope: number;
  intercept: number;
  /** The series' stored window (first value), in modality units; null when it has none. */
  window: { center: number; width: number } | null;
  /** MONOCHROME1: high values are dark. */
  invert: boolean;
}

export type DecodeResult =
  | {
      ok: true;
      /** width × height RGBA grey levels. */
      rgba: ArrayBuffer;
      /** The window used, in modality units. */
      center: number;
      width: number;
      /** Whether the image's own range was used (no stored window, or it missed every pixel). */
      ownRange: boolean;
    }
  | {
      ok: false;
      reason: string;
      /** The bytes did not decode (or not to the image's size): Cornerstone must not be given
       * them, and fetches the frame itself. False when they were only of a kind not handled
       * here, or drew badly. */
      undecodable: boolean;
    };
