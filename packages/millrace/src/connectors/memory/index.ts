export * from './MemoryStream.ts';
export * from './MemorySink.ts';
