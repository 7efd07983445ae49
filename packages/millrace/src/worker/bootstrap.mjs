// A worker thread starts here. Inside this repository the engine runs from its TypeScript sources,
// and a query's module may be TypeScript anywhere (a pipeline file), so tsx's loader is registered
// first when tsx is installed (as the `millrace` command does). An installed build of the engine is
// JavaScript (the build rewrites the import below to workerMain.js) and needs no tsx of its own.
const tsx = await import('tsx/esm/api').catch(() => undefined);
tsx?.register();
await import('./workerMain.ts');
