/**
 * The web UI's browser bundle, made with esbuild from packages/server/ui/ when the
 * server first needs it — no build step for users — and kept in memory.
 *
 *   ui/main.ts (+ uplot, CSS) ──esbuild──▶ { js, css, hash }   built once per process
 *                                             │                (dev: on every request)
 *   GET /ui/app.js?v=<hash> ◀─────────────────┘  immutable: the page links the hash
 *
 * One build is shared by every server in the process (the bundle does not depend on
 * the service). A failed build is not cached, so fixing the file and reloading works.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MillraceError } from 'millrace';

export interface UiBundle {
  readonly js: string;
  readonly css: string;
  /** Content hash (12 hex digits) of js + css, for cache-busting URLs and ETags. */
  readonly hash: string;
  /** How long esbuild took. */
  readonly buildMs: number;
}

/** The browser code's entry point (packages/server/ui/main.ts). */
export const UI_ENTRY = fileURLToPath(new URL('../../ui/main.ts', import.meta.url));

let cached: Promise<UiBundle> | undefined;

/** Build the bundle with esbuild. `dev`: not minified, inline source map. */
export async function buildUiBundle(options: { dev?: boolean } = {}): Promise<UiBundle> {
  const started = performance.now();
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new MillraceError(
      'UI_BUILD_FAILED',
      'the web UI needs the esbuild package to bundle its browser code; install @millrace/server with its dependencies (npm install)',
      { domain: 'internal', cause: e },
    );
  }
  let result: Awaited<ReturnType<typeof esbuild.build>>;
  try {
    result = await esbuild.build({
      entryPoints: { app: UI_ENTRY },
      bundle: true,
      write: false,
      // Not written anywhere (write: false); esbuild needs it to name the JS and CSS outputs.
      outdir: '/millrace-ui',
      format: 'esm',
      platform: 'browser',
      target: ['chrome109', 'firefox115', 'safari16'],
      minify: !options.dev,
      sourcemap: options.dev ? 'inline' : false,
      legalComments: options.dev ? 'inline' : 'eof',
      charset: 'utf8',
      logLevel: 'silent',
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } }[] }).errors;
    const detail = errors?.length
      ? errors
          .map((x) => `${x.location ? `${x.location.file}:${x.location.line}: ` : ''}${x.text}`)
          .join('; ')
      : (e as Error).message;
    throw new MillraceError(
      'UI_BUILD_FAILED',
      `the web UI could not be bundled (${detail}); the API under /api/v1 still works — report this with the message`,
      { domain: 'internal', cause: e },
    );
  }
  let js = '';
  let css = '';
  for (const f of result.outputFiles ?? []) {
    if (f.path.endsWith('.js')) js = f.text;
    else if (f.path.endsWith('.css')) css = f.text;
  }
  const hash = createHash('sha256').update(js).update('\0').update(css).digest('hex').slice(0, 12);
  return { js, css, hash, buildMs: performance.now() - started };
}

/** The process-wide bundle (built on first call; a failure is retried on the next call). */
export function uiBundle(): Promise<UiBundle> {
  if (!cached) {
    cached = buildUiBundle();
    cached.catch(() => (cached = undefined));
  }
  return cached;
}
