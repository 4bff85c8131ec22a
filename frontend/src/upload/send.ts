// Sends one DICOM file with the tus resumable-upload protocol (tus-js-client), in pieces small
// enough for a 150–300 kbit/s township link, and resumes after an outage or a closed tab.
import { Upload, type DetailedError } from "tus-js-client";

import { csrfToken, errorBodyWords, request } from "../lib/http";

// About 7 seconds a piece at 300 kbit/s: little is sent again after a drop.
const CHUNK_BYTES = 256 * 1024;
// Retries cover a 60 s outage and more (about 3.5 minutes in all); after that the page waits
// for the browser to come back online, or tries again every RESTART_MS.
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 15000, 20000, 30000, 30000, 30000, 60000];
const RESTART_MS = 30000;

export interface UploadResult {
  state: "stored" | "already_stored" | "refused" | "receiving";
  message: string;
  study_instance_uid: string;
}

export interface SendCallbacks {
  onProgress(bytesSent: number): void;
  onWaiting(): void;
}

export class SendFailed extends Error {}

/** The archive's words for a refused piece ({"detail": …}); "" rather than a raw page. */
function responseDetail(error: Error): string {
  const response = (error as DetailedError).originalResponse ?? null;
  return response === null ? "" : errorBodyWords(response.getBody());
}

function isTransient(error: Error): boolean {
  const status = (error as DetailedError).originalResponse?.getStatus() ?? 0;
  return status === 0 || status >= 500 || status === 409 || status === 423;
}

async function result(url: string): Promise<UploadResult> {
  const response = await request(url);
  if (!response.ok) {
    throw new SendFailed(String(response.status));
  }
  return (await response.json()) as UploadResult;
}

/** Send the file; resolve with what the archive did with it. Rejects with SendFailed. */
export function sendFile(
  file: File,
  sha256: string,
  endpoint: string,
  callbacks: SendCallbacks,
): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const upload = new Upload(file, {
      endpoint,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS_MS,
      metadata: { filename: file.name, sha256 },
      headers: { "X-CSRFToken": csrfToken() },
      // The content decides: the same image chosen again, from any folder, resumes.
      fingerprint: () => Promise.resolve(`yunzhen-dicom-${sha256}-${endpoint}`),
      // Finished uploads stay findable too: a reopened tab skips files already sent (the
      // server answers their offset as complete) until the server forgets them.
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: false,
      // Retry while offline too: the default gives up when the browser says it is offline.
      onShouldRetry: (error) => isTransient(error),
      onProgress: (bytesSent) => callbacks.onProgress(bytesSent),
      onSuccess: () => {
        if (upload.url === null) {
          reject(new SendFailed(""));
          return;
        }
        result(upload.url).then(resolve, (error: unknown) => reject(error));
      },
      onError: (error) => {
        if (!isTransient(error)) {
          reject(new SendFailed(responseDetail(error)));
          return;
        }
        callbacks.onWaiting();
        const restart = (): void => {
          window.removeEventListener("online", restart);
          window.clearTimeout(timer);
          upload.start();
        };
        const timer = window.setTimeout(restart, RESTART_MS);
        window.addEventListener("online", restart);
      },
    });
    void upload.findPreviousUploads().then((previous) => {
      const last = previous[0];
      if (last !== undefined) {
        upload.resumeFromPreviousUpload(last);
      }
      upload.start();
    });
  });
}
