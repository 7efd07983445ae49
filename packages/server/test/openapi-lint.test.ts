/**
 * The OpenAPI document passes `redocly lint` with its recommended rules (no errors, no warnings):
 * security on every operation, a license, 4XX responses, no unused schemas — and operation ids a
 * generated client can use as method names.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApp } from '../src/index.ts';
import { cleanupDirs, tempDir, testService } from './helpers.ts';

afterEach(cleanupDirs);

const REDOCLY = fileURLToPath(new URL('../../../node_modules/.bin/redocly', import.meta.url));

interface LintResult {
  totals: { errors: number; warnings: number };
  problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
}

function redoclyLint(document: object): LintResult {
  const file = path.join(tempDir(), 'openapi.json');
  writeFileSync(file, JSON.stringify(document));
  const r = spawnSync(REDOCLY, ['lint', file, '--format=json'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return JSON.parse(r.stdout) as LintResult;
}

async function openApiDocument(): Promise<any> {
  const { service } = testService();
  const app = await createHttpApp(service);
  try {
    return (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
  } finally {
    await app.close();
    await service.close({ flushMs: 0 });
  }
}

describe('the OpenAPI document', () => {
  it('passes redocly lint (recommended rules) without errors or warnings', async () => {
    const result = redoclyLint(await openApiDocument());
    const problems = result.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
    expect(problems).toEqual([]);
    expect(result.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  it('fails the lint when an operation declares no security (so the check above can fail)', async () => {
    const spec = await openApiDocument();
    delete spec.paths['/api/v1/queries'].get.security;
    const result = redoclyLint(spec);
    expect(result.totals.errors).toBe(1);
    expect(result.problems[0]!.ruleId).toBe('security-defined');
  }, 60_000);

  it('names operations as a generated client would (listQueries, getQuery), once each', async () => {
    const spec = await openApiDocument();
    const ids = Object.values(spec.paths as Record<string, Record<string, { operationId: string }>>).flatMap(
      (ops) => Object.values(ops).map((o) => o.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z]+(?:[A-Z][a-z0-9]*)*$/);
    expect(ids.filter((id) => /^(get|post)ApiV1/.test(id))).toEqual([]); // not generated from the path
    expect(spec.paths['/api/v1/queries'].get.operationId).toBe('listQueries');
    expect(spec.paths['/api/v1/queries/{query}'].get.operationId).toBe('getQuery');
    expect(spec.paths['/api/v1/queries/{query}/stop'].post.operationId).toBe('stopQuery');
  });
});
