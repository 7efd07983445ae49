/**
 * Chromium for the browser tests (playwright-core driving Debian's /usr/bin/chromium;
 * ensure-chromium.sh installs it). Each launch gets a fresh profile directory.
 * Screenshots go to <repo>/test-artifacts/browser/ (git-ignored).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.MILLRACE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../test-artifacts/browser',
);

export interface Browser {
  readonly context: BrowserContext;
  /** Messages of console errors, uncaught page errors and failed requests, per page. */
  readonly problems: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: run packages/server/test/browser/ensure-chromium.sh (or set MILLRACE_CHROMIUM)`,
    );
  }
  const profile = mkdtempSync(path.join(os.tmpdir(), 'millrace-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 1000 },
    reducedMotion: 'reduce',
  });
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  };
  context.on('page', watch);
  for (const p of context.pages()) watch(p);
  return {
    context,
    problems,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Save a full-page screenshot as test-artifacts/browser/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.evaluate('window.scrollTo(0, 0)'); // the sticky header belongs at the top
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The UI's counters (window.__millrace: renders, first-ready marks). */
export async function uiStats(page: Page): Promise<{ renders: number; marks: Record<string, number> }> {
  return (await page.evaluate(
    '({ renders: window.__millrace.renders, marks: { ...window.__millrace.marks } })',
  )) as {
    renders: number;
    marks: Record<string, number>;
  };
}
