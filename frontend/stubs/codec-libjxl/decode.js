// Yunzhen's stand-in for @cornerstonejs/codec-libjxl, the JPEG XL decoder that Cornerstone's
// image loader depends on (about 1 MB of WASM, and a package that requires Node 24 to install).
//
// The viewer never receives JPEG XL: the archive sends a frame as stored only in the syntaxes of
// imaging/render.py FRAME_MEDIA_TYPES (JPEG, JPEG-LS, JPEG 2000, HTJ2K, RLE) and otherwise
// decodes it on the server, which pydicom cannot do for JPEG XL, so such frames are refused
// (406) before they reach the browser. If the archive ever serves JPEG XL, drop the npm
// override in package.json and this directory.
export default function jpegXlDecoderUnavailable() {
  return Promise.reject(
    new Error("JPEG XL frames are not decoded in this viewer (the archive does not send them)."),
  );
}
