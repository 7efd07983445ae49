/** Constants shared by the CLI and the server, in a module that imports nothing heavy (fast --help). */
import { readFileSync } from 'node:fs';

export const SERVER_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 4040;
export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
