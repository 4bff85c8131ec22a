// Frames on a slow link: a township clinic on 300 kbit/s would wait minutes for a chest
// radiograph's lossless frame (4–7 MB). There the viewer asks first for the archive's lossy
// copy (JPEG 2000 irreversible at the ratio the consortium approved, full resolution and bit
// depth): the archive sends it only for large single-frame images and everything else as
// stored (link.ts judges the link and writes the Accept header). What was drawn is read back
// from the image, so the badge can say it is lossy.

import { cache, metaData } from "@cornerstonejs/core";

import { JPEG2000_LOSSY, losslessAsked } from "./link";

export { framesAccept, JPEG2000_LOSSY, linkJudged } from "./link";

// The image loader reads a frame's bytes from this metadata module before it asks the network.
const COMPRESSED_FRAME_DATA = "compressedFrameData";
// Above the image loader's own metadata providers.
const OFFER_PRIORITY = 10_000;

/** Drop the lossy copy loaded under this id, so that loading it again fetches it as stored. */
export function losslessRequest(imageId: string): void {
  losslessAsked.add(imageId);
  cache.removeImageLoadObject(imageId, { force: true });
}

/** Hands the image loader a frame's bytes that the page already received (the first image,
 * fetched before Cornerstone arrived), so it decodes them rather than downloading them again.
 * Offered until withdrawn, and never for an image the user asked to see lossless. If they do
 * not decode, the loader fetches the frame itself. Returns the withdrawal. */
export function frameBytesOffer(
  imageId: string,
  pixelData: Uint8Array,
  transferSyntaxUid: string,
): () => void {
  const provider = (type: string, query: unknown): unknown =>
    type === COMPRESSED_FRAME_DATA && query === imageId && !losslessAsked.has(imageId)
      ? { pixelData, transferSyntaxUid }
      : undefined;
  metaData.addProvider(provider as never, OFFER_PRIORITY);
  return () => metaData.removeProvider(provider as never);
}

/** Whether the image loaded under this id is the archive's lossy copy (an image stored as
 * JPEG 2000 irreversible by its modality is the original, drawn as stored). */
export function isLossyCopy(imageId: string): boolean {
  const image = cache.getImage(imageId) as { transferSyntaxUID?: string } | undefined;
  const stored = metaData.get("transferSyntax", imageId) as
    | { transferSyntaxUID?: string }
    | undefined;
  return (
    image?.transferSyntaxUID === JPEG2000_LOSSY && stored?.transferSyntaxUID !== JPEG2000_LOSSY
  );
}
