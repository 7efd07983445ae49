/**
 * npm run pack:packages [-- --out <dir>] [--only millrace,redis]: builds every package (build.ts), then packs each as a
 * user installs it: a copy of the package in a staging folder, its package.json's `exports` and
 * `imports` replaced by those of `publishConfig` (dist/ instead of src/), the repository's LICENSE
 * beside its README, then `npm pack` there. The tarballs go to <out> (default: dist/packages).
 * A plain `npm pack` inside a package is refused by its prepack script: it would ship src/.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { type BuildOptions, PackagingError, buildPackages } from './build.ts';
import { type Manifest, ROOT, type WorkspacePackage, workspacePackages } from './workspace.ts';

export interface PackedPackage {
  name: string;
  /** Absolute path of the .tgz. */
  tarball: string;
  /** Files in the tarball (package-relative paths). */
  files: string[];
}

/** The package.json a user installs. */
export function publishedManifest(m: Manifest): Manifest {
  const { publishConfig, scripts, devDependencies: _dev, ...rest } = m;
  const { exports, imports, ...npmSettings } = publishConfig ?? {};
  const out: Manifest = { ...rest, exports: exports ?? rest.exports };
  if (imports !== undefined) out.imports = imports;
  const { prepack: _prepack, ...otherScripts } = scripts ?? {};
  if (Object.keys(otherScripts).length > 0) out.scripts = otherScripts;
  if (Object.keys(npmSettings).length > 0) out.publishConfig = npmSettings;
  return out;
}

function stage(p: WorkspacePackage, stagingRoot: string): string {
  const from = path.join(ROOT, p.dir);
  const to = path.join(stagingRoot, path.basename(p.dir));
  // npm applies the package's "files" list when packing; node_modules and build state stay behind.
  cpSync(from, to, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|\.millrace)$/.test(src) && !src.endsWith('.tsbuildinfo'),
  });
  if (!existsSync(path.join(to, 'LICENSE')))
    copyFileSync(path.join(ROOT, 'LICENSE'), path.join(to, 'LICENSE'));
  writeFileSync(path.join(to, 'package.json'), JSON.stringify(publishedManifest(p.manifest), null, 2) + '\n');
  return to;
}

export function packPackages(outDir: string, options: BuildOptions = {}): PackedPackage[] {
  buildPackages(options);
  mkdirSync(outDir, { recursive: true });
  const staging = mkdtempSync(path.join(tmpdir(), 'millrace-pack-'));
  try {
    return workspacePackages(options.only).map((p) => {
      const dir = stage(p, staging);
      const json = execFileSync('npm', ['pack', '--json', '--pack-destination', outDir], {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const [result] = JSON.parse(json) as { filename: string; files: { path: string }[] }[];
      if (result === undefined) throw new PackagingError(`npm pack printed no result for ${p.dir}`);
      return {
        name: p.manifest.name,
        tarball: path.join(outDir, result.filename),
        files: result.files.map((f) => f.path),
      };
    });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: path.join(ROOT, 'dist', 'packages') },
      only: { type: 'string' },
    },
  });
  try {
    const only = values.only?.split(',').map((s) => s.trim());
    for (const p of packPackages(path.resolve(values.out), { ...(only && { only }) })) {
      console.log(`${p.name}: ${path.relative(process.cwd(), p.tarball)} (${p.files.length} files)`);
    }
  } catch (e) {
    console.error(e instanceof PackagingError ? e.message : e);
    process.exitCode = 1;
  }
}
