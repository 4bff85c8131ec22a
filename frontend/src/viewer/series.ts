// A series as Cornerstone stacks it: WADO-RS metadata from the archive, one wadors: image id
// per frame, and the cine rate of multi-frame objects.

import dicomImageLoader from "@cornerstonejs/dicom-image-loader";

import {
  first,
  frameImageId,
  NUMBER_OF_FRAMES,
  numberOf,
  seriesBase,
  seriesMetadata,
  SOP_INSTANCE_UID,
  type DicomJsonInstance,
} from "./metadata";

export type { DicomJsonInstance };

const CINE_RATE = "00180040";
const FRAME_TIME = "00181063";
const RECOMMENDED_DISPLAY_FRAME_RATE = "00082144";
const PIXEL_SPACING = "00280030";
const IMAGER_PIXEL_SPACING = "00181164";
const DEFAULT_FRAMES_PER_SECOND = 15;

export interface LoadedSeries {
  seriesInstanceUid: string;
  imageIds: string[];
  /** Index in imageIds of the first frame of each instance, in viewing order. */
  instanceStarts: number[];
  /** Frames per second for cine, when the series is one or more multi-frame objects. */
  framesPerSecond: number;
  multiFrame: boolean;
}

function framesPerSecondOf(instance: DicomJsonInstance): number {
  const cineRate = numberOf(instance, CINE_RATE);
  if (cineRate !== null) {
    return cineRate;
  }
  const frameTime = numberOf(instance, FRAME_TIME);
  if (frameTime !== null) {
    return 1000 / frameTime;
  }
  return numberOf(instance, RECOMMENDED_DISPLAY_FRAME_RATE) ?? DEFAULT_FRAMES_PER_SECOND;
}

/** The instance without spacing that cannot be true: a radiograph stored with PixelSpacing
 * 0\0 (pydicom's RG1 files, some CR plates) would make Cornerstone divide by zero and draw
 * nothing. Without it the image is drawn in pixels, and measured in px (Cornerstone's
 * `hasPixelSpacing` is then false, which the viewer shows as "uncalibrated"). */
export function withUsableSpacing(instance: DicomJsonInstance): DicomJsonInstance {
  const usable = (tag: string): boolean => {
    const values = instance[tag]?.Value;
    return (
      values === undefined ||
      (values.length === 2 && values.every((v) => Number.isFinite(Number(v)) && Number(v) > 0))
    );
  };
  if (usable(PIXEL_SPACING) && usable(IMAGER_PIXEL_SPACING)) {
    return instance;
  }
  const cleaned = { ...instance };
  for (const tag of [PIXEL_SPACING, IMAGER_PIXEL_SPACING]) {
    if (!usable(tag)) {
      delete cleaned[tag];
    }
  }
  return cleaned;
}

/** Fetch a series' metadata and register every frame with the image loader. */
export async function seriesLoad(
  dicomwebRoot: string,
  studyInstanceUid: string,
  seriesInstanceUid: string,
): Promise<LoadedSeries> {
  const base = seriesBase(dicomwebRoot, studyInstanceUid, seriesInstanceUid);
  const instances = await seriesMetadata(base);
  const imageIds: string[] = [];
  const instanceStarts: number[] = [];
  let framesPerSecond = DEFAULT_FRAMES_PER_SECOND;
  let multiFrame = false;
  for (const stored of instances) {
    const instance = withUsableSpacing(stored);
    const sop = first(instance, SOP_INSTANCE_UID);
    const frames = numberOf(instance, NUMBER_OF_FRAMES) ?? 1;
    if (typeof sop !== "string") {
      continue;
    }
    if (frames > 1 && !multiFrame) {
      multiFrame = true;
      framesPerSecond = framesPerSecondOf(instance);
    }
    instanceStarts.push(imageIds.length);
    for (let frame = 1; frame <= frames; frame += 1) {
      const imageId = frameImageId(base, sop, frame);
      dicomImageLoader.wadors.metaDataManager.add(imageId, instance as never);
      imageIds.push(imageId);
    }
  }
  return { seriesInstanceUid, imageIds, instanceStarts, framesPerSecond, multiFrame };
}

/** The frame the archive renders the series' preview from: the middle instance's first. */
export function previewIndex(series: LoadedSeries): number {
  const starts = series.instanceStarts;
  return starts[Math.floor(starts.length / 2)] ?? 0;
}
