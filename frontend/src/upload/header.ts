// Reads a file's DICOM header in the browser, before anything is sent: only the first bytes,
// up to the pixel data, so a folder of hundreds of images is checked in seconds.
import { parseDicom, type DataSet } from "dicom-parser";

// Enough for the header of nearly every image; a longer header is read from the whole file.
const HEADER_BYTES = 128 * 1024;
const PIXEL_DATA = "x7fe00010";
const DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10";

export interface ImageHeader {
  kind: "image";
  patientName: string;
  patientId: string;
  patientSex: string;
  patientBirthDate: string;
  studyUid: string;
  studyDate: string;
  studyDescription: string;
  seriesUid: string;
  seriesNumber: string;
  seriesDescription: string;
  modality: string;
}

export type Header = ImageHeader | { kind: "dicomdir" | "not-dicom" | "unreadable" };

// PS3.3 C.12.1.1.2 defined terms to the names TextDecoder knows; others read as Latin-1.
const CHARSETS: Record<string, string> = {
  "ISO_IR 192": "utf-8",
  GB18030: "gb18030",
  GBK: "gbk",
  "ISO_IR 100": "windows-1252",
};

function decoderFor(dataSet: DataSet): TextDecoder {
  const declared = (dataSet.string("x00080005") ?? "").split("\\");
  const label = CHARSETS[declared[declared.length - 1]?.trim() ?? ""] ?? "windows-1252";
  return new TextDecoder(label);
}

function text(dataSet: DataSet, decoder: TextDecoder, tag: string): string {
  const element = dataSet.elements[tag];
  if (element === undefined || element.length === 0) {
    return "";
  }
  const bytes = dataSet.byteArray.slice(element.dataOffset, element.dataOffset + element.length);
  return decoder.decode(bytes).replace(/[\0 ]+$/, "").trim();
}

function isPart10(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 132 &&
    bytes[128] === 0x44 && // D
    bytes[129] === 0x49 && // I
    bytes[130] === 0x43 && // C
    bytes[131] === 0x4d // M
  );
}

async function parse(file: File, length: number): Promise<DataSet> {
  const bytes = new Uint8Array(await file.slice(0, length).arrayBuffer());
  return parseDicom(bytes, { untilTag: PIXEL_DATA });
}

export async function readHeader(file: File): Promise<Header> {
  const start = new Uint8Array(await file.slice(0, 132).arrayBuffer());
  if (!isPart10(start)) {
    return { kind: "not-dicom" };
  }
  let dataSet: DataSet;
  try {
    dataSet = await parse(file, Math.min(file.size, HEADER_BYTES));
  } catch {
    if (file.size <= HEADER_BYTES) {
      return { kind: "unreadable" };
    }
    try {
      dataSet = await parse(file, file.size);
    } catch {
      return { kind: "unreadable" };
    }
  }
  const decoder = decoderFor(dataSet);
  const read = (tag: string): string => text(dataSet, decoder, tag);
  if (read("x00020002") === DICOMDIR_SOP_CLASS) {
    return { kind: "dicomdir" };
  }
  const studyUid = read("x0020000d");
  const seriesUid = read("x0020000e");
  if (studyUid === "" || seriesUid === "" || read("x00080018") === "") {
    return { kind: "unreadable" };
  }
  return {
    kind: "image",
    patientName: read("x00100010").replaceAll("^", " ").trim(),
    patientId: read("x00100020"),
    patientSex: read("x00100040"),
    patientBirthDate: read("x00100030"),
    studyUid,
    studyDate: read("x00080020"),
    studyDescription: read("x00081030"),
    seriesUid,
    seriesNumber: read("x00200011"),
    seriesDescription: read("x0008103e"),
    modality: read("x00080060"),
  };
}

export async function sha256Hex(file: File): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
