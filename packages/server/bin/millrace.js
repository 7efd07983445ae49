#!/usr/bin/env node
// The `millrace` command. Plain JS so it runs when installed as a bin: it registers
// tsx's ESM loader (pipelines and Millrace itself are TypeScript, run without a build
// step), then runs the CLI. See src/cli/main.ts and README.md.
/* global process, setTimeout */
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Whatever a pipeline left running (sockets, timers) must not keep a finished run alive.
setTimeout(() => process.exit(code), 2_000).unref();
