/**
 * A connector waiting for a service shows in the API: the query's status message and
 * `status.waitingFor` (redacted), documented in the OpenAPI document; empty again once it is back.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type ConnectorContext, MemoryStream, memorySink, schema, t } from 'millrace';
import { createHttpApp, type MillraceService } from '../src/index.ts';
import { cleanupDirs, testService, validateSchema } from './helpers.ts';

const words = schema({ word: t.string });

/** A real memory source that keeps its context, to report what it waits for as a broker source does. */
class ReportingStream extends MemoryStream<{ word: string }> {
  ctx: ConnectorContext | undefined;
  override async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    await super.open(ctx);
  }
}

let service: MillraceService;
let app: FastifyInstance;

beforeEach(async () => {
  ({ service } = testService());
  app = await createHttpApp(service);
});

afterEach(async () => {
  await service.stopAll();
  await app.close();
  await service.close({ flushMs: 0 });
  cleanupDirs();
});

const get = async (url: string) => (await app.inject({ method: 'GET', url })).json();

it('GET /queries and /queries/{name} say what the query waits for, and stop saying it when it is back', async () => {
  const source = new ReportingStream(words, 'broker-words');
  const q = await service.startQuery(service.createSession().readStream(source), {
    queryName: 'waiting',
    sink: memorySink(),
  });
  await q.processAllAvailable();
  expect((await get('/api/v1/queries/waiting')).status.waitingFor).toEqual([]);

  source.ctx!.reportWaiting!('RabbitMQ at amqp://app:hunter2@mq:5672: connect ECONNREFUSED');
  const detail = await get('/api/v1/queries/waiting');
  expect(detail.status).toMatchObject({
    message: 'Waiting for RabbitMQ at amqp://app:***@mq:5672: connect ECONNREFUSED',
    waitingFor: [
      {
        connector: 'source "broker-words"',
        what: 'RabbitMQ at amqp://app:***@mq:5672: connect ECONNREFUSED',
        since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    ],
  });
  const listed = (await get('/api/v1/queries')) as { queries?: unknown[] } | unknown[];
  const rows = (Array.isArray(listed) ? listed : (listed.queries ?? [])) as {
    name: string;
    status: unknown;
  }[];
  expect(rows.find((r) => r.name === 'waiting')?.status).toEqual(detail.status);

  const spec = await get('/api/v1/openapi.json');
  const components = spec.components.schemas;
  expect(validateSchema(detail, { $ref: '#/components/schemas/QueryDetail' }, components)).toEqual([]);

  source.ctx!.reportWaiting!(null);
  const after = await get('/api/v1/queries/waiting');
  expect(after.status.waitingFor).toEqual([]);
  expect(after.status.message).not.toMatch(/RabbitMQ/);
});
