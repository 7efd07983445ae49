import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memorySink, memoryStream, schema, t, type Session } from 'millrace';
import { createHttpApp, type MillraceService } from '../src/index.ts';
import { openApiPath, registeredRoutes } from '../src/http/openapi.ts';
import { queryDetail, querySummary } from '../src/queries/views.ts';
import { cleanupDirs, tempDir, testService, validateSchema, waitFor } from './helpers.ts';

const words = schema({ word: t.string });

let service: MillraceService;
let session: Session;
let app: FastifyInstance;
let dir: string;

beforeEach(async () => {
  ({ service } = testService());
  session = service.createSession();
  app = await createHttpApp(service);
  dir = tempDir();
});

afterEach(async () => {
  await service.stopAll();
  await app.close();
  await service.close({ flushMs: 0 });
  cleanupDirs();
});

/** A word count started through the service, fed `batches` batches. */
async function wordCount(name: string, batches: number, checkpoint = true) {
  const source = memoryStream(words, { name: `${name}-words` });
  const sink = memorySink({ name: `${name}-out` });
  const q = await service.startQuery(session.readStream(source).groupBy('word').count(), {
    queryName: name,
    sink,
    outputMode: 'complete',
    ...(checkpoint ? { checkpointLocation: path.join(dir, name) } : {}),
  });
  for (let i = 0; i < batches; i++) {
    source.addData({ word: i % 2 ? 'a' : 'b' }, { word: 'c' });
    await q.processAllAvailable();
  }
  return { q, source, sink };
}

/** A word count over 3 state partitions (update mode), fed `batches` batches of six words. */
async function partitionedCount(name: string, batches: number) {
  const source = memoryStream(words, { name: `${name}-words` });
  const q = await service.startQuery(session.readStream(source).groupBy('word').count(), {
    queryName: name,
    sink: memorySink({ name: `${name}-out` }),
    outputMode: 'update',
    partitions: 3,
    checkpointLocation: path.join(dir, name),
  });
  for (let i = 0; i < batches; i++) {
    source.addData(['a', 'b', 'c', 'd', 'e', `f${i}`].map((word) => ({ word })));
    await q.processAllAvailable();
  }
  return q;
}

const get = async (url: string) => {
  const r = await app.inject({ method: 'GET', url });
  return {
    status: r.statusCode,
    body: String(r.headers['content-type'] ?? '').includes('json') ? r.json() : r.body,
  };
};

describe('queries API', () => {
  it('lists queries with health, rates and the last batch', async () => {
    const { q } = await wordCount('wc', 3);
    const { status, body } = await get('/api/v1/queries');
    expect(status).toBe(200);
    expect(body.queries).toHaveLength(1);
    const s = body.queries[0];
    expect(s).toMatchObject({
      id: q.id,
      runId: q.runId,
      name: 'wc',
      health: 'active',
      endReason: null,
      lastBatchId: 2,
    });
    expect(s.numInputRows).toBe(2);
    expect(s.totalInputRows).toBe(6);
    expect(s.stateRowsTotal).toBe(3);
    expect(s.trigger).toBe('default');
    expect(s.restartable).toBe(true);
  });

  it('shows one query: plan, sources with offsets and lag, sink, state operators', async () => {
    await wordCount('detail', 2);
    const { status, body } = await get('/api/v1/queries/detail');
    expect(status).toBe(200);
    expect(body.explain).toContain('MemorySink[detail-out]');
    expect(body.sources).toEqual([
      expect.objectContaining({
        name: 'detail-words',
        startOffset: 1,
        endOffset: 2,
        latestOffset: 2,
        lag: 0,
        numInputRows: 2,
      }),
    ]);
    expect(body.sink).toMatchObject({
      name: 'detail-out',
      kind: 'memory',
      rowsAvailable: true,
      numOutputRows: 3,
    });
    expect(body.stateOperators).toHaveLength(1);
    expect(body.stateOperators[0].numRowsTotal).toBe(3);
    expect(body.lastProgress.batchId).toBe(1);
    expect(body.history).toEqual({ size: 2, capacity: 10_000, fullRecordsKept: 2 });
    // by id too
    expect((await get(`/api/v1/queries/${body.id}`)).body.name).toBe('detail');
    // the response schema serializes every field the view has (none silently dropped)
    const e = service.queries.get('detail');
    const view = JSON.parse(JSON.stringify(queryDetail(e, (x) => service.sinkOf(x))));
    expect(body).toEqual(view);
    expect((await get('/api/v1/queries')).body.queries[0]).toEqual(
      JSON.parse(JSON.stringify(querySummary(e))),
    );
  });

  it('reports the state partitions of a partitioned operator (detail, last progress, full record)', async () => {
    const q = await partitionedCount('parts', 2);
    const engine = q.lastProgress!.stateOperators[0]!;
    expect(engine.partitions?.numPartitions).toBe(3); // the engine reports them…
    const { status, body } = await get('/api/v1/queries/parts');
    expect(status).toBe(200);
    // …and the API passes them on, nothing dropped by the response schema
    const op = body.stateOperators[0];
    expect(op.partitions).toEqual(JSON.parse(JSON.stringify(engine.partitions)));
    const p = op.partitions;
    expect(p.numPartitions).toBe(3);
    expect(p.tasks.map((t: { partition: number }) => t.partition)).toEqual([0, 1, 2]);
    // the partitions add up to the operator: 6 input rows this batch, 7 keys in state
    expect(p.tasks.reduce((a: number, t: { numInputRows: number }) => a + t.numInputRows, 0)).toBe(6);
    expect(p.tasks.reduce((a: number, t: { numRowsTotal: number }) => a + t.numRowsTotal, 0)).toBe(7);
    expect(op.numRowsTotal).toBe(7);
    expect(p.slowestPartition).toBeGreaterThanOrEqual(0);
    expect(p.slowestPartition).toBeLessThan(3);
    expect(p.slowestMs).toBe(p.tasks[p.slowestPartition].processingMs);
    expect(p.slowestMs).toBeGreaterThanOrEqual(p.medianMs);
    for (const t of p.tasks) {
      expect(Object.keys(t).sort()).toEqual([
        'commitTimeMs',
        'numInputRows',
        'numRowsTotal',
        'partition',
        'processingMs',
      ]);
    }
    expect(body.lastProgress.stateOperators[0].partitions).toEqual(p);
    // the full progress record of a batch
    const full = await get(`/api/v1/queries/parts/progress/${q.lastProgress!.batchId}`);
    expect(full.body.stateOperators[0].partitions).toEqual(p);
    const first = await get('/api/v1/queries/parts/progress/0');
    expect(first.body.stateOperators[0].partitions.numPartitions).toBe(3);
    expect(first.body.stateOperators[0].partitions.tasks).toHaveLength(3);
    // an operator with one partition has no `partitions`
    await wordCount('single', 1);
    const single = (await get('/api/v1/queries/single')).body;
    expect(single.stateOperators[0]).not.toHaveProperty('partitions');
    expect(single.lastProgress.stateOperators[0]).not.toHaveProperty('partitions');
  });

  it('pages the progress history with since and limit', async () => {
    await wordCount('pages', 5);
    const newest = await get('/api/v1/queries/pages/progress?limit=2');
    expect(newest.body.entries.map((e: { batchId: number }) => e.batchId)).toEqual([3, 4]);
    expect(newest.body).toMatchObject({
      oldestBatchId: 0,
      newestBatchId: 4,
      hasMore: false,
      capacity: 10_000,
    });
    const first = await get('/api/v1/queries/pages/progress?since=0&limit=2');
    expect(first.body.entries.map((e: { batchId: number }) => e.batchId)).toEqual([1, 2]);
    expect(first.body.hasMore).toBe(true);
    const rest = await get('/api/v1/queries/pages/progress?since=2&limit=100');
    expect(rest.body.entries.map((e: { batchId: number }) => e.batchId)).toEqual([3, 4]);
    expect(rest.body.hasMore).toBe(false);
    const e = rest.body.entries[1];
    expect(e).toMatchObject({ numInputRows: 2, numOutputRows: 3, stateRowsTotal: 3, isNoDataBatch: false });
    expect(e.durationMs.triggerExecution).toBeGreaterThanOrEqual(0);
    // the full record of a recent batch
    const full = await get('/api/v1/queries/pages/progress/4');
    expect(full.body).toMatchObject({ batchId: 4, name: 'pages' });
    const gone = await get('/api/v1/queries/pages/progress/99');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('PROGRESS_NOT_FOUND');
  });

  it('serves the rows of a memory sink', async () => {
    await wordCount('rows', 2);
    const { body } = await get('/api/v1/queries/rows/rows');
    expect(body).toMatchObject({ query: 'rows', sink: 'rows-out', kind: 'memory', total: 3 });
    expect(body.rows).toEqual(expect.arrayContaining([{ word: 'c', count: 2 }]));
  });

  it('stops a query (200, health stopped) and refuses to stop it twice (409)', async () => {
    const { q } = await wordCount('stopme', 1);
    const r = await app.inject({ method: 'POST', url: '/api/v1/queries/stopme/stop' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ stopped: true, query: { health: 'stopped', endReason: 'stopped' } });
    expect(q.isActive).toBe(false);
    const again = await app.inject({ method: 'POST', url: '/api/v1/queries/stopme/stop', payload: {} });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('QUERY_NOT_ACTIVE');
  });

  it('restarts a query from its checkpoint', async () => {
    const { source, sink } = await wordCount('again', 2);
    const first = (await get('/api/v1/queries/again')).body;
    const r = await app.inject({ method: 'POST', url: '/api/v1/queries/again/restart' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ name: 'again', id: first.id, health: 'active', runs: 2 });
    expect(r.json().runId).not.toBe(first.runId);
    const q = session.streams.get('again')!;
    source.addData({ word: 'c' });
    await q.processAllAvailable();
    // resumed after batch 1 with its state: batch 2 counts c three times
    expect(q.lastProgress?.batchId).toBe(2);
    expect(sink.lastBatch()).toEqual(expect.arrayContaining([{ word: 'c', count: 3 }]));
    const history = (await get('/api/v1/queries/again/progress')).body;
    expect(history.entries.map((e: { batchId: number }) => e.batchId)).toEqual([0, 1, 2]);
  });

  it('refuses to restart what it cannot (409 QUERY_NOT_RESTARTABLE)', async () => {
    // started without the service: it holds no plan
    const plain = await session
      .readStream(memoryStream(words, { name: 'plain-words' }))
      .writeStream({ queryName: 'plain', sink: memorySink() })
      .start();
    await waitFor(() => service.queries.find('plain') !== undefined, 'the service to see the query');
    const r1 = await app.inject({ method: 'POST', url: '/api/v1/queries/plain/restart' });
    expect(r1.statusCode).toBe(409);
    expect(r1.json().error.code).toBe('QUERY_NOT_RESTARTABLE');
    expect(r1.json().error.message).toMatch(/ctx\.start/);
    await plain.stop();
    // no checkpointLocation
    await wordCount('temp', 1, false);
    const r2 = await app.inject({ method: 'POST', url: '/api/v1/queries/temp/restart' });
    expect(r2.statusCode).toBe(409);
    expect(r2.json().error.message).toMatch(/checkpointLocation/);
    expect((await get('/api/v1/queries/temp')).body.restartable).toBe(false);
  });

  it('shows a failed query with its failure', async () => {
    const source = memoryStream(words, { name: 'boom-words' });
    const q = await service.startQuery(
      session.readStream(source).map((r) => {
        if (r.word === 'boom') throw new Error('the word was boom');
        return r;
      }, words),
      { queryName: 'boom', sink: memorySink() },
    );
    source.addData({ word: 'boom' });
    await q.awaitTermination().catch(() => undefined);
    await waitFor(() => service.queries.find('boom')?.health === 'failed', 'the failure to be recorded');
    const { body } = await get('/api/v1/queries/boom');
    expect(body.health).toBe('failed');
    expect(body.endReason).toBe('failed');
    expect(body.failure.code).toBe('OPERATOR_FAILED');
    expect(body.failure.message).toContain('the word was boom');
    expect(body.status.message).toBe('Failed');
  });

  it('answers errors with a code and a message that says what to do', async () => {
    const nf = await get('/api/v1/queries/nope');
    expect(nf.status).toBe(404);
    expect(nf.body.error.code).toBe('QUERY_NOT_FOUND');
    await wordCount('known', 1);
    const bad = await get('/api/v1/queries/known/progress?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BAD_REQUEST');
    const route = await get('/api/v1/nothing-here');
    expect(route.status).toBe(404);
    expect(route.body.error.message).toContain('openapi.json');
  });

  it('serves a placeholder page listing the queries', async () => {
    await wordCount('page', 1);
    const r = await app.inject({ method: 'GET', url: '/' });
    expect(r.headers['content-type']).toContain('text/html');
    expect(r.body).toContain('page');
    expect(r.body).toContain('/api/v1/openapi.json');
  });
});

describe('security', () => {
  it('requires the bearer token for changes when one is set; reads stay open', async () => {
    const guarded = await createHttpApp(service, { token: 'a-long-enough-token' });
    try {
      await wordCount('guarded', 1);
      expect((await guarded.inject({ method: 'GET', url: '/api/v1/queries' })).statusCode).toBe(200);
      const none = await guarded.inject({ method: 'POST', url: '/api/v1/queries/guarded/stop' });
      expect(none.statusCode).toBe(401);
      expect(none.json().error.message).toContain('Authorization: Bearer');
      const wrong = await guarded.inject({
        method: 'POST',
        url: '/api/v1/queries/guarded/stop',
        headers: { authorization: 'Bearer not-the-token' },
      });
      expect(wrong.statusCode).toBe(401);
      const right = await guarded.inject({
        method: 'POST',
        url: '/api/v1/queries/guarded/stop',
        headers: { authorization: 'Bearer a-long-enough-token' },
      });
      expect(right.statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('refuses changes from another origin and requests with a foreign Host', async () => {
    await wordCount('csrf', 1);
    const cross = await app.inject({
      method: 'POST',
      url: '/api/v1/queries/csrf/stop',
      headers: { origin: 'http://evil.example' },
    });
    expect(cross.statusCode).toBe(403);
    const sameOrigin = await app.inject({
      method: 'POST',
      url: '/api/v1/queries/csrf/stop',
      headers: { origin: 'http://localhost:80', host: 'localhost:80' },
    });
    expect(sameOrigin.statusCode).toBe(200);
    const rebinding = await app.inject({
      method: 'GET',
      url: '/api/v1/queries',
      headers: { host: 'evil.example:4040' },
    });
    expect(rebinding.statusCode).toBe(403);
  });
});

describe('the UI extension point', () => {
  it('replaces the placeholder page with the UI routes; non-API routes stay out of the document', async () => {
    const withUi = await createHttpApp(service, {
      ui: (a) => {
        a.get('/', { config: { openapi: false } }, async (_req, reply) =>
          reply.type('text/html').send('<p>the UI</p>'),
        );
      },
    });
    try {
      expect((await withUi.inject({ method: 'GET', url: '/' })).body).toBe('<p>the UI</p>');
      const spec = (await withUi.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
      expect(spec.paths['/']).toBeUndefined();
      expect(spec.paths['/api/v1/queries']).toBeDefined();
    } finally {
      await withUi.close();
    }
  });
});

describe('OpenAPI document', () => {
  it('describes every route, and the real responses validate against it', async () => {
    await wordCount('doc', 3);
    await partitionedCount('doc-parts', 2);
    await service.startQuery(session.readStream(memoryStream(words, { name: 'doc2-words' })), {
      queryName: 'doc2',
      sink: memorySink(),
    });
    service.alerts.rule({ name: 'doc-rule', query: 'doc', condition: 'count > 100', labels: ['word'] });
    const spec = (await get('/api/v1/openapi.json')).body;
    expect(spec.openapi).toBe('3.1.0');
    const routes = registeredRoutes(app);
    expect(routes.length).toBeGreaterThan(15);
    for (const r of routes) {
      expect(r.doc, `${r.method} ${r.url} has no config.openapi`).toBeTruthy(); // false: only for UI pages
      expect(
        spec.paths[openApiPath(r.url)]?.[r.method.toLowerCase()],
        `${r.method} ${r.url} is not in the document`,
      ).toBeDefined();
    }
    const documented = Object.entries(spec.paths).flatMap(([p, ops]) =>
      Object.keys(ops as object).map((m) => `${m} ${p}`),
    );
    expect(documented.length).toBe(routes.length);

    const components = spec.components.schemas;
    const check = async (
      method: 'GET' | 'POST',
      url: string,
      route: string,
      payload?: Record<string, unknown>,
    ) => {
      const res = await app.inject({ method, url, ...(payload !== undefined ? { payload } : {}) });
      const op = spec.paths[route][method.toLowerCase()];
      const resp = op.responses[String(res.statusCode)];
      expect(
        resp,
        `${method} ${url} answered ${res.statusCode}, which the document does not list`,
      ).toBeDefined();
      const schema = resp.content['application/json']?.schema;
      if (!schema) return res;
      const errors = validateSchema(res.json(), schema, components);
      expect(errors, `${method} ${url}`).toEqual([]);
      return res;
    };
    const q = '/api/v1/queries/{query}';
    await check('GET', '/api/v1', '/api/v1');
    await check('GET', '/api/v1/queries', '/api/v1/queries');
    await check('GET', '/api/v1/queries/doc', q);
    await check('GET', '/api/v1/queries/doc2', q); // no progress yet
    await check('GET', '/api/v1/queries/nope', q);
    await check('GET', '/api/v1/queries/doc/progress', `${q}/progress`);
    await check('GET', '/api/v1/queries/doc/progress?limit=0', `${q}/progress`);
    await check('GET', '/api/v1/queries/doc/progress/2', `${q}/progress/{batchId}`);
    await check('GET', '/api/v1/queries/doc/progress/77', `${q}/progress/{batchId}`);
    // state partitions: documented, and the real ones validate
    expect(components.StateOperatorProgress.properties.partitions).toEqual({
      $ref: '#/components/schemas/StatePartitions',
    });
    expect(Object.keys(components.StatePartitions.properties)).toEqual([
      'numPartitions',
      'slowestPartition',
      'slowestMs',
      'medianMs',
      'tasks',
    ]);
    expect(components.StatePartitions.description).toMatch(/more than one partition/);
    const parts = await check('GET', '/api/v1/queries/doc-parts', q);
    expect(parts.json().stateOperators[0].partitions.numPartitions).toBe(3);
    const partsRecord = await check('GET', '/api/v1/queries/doc-parts/progress/1', `${q}/progress/{batchId}`);
    expect(partsRecord.json().stateOperators[0].partitions.tasks).toHaveLength(3);
    await check('GET', '/api/v1/queries/doc/rows', `${q}/rows`);
    await check('GET', '/api/v1/dashboards', '/api/v1/dashboards');
    await check('GET', '/api/v1/dashboards/none', '/api/v1/dashboards/{name}');
    await check('GET', '/api/v1/alerts/rules', '/api/v1/alerts/rules');
    await check('GET', '/api/v1/alerts/rules/doc-rule', '/api/v1/alerts/rules/{name}');
    await check('GET', '/api/v1/alerts/active', '/api/v1/alerts/active');
    await check('GET', '/api/v1/alerts/history', '/api/v1/alerts/history');
    await check('POST', '/api/v1/alerts/rules/doc-rule/disable', '/api/v1/alerts/rules/{name}/disable');
    await check('POST', '/api/v1/alerts/rules/doc-rule/enable', '/api/v1/alerts/rules/{name}/enable');
    await check('POST', '/api/v1/queries/doc/restart', `${q}/restart`);
    await check('POST', '/api/v1/queries/doc/stop', `${q}/stop`, { waitMs: 5000 });
    await check('POST', '/api/v1/queries/doc/stop', `${q}/stop`);
    await check('GET', '/api/v1/queries', '/api/v1/queries'); // with a stopped query
  });
});
