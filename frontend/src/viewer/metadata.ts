// A series' WADO-RS metadata, fetched once per page: the first image module (first.ts) and the
// viewer (series.ts) share the answer. No Cornerstone here.

type DicomJsonElement = { vr?: string; Value?: unknown[] };
export type DicomJsonInstance = Record<string, DicomJsonElement>;

export const SOP_INSTANCE_UID = "00080018";
export const INSTANCE_NUMBER = "00200013";
export const NUMBER_OF_FRAMES = "00280008";

const fetched = new Map<string, Promise<DicomJsonInstance[]>>();

export function first(instance: DicomJsonInstance, tag: string): unknown {
  return instance[tag]?.Value?.[0];
}

export function numberOf(instance: DicomJsonInstance, tag: string): number | null {
  const value = Number(first(instance, tag));
  return Number.isFinite(value) && value > 0 ? value : null;
}

/** The series' URL on this origin, as the viewer's image ids name it. */
export function seriesBase(dicomwebRoot: string, study: string, series: string): string {
  return `${window.location.origin}${dicomwebRoot}/studies/${study}/series/${series}`;
}

/** The wadors: image id of one frame (1-based), as the viewer registers it. */
export function frameImageId(base: string, sopInstanceUid: string, frame: number): string {
  return `wadors:${base}/instances/${sopInstanceUid}/frames/${frame}`;
}

// fetch() itself, not lib/http.ts: this module is part of the viewer's entry (first.ts).
function metadataFetch(base: string): Promise<DicomJsonInstance[]> {
  return fetch(`${base}/metadata`, {
    credentials: "same-origin",
    headers: { Accept: "application/dicom+json" },
  }).then(async (response) => {
    if (!response.ok) {
      throw new Error(`Series metadata: HTTP ${response.status}`);
    }
    return ((await response.json()) as DicomJsonInstance[]).sort(
      (a, b) => (numberOf(a, INSTANCE_NUMBER) ?? 0) - (numberOf(b, INSTANCE_NUMBER) ?? 0),
    );
  });
}

/** The series' instances in viewing order (by instance number), fetched ahead for the viewer:
 * its next `seriesMetadata` call takes this answer instead of asking again. */
export function seriesMetadataAhead(base: string): Promise<DicomJsonInstance[]> {
  let answer = fetched.get(base);
  if (answer === undefined) {
    answer = metadataFetch(base);
    fetched.set(base, answer);
  }
  return answer;
}

/** The series' instances in viewing order: the answer fetched ahead if there is one (once,
 * and only if it succeeded), else asked now. */
export function seriesMetadata(base: string): Promise<DicomJsonInstance[]> {
  const ahead = fetched.get(base);
  fetched.delete(base);
  // A failed answer fetched ahead is asked for again.
  return ahead === undefined ? metadataFetch(base) : ahead.catch(() => metadataFetch(base));
}

/** The instance whose first frame the preview shows: the middle one (series.ts previewIndex). */
export function previewInstance(instances: DicomJsonInstance[]): DicomJsonInstance | undefined {
  const usable = instances.filter((i) => typeof first(i, SOP_INSTANCE_UID) === "string");
  return usable[Math.floor(usable.length / 2)];
}
