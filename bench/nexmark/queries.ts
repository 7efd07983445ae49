/** Finds a query module by name: bench/nexmark/queries/<name>.ts. */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NexmarkQuery } from './query.ts';

const QUERIES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'queries');

export function queryNames(): string[] {
  return readdirSync(QUERIES_DIR)
    .filter((f) => /^q\d+\.ts$/.test(f))
    .map((f) => f.slice(0, -3))
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
}

export async function loadQuery(name: string): Promise<NexmarkQuery> {
  if (!queryNames().includes(name)) {
    throw new Error(`unknown Nexmark query "${name}"; available: ${queryNames().join(', ')}`);
  }
  const mod = (await import(pathToFileURL(path.join(QUERIES_DIR, `${name}.ts`)).href)) as {
    default: NexmarkQuery;
  };
  return mod.default;
}
