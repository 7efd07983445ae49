/**
 * Packages that install: every package under packages/* is built and packed as it would be
 * published (npm run pack:packages), the tarballs are installed into a scratch project outside the
 * repository, and that project uses them as a user's would — a plain Node.js program (no loader),
 * a strict `tsc` build against the declaration files, and the installed `millrace` command running
 * a TypeScript pipeline file on worker threads.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Trigger, createSession, memorySink, nexmarkSource } from 'millrace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PackedPackage, packPackages } from '../scripts/packaging/pack.ts';
import { ROOT } from '../scripts/packaging/workspace.ts';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixture');
const scratch = mkdtempSync(path.join(tmpdir(), 'millrace-consumer-'));
let packed: PackedPackage[] = [];

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, {
    cwd: scratch,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 240_000,
  });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

beforeAll(() => {
  packed = packPackages(path.join(scratch, 'tarballs'), { quiet: true });
  cpSync(FIXTURE, scratch, { recursive: true });
  const rootManifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  writeFileSync(
    path.join(scratch, 'package.json'),
    JSON.stringify({
      name: 'millrace-consumer',
      private: true,
      type: 'module',
      dependencies: Object.fromEntries(packed.map((p) => [p.name, `file:${p.tarball}`])),
      devDependencies: { '@types/node': rootManifest.devDependencies['@types/node'] },
    }),
  );
  // From npm's cache (the repository's own install filled it). No install scripts: the optional
  // Kafka client would compile its native binding for minutes, and nothing here connects to Kafka.
  run('npm', [
    'install',
    '--prefer-offline',
    '--ignore-scripts',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
  ]);
}, 600_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('packed packages', () => {
  it('hold built JavaScript, declarations, README and LICENSE, and no sources or tests', () => {
    expect(packed.length).toBeGreaterThanOrEqual(10);
    for (const p of packed) {
      expect(p.files, p.name).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE']));
      expect(p.files, p.name).toContain('dist/index.js');
      expect(p.files, p.name).toContain('dist/index.d.ts');
      const misplaced = p.files.filter(
        (f) => f.startsWith('src/') || f.startsWith('test/') || /\.test\.|\.tsbuildinfo$/.test(f),
      );
      expect(misplaced, p.name).toEqual([]);
    }
  });

  it('declare the built entry points and the Node versions', () => {
    for (const p of packed) {
      const manifest = JSON.parse(
        readFileSync(path.join(scratch, 'node_modules', p.name, 'package.json'), 'utf8'),
      ) as { exports: Record<string, { types: string; import: string }>; engines: { node: string } };
      expect(manifest.engines.node, p.name).toBe('>=20.19');
      for (const entry of Object.values(manifest.exports)) {
        expect(entry.types, p.name).toMatch(/^\.\/dist\/.*\.d\.ts$/);
        expect(entry.import, p.name).toMatch(/^\.\/dist\/.*\.js$/);
      }
    }
  });

  it('run in a plain Node.js program', () => {
    const names = packed.map((p) => p.name);
    const out = run('node', ['consumer.mjs', ...names], { CHECKPOINT: path.join(scratch, 'checkpoint') });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
      exportsOf: Record<string, number>;
      counts: Record<string, number>;
    };
    expect(result.counts).toEqual({ a: 2, b: 1 });
    for (const name of names) expect(result.exportsOf[name], name).toBeGreaterThan(0);
  });

  it('type-check in a strict TypeScript build', () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    expect(() => run('node', [tsc, '-p', 'tsconfig.json'])).not.toThrow();
  });

  it('run a TypeScript pipeline file with the installed millrace command, on worker threads', async () => {
    // The same query in this process, on the repository's sources, for the expected count.
    const sink = memorySink();
    const query = await createSession()
      .readStream(nexmarkSource({ kind: 'bid', maxEvents: 20_000 }))
      .where(($) => $.price.gt(1_000))
      .writeStream({
        sink,
        checkpointLocation: path.join(scratch, 'expected'),
        trigger: Trigger.availableNow(),
      })
      .start();
    await query.awaitTermination();
    const expectedBigBids = sink.allRows().length;
    expect(expectedBigBids).toBeGreaterThan(10_000);

    const out = path.join(scratch, 'out');
    run(path.join(scratch, 'node_modules', '.bin', 'millrace'), [
      'run',
      'pipeline.ts',
      '--port',
      '0',
      '--no-state',
      '--log-level',
      'warn',
      '--progress',
      'off',
      '--workers',
      '2',
      '--',
      '--out',
      out,
      '--checkpoint',
      path.join(scratch, 'pipeline-checkpoint'),
    ]);
    const written = readdirSync(out)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(path.join(out, f), 'utf8').trim().split('\n'));
    expect(written.length).toBe(expectedBigBids);
  });
});
