// The parts of @cornerstonejs/codec-openjpeg's decoder (an Emscripten module, shipped without
// types) that the first image's worker uses.
declare module "@cornerstonejs/codec-openjpeg/decodewasmjs" {
  export interface J2KFrameInfo {
    width: number;
    height: number;
    bitsPerSample: number;
    componentCount: number;
    isSigned: boolean;
  }
  export interface J2KDecoder {
    getEncodedBuffer(length: number): Uint8Array;
    getDecodedBuffer(): Uint8Array;
    decode(): void;
    getFrameInfo(): J2KFrameInfo;
    delete(): void;
  }
  export interface OpenJpegModule {
    J2KDecoder: new () => J2KDecoder;
  }
  const factory: (options: { locateFile: (file: string) => string }) => Promise<OpenJpegModule>;
  export default factory;
}
