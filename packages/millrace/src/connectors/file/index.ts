/** File connectors: a polled-directory source (JSON lines, CSV) and a manifest-committed sink (JSON lines, CSV, parquet). */
export { fileSource, FileSource, type FileSourceOptions, type FileSourceFormat } from './FileSource.ts';
export type { ParseMode, MalformedRecord } from './parse.ts';
export {
  fileSink,
  FileSink,
  type FileSinkOptions,
  type ManifestEntry,
  type ManifestFile,
} from './FileSink.ts';
export type { SinkFormat as FileSinkFormat } from './formats.ts';
export { readFileSinkOutput, readFileSinkManifest } from './readOutput.ts';
