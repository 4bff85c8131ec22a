// How fast the clinic's link is, and which frames to ask for on it. No Cornerstone here: the
// first image module (first.ts) asks for the frame exactly as the viewer does, before
// Cornerstone has arrived.

export const JPEG2000_LOSSY = "1.2.840.10008.1.2.4.91";
const LOSSY_RANGE =
  'multipart/related; type="application/octet-stream"; ' + `transfer-syntax=${JPEG2000_LOSSY}`;
// Frames as the archive stores them (compressed frames are decoded in the browser); the second
// range lets the archive decode what it cannot send as stored (big endian).
export const FRAMES_ACCEPT =
  'multipart/related; type="*/*"; transfer-syntax=*, ' +
  'multipart/related; type="application/octet-stream"; transfer-syntax=*';
// Below this throughput a 4 MB lossless radiograph takes longer than about 4 s.
const SLOW_BYTES_PER_SECOND = 1_000_000;
// Resource Timing needs this much body to say anything: smaller answers arrive in one burst.
const MIN_SAMPLE_BYTES = 16_000;
// A preview (25–60 kB) still on its way after this long came over a slow link.
const PREVIEW_WAIT_MS = 8_000;

let slowLink = false;
// Images the user asked to see lossless: their frames are asked for as stored from then on.
export const losslessAsked = new Set<string>();

/** Whether the link is slow, from the preview image's download, else the browser's estimate. */
function measure(previewUrl: string): boolean {
  const url = new URL(previewUrl, window.location.href).href;
  const entries = performance.getEntriesByName(url, "resource") as PerformanceResourceTiming[];
  const entry = entries[entries.length - 1];
  if (entry !== undefined && entry.encodedBodySize >= MIN_SAMPLE_BYTES) {
    const seconds = (entry.responseEnd - entry.responseStart) / 1000;
    return seconds > 0 && entry.encodedBodySize / seconds < SLOW_BYTES_PER_SECOND;
  }
  const connection = (navigator as { connection?: { downlink?: number } }).connection;
  // downlink is in Mbit/s; Chromium reports 10 and above for anything fast.
  const downlink = connection?.downlink;
  return downlink !== undefined && (downlink * 1e6) / 8 < SLOW_BYTES_PER_SECOND;
}

/** Resolves once the preview has loaded or failed, having judged the link from it, or once
 * it has kept the viewer waiting too long (then the link is slow). */
export function linkJudged(preview: HTMLImageElement, previewUrl: string): Promise<void> {
  return new Promise((resolve) => {
    let waited = 0;
    const done = (): void => {
      window.clearTimeout(waited);
      slowLink = measure(previewUrl);
      resolve();
    };
    if (preview.complete) {
      done();
      return;
    }
    preview.addEventListener("load", done, { once: true });
    preview.addEventListener("error", done, { once: true });
    waited = window.setTimeout(() => {
      slowLink = true;
      resolve();
    }, PREVIEW_WAIT_MS);
  });
}

/** Whether the last judgement found the link slow. */
export function isSlowLink(): boolean {
  return slowLink;
}

/** The frames Accept header for an image: the lossy copy named first on a slow link (unless
 * the user asked for this image lossless), then `asStored`. */
export function framesAccept(asStored: string, imageId: string): string {
  return slowLink && !losslessAsked.has(imageId) ? `${LOSSY_RANGE}, ${asStored}` : asStored;
}
