/**
 * The packages under packages/* and what each needs to be built and packed (npm run build,
 * npm run pack:packages). Inside the repository every package runs from its TypeScript sources
 * (`exports` point at src/); a packed package runs from dist/ (ESM JavaScript + declarations),
 * with the `exports` / `imports` of its package.json's `publishConfig` (pnpm's convention, applied
 * by pack.ts). New packages are picked up by their folder; checkPackaging names what one lacks.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The Node versions every package declares (fastify's cookie@2 needs 20.19). */
export const NODE_ENGINES = '>=20.19';
const EXAMPLE = 'packages/redis';

type Exports = Record<string, unknown>;
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  engines?: { node?: string };
  files?: string[];
  exports?: Exports;
  imports?: Exports;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  publishConfig?: { exports?: Exports; imports?: Exports; [key: string]: unknown };
  [key: string]: unknown;
}

export interface WorkspacePackage {
  /** Folder relative to the repository root, e.g. packages/redis. */
  dir: string;
  manifest: Manifest;
}

/** `only`: package folder names (e.g. ['millrace', 'redis']) to keep; all when undefined. */
export function workspacePackages(only?: readonly string[]): WorkspacePackage[] {
  return readdirSync(path.join(ROOT, 'packages'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(ROOT, 'packages', d.name, 'package.json')))
    .map((d) => {
      const dir = `packages/${d.name}`;
      return {
        dir,
        manifest: JSON.parse(readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as Manifest,
      };
    })
    .filter((p) => p.manifest.private !== true && (only === undefined || only.includes(path.basename(p.dir))))
    .sort((a, b) => a.dir.localeCompare(b.dir));
}

export const buildConfig = (p: WorkspacePackage) => `${p.dir}/tsconfig.build.json`;

/** Workspace packages this one needs at run time (so its build references theirs). */
function workspaceDependencies(p: WorkspacePackage, all: WorkspacePackage[]): WorkspacePackage[] {
  const names = new Set(
    Object.keys({
      ...p.manifest.dependencies,
      ...p.manifest.optionalDependencies,
      ...p.manifest.peerDependencies,
    }),
  );
  return all.filter((q) => names.has(q.manifest.name));
}

/** Every string leaf of an exports / imports map (the file paths). */
function targets(map: unknown): string[] {
  if (typeof map === 'string') return [map];
  if (map === null || typeof map !== 'object') return [];
  return Object.values(map).flatMap(targets);
}

/** What each package lacks to be built and packed; empty when all is in place. */
export function checkPackaging(all: WorkspacePackage[]): string[] {
  const problems: string[] = [];
  for (const p of all) {
    const m = p.manifest;
    const add = (what: string) => problems.push(`${p.dir}: ${what}`);
    const configFile = path.join(ROOT, buildConfig(p));
    if (!existsSync(configFile)) {
      add(
        `no tsconfig.build.json: add one with {"extends": "../../tsconfig.build-base.json", "references": [...]}` +
          ` referencing the tsconfig.build.json of each workspace package it depends on`,
      );
    } else {
      const read = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
      const refs = new Set(
        ((read.config as { references?: { path: string }[] } | undefined)?.references ?? []).map((r) =>
          path.resolve(path.dirname(configFile), r.path),
        ),
      );
      for (const dep of workspaceDependencies(p, all)) {
        if (!refs.has(path.join(ROOT, buildConfig(dep)))) {
          add(
            `tsconfig.build.json must reference ${dep.manifest.name}'s build: add {"path": "../${path.basename(dep.dir)}/tsconfig.build.json"} to "references"`,
          );
        }
      }
    }
    if (!existsSync(path.join(ROOT, p.dir, 'README.md'))) add('no README.md: every packed package ships one');
    if (m.engines?.node !== NODE_ENGINES) add(`"engines": {"node": "${NODE_ENGINES}"} in package.json`);
    if (!m.files?.includes('dist'))
      add(`"files": ["dist", "README.md", "LICENSE"] in package.json (what npm packs)`);
    if (m.scripts?.prepack === undefined) {
      add(`"scripts": {"prepack": ...} refusing a direct npm pack (copy it from ${EXAMPLE}/package.json)`);
    }
    const published = m.publishConfig?.exports;
    if (published === undefined) {
      add(
        `no "publishConfig": {"exports": {".": {"types": "./dist/index.d.ts", "import": "./dist/index.js"}}} in package.json` +
          ' (the exports of the packed package, one entry per entry of "exports")',
      );
      continue;
    }
    const devKeys = Object.keys(m.exports ?? {}).sort();
    const pubKeys = Object.keys(published).sort();
    if (devKeys.join() !== pubKeys.join()) {
      add(
        `publishConfig.exports must have the same entries as exports (${devKeys.join(', ')}), has ${pubKeys.join(', ')}`,
      );
    }
    for (const [key, entry] of Object.entries(published)) {
      const e = entry as { types?: unknown; import?: unknown };
      if (typeof e.types !== 'string' || typeof e.import !== 'string') {
        add(`publishConfig.exports["${key}"] needs "types" (a .d.ts) and "import" (a .js) under ./dist/`);
      }
    }
    for (const t of [...targets(published), ...targets(m.publishConfig?.imports)]) {
      if (!t.startsWith('./dist/'))
        add(`publishConfig points at ${t}: packed entry points are built files under ./dist/`);
    }
  }
  if (problems.length > 0) problems.push(`(${EXAMPLE} has all of these: copy its files and adapt the paths)`);
  return problems;
}

/** Published entry points missing after a build (a wrong path in publishConfig). */
export function missingBuiltFiles(all: WorkspacePackage[]): string[] {
  return all.flatMap((p) =>
    [...targets(p.manifest.publishConfig?.exports), ...targets(p.manifest.publishConfig?.imports)]
      .filter((t) => !existsSync(path.join(ROOT, p.dir, t)))
      .map(
        (t) =>
          `${p.dir}: publishConfig names ${t}, which the build did not produce (check the path and tsconfig.build.json)`,
      ),
  );
}
