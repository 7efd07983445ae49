export { ingestPlugin, type IngestOptions } from './ingestPlugin.ts';
export { startIngestServer, type IngestServer, type IngestServerOptions } from './server.ts';
