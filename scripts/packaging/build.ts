/**
 * npm run build [-- millrace,redis]: every package (or those named) under packages/* to ESM JavaScript with declaration files in its
 * dist/ (git-ignored), for packing. `tsc -b` follows the project references, so a package is built
 * after the packages it imports, and is incremental (dist/.tsbuildinfo). Development and the tests
 * run the .ts sources and never need this.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, buildConfig, checkPackaging, missingBuiltFiles, workspacePackages } from './workspace.ts';

export class PackagingError extends Error {
  override name = 'PackagingError';
}

export interface BuildOptions {
  quiet?: boolean;
  /** Package folder names to build (with what they reference); all by default. */
  only?: readonly string[];
}

export function buildPackages(options: BuildOptions = {}): void {
  const all = workspacePackages(options.only);
  const problems = checkPackaging(all);
  if (problems.length > 0) {
    throw new PackagingError(`cannot build the packages:\n  ${problems.join('\n  ')}`);
  }
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-b', ...all.map(buildConfig)], {
      cwd: ROOT,
      stdio: options.quiet ? 'pipe' : 'inherit',
      encoding: 'utf8',
    });
  } catch (e) {
    const out = (e as { stdout?: string }).stdout ?? '';
    throw new PackagingError(`tsc -b failed (the errors are in the source files named)\n${out}`);
  }
  const missing = missingBuiltFiles(all);
  if (missing.length > 0) throw new PackagingError(missing.join('\n'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const only = process.argv[2]?.split(',');
  try {
    buildPackages({ ...(only && { only }) });
    console.log(`built ${workspacePackages(only).length} packages into their dist/ folders`);
  } catch (e) {
    console.error(e instanceof PackagingError ? e.message : e);
    process.exitCode = 1;
  }
}
