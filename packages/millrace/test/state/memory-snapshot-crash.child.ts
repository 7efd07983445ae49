/**
 * Commits versions of the memory store without end, a small step of an incremental snapshot per
 * commit, until the parent (memory-snapshot-crash.slow.test.ts) SIGKILLs it. Each run continues
 * from the newest delta on disk. Version v's changes are a function of v alone (changesOf).
 * args: <stateDir>
 */
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { memoryStateStore } from '../../src/state/index.ts';
import { CRASH_STORE_OPTIONS, changesOf } from './memory-snapshot-crash.model.ts';

const stateDir = process.argv[2]!;
const dir = path.join(stateDir, 'op', '0');
const names = await readdir(dir).catch(() => [] as string[]);
let version = 0;
for (const n of names) {
  const m = /^(\d+)\.delta$/.exec(n);
  if (m !== null) version = Math.max(version, Number(m[1]));
}
const provider = memoryStateStore(CRASH_STORE_OPTIONS);
process.stdout.write(`START ${version}\n`);
for (;;) {
  const store = await provider.open({ stateDir, operatorId: 'op', partition: 0, version });
  for (const [k, v] of changesOf(version + 1)) {
    if (v === undefined) store.delete(k);
    else store.put(k, v);
  }
  version = await store.commit();
}
