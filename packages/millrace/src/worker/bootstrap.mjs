// A worker thread starts here. The engine and the query's module are TypeScript run without a
// build step, so tsx's loader is registered first (as the `millrace` command does), then the
// worker itself runs (workerMain.ts).
import { register } from 'tsx/esm/api';

register();
await import('./workerMain.ts');
