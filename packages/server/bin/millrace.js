#!/usr/bin/env node
// The `millrace` command. Plain JS so it runs when installed as a bin: it registers
// tsx's ESM loader (pipeline files are TypeScript, loaded without a build step), then runs
// the CLI. `#cli` (package.json "imports") is src/cli/main.ts inside this repository, where
// Millrace itself runs from its sources, and the built dist/cli/main.js in a packed package.
// See src/cli/main.ts and README.md.
/* global process, setTimeout */
import { register } from 'tsx/esm/api';

register();
const { main } = await import('#cli');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Whatever a pipeline left running (sockets, timers) must not keep a finished run alive.
setTimeout(() => process.exit(code), 2_000).unref();
