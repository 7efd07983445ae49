/** The sink cases, each a function of a fresh SinkTest (see sinkTest.ts). */
import { access } from 'node:fs/promises';
import * as path from 'node:path';
import type { OutputMode, SinkGuarantee } from '../../connectors/contracts.ts';
import type { StreamingQuery } from '../../execution/StreamingQuery.ts';
import { check, fail, show, textOf } from './checks.ts';
import { GateSink } from './gate.ts';
import { asMillraceError, rejectionOf, sleep, withTimeout } from './scope.ts';
import type { SinkTest } from './sinkTest.ts';
import { isNotApplicable } from './types.ts';

export const ALL_MODES: readonly OutputMode[] = ['append', 'update', 'complete'];
const GUARANTEES: readonly SinkGuarantee[] = ['at-least-once', 'idempotent', 'transactional'];

export async function contract(t: SinkTest): Promise<void> {
  const spec = t.harness.outputModes.includes('append')
    ? t.appendSpec
    : t.scenario(t.harness.outputModes[0] ?? fail('harness.outputModes is empty')).spec;
  const a = t.fixture.sink(spec);
  const b = t.fixture.sink(spec);
  check(
    typeof a.name === 'string' && a.name.trim() !== '',
    () => `sink.name must be a non-empty string, got ${show(a.name)}`,
  );
  check(
    a.name === b.name,
    () => `two instances with the same options have different names (${a.name}, ${b.name})`,
  );
  check(
    GUARANTEES.includes(a.guarantee),
    () => `sink.guarantee must be one of ${GUARANTEES.join(', ')}, got ${show(a.guarantee)}`,
  );
  for (const m of ['describe', 'open', 'addBatch', 'close'] as const) {
    check(typeof a[m] === 'function', () => `sink.${m} must be a function`);
  }
  const d = a.describe();
  check(
    typeof d === 'string' && d.trim() !== '' && !d.includes('\n'),
    () => `describe() must be one line, got ${show(d)}`,
  );
  t.checkSecrets(d, 'describe()');
  const supported = a.supportedOutputModes ?? ALL_MODES;
  for (const m of supported)
    check(ALL_MODES.includes(m), () => `supportedOutputModes has an unknown mode ${show(m)}`);
  for (const m of t.harness.outputModes) {
    check(
      supported.includes(m),
      () => `the harness claims output mode ${m} but the sink's supportedOutputModes is ${show(supported)}`,
    );
  }
  for (const m of ALL_MODES) {
    if (!t.harness.outputModes.includes(m) && supported.includes(m)) {
      fail(
        `the sink accepts output mode ${m} (supportedOutputModes ${a.supportedOutputModes ? show(supported) : 'not set = all'}) ` +
          `but the harness does not claim it; list the modes the sink really supports in supportedOutputModes`,
      );
    }
  }
  const s = await t.open(spec);
  const empty = await t.readBack(spec);
  check(empty.length === 0, () => `a fresh external system must read back empty, got ${empty.length} row(s)`);
  await s.close();
  t.checkNoLeaks();
}

export async function replay(t: SinkTest): Promise<void> {
  const spec = t.appendSpec;
  const k = Math.max(1, Math.floor(t.sizes.records / 3));
  const [b0, b1, b2] = [t.rows(0, k), t.rows(k, 2 * k), t.rows(2 * k, 3 * k)];
  const first = await t.open(spec);
  await t.write(first.sink, b0, 0, spec);
  await t.write(first.sink, b1, 1, spec);
  await t.checkHolds(first.sink, spec, [...b0, ...b1], 'after batches 0 and 1');
  await t.write(first.sink, b1, 1, spec);
  await t.checkHolds(
    first.sink,
    spec,
    [...b0, ...b1],
    'after batch 1 was written again by the same instance',
  );
  await first.close();

  // A restart: a new instance on the same state directory gets the uncommitted batch 1 again.
  const second = await t.open(spec, first.stateDir);
  await t.write(second.sink, b1, 1, spec);
  await t.checkHolds(second.sink, spec, [...b0, ...b1], 'after batch 1 was written again by a new instance');
  await t.write(second.sink, [], 2, spec);
  await t.checkHolds(second.sink, spec, [...b0, ...b1], 'after an empty batch 2');
  await t.write(second.sink, b2, 3, spec);
  await t.checkHolds(second.sink, spec, [...b0, ...b1, ...b2], 'after batch 3');
  await second.close();
  t.checkNoLeaks();
}

export async function roundTrip(t: SinkTest): Promise<void> {
  const spec = t.appendSpec;
  const rows = t.rows(0, Math.min(t.sizes.records, 50));
  const s = await t.open(spec);
  await t.write(s.sink, rows, 0, spec);
  await t.checkHolds(s.sink, spec, rows, `${rows.length} rows with columns ${spec.schema.toString()}`);
  await s.close();
}

export async function largeBatch(t: SinkTest): Promise<void> {
  const spec = t.appendSpec;
  const n = t.sizes.largeBatch;
  const s = await t.open(spec);
  const first = t.rows(0, n);
  await t.write(s.sink, first, 0, spec, 'addBatch');
  await t.checkHolds(s.sink, spec, first, `${n} rows written with addBatch`);
  if (s.sink.addBatchChunks) {
    const second = t.rows(n, 2 * n);
    await t.write(s.sink, second, 1, spec, 'chunks');
    await t.checkHolds(s.sink, spec, [...first, ...second], `${n} more rows written with addBatchChunks`);
  }
  await s.close();
}

/** A query writes, stops (or crashes mid-batch), and a new query with a new sink instance carries on. */
export async function restart(t: SinkTest, mode: OutputMode, crash: boolean): Promise<void> {
  const sc = t.scenario(mode);
  const cp = await t.scope.tempDir('checkpoint');
  const queries: StreamingQuery[] = [];
  const gate = new GateSink(t.fixture.sink(sc.spec), false);
  const q1 = await t.start(sc, gate, cp);
  queries.push(q1);
  sc.input.addData(sc.batch(0));
  await t.settle(q1);
  sc.input.addData(sc.batch(1));
  await t.settle(q1);
  await t.checkHolds(gate, sc.spec, sc.expected(1), `${mode} mode after two batches`);
  let last = 1;
  if (crash) {
    const hold = gate.holdNext();
    sc.input.addData(sc.batch(2));
    const held = await withTimeout(hold.entered, t.sizes.waitMs, 'the batch to reach the sink');
    const stopping = q1.stop({ abandonCurrentBatch: true });
    hold.release();
    await withTimeout(stopping, t.sizes.waitMs, 'query.stop({ abandonCurrentBatch: true })');
    if (q1.exception) throw q1.exception;
    const committed = await access(path.join(cp, 'commits', String(held))).then(
      () => true,
      () => false,
    );
    check(
      !committed,
      () => `batch ${held} was committed although the query was stopped with abandonCurrentBatch`,
    );
    last = 2;
  } else {
    await t.stop(q1);
  }
  // More input while the query is down, then a new query with a new sink instance.
  sc.input.addData(sc.batch(last + 1));
  const q2 = await t.start(sc, t.fixture.sink(sc.spec), cp);
  queries.push(q2);
  await t.settle(q2);
  sc.input.addData(sc.batch(last + 2));
  await t.settle(q2);
  await t.stop(q2);
  const what = crash ? `${mode} mode after a crash mid-batch and a restart` : `${mode} mode after a restart`;
  await t.checkHolds(gate, sc.spec, sc.expected(last + 2), what);
  t.checkNoLeaks(queries);
}

export async function refused(t: SinkTest, mode: OutputMode): Promise<void> {
  // A plan that allows `mode`, so only the sink can refuse it.
  const sc = t.scenario(mode);
  const sink = t.fixture.sink(sc.spec);
  const err = await rejectionOf(
    t.start(sc, sink, await t.scope.tempDir('checkpoint')),
    `starting a query in output mode ${mode}`,
  );
  const me = asMillraceError(err, `start() in output mode ${mode}`);
  check(
    me.domain === 'user',
    () => `refusing an output mode is a user error, got domain ${me.domain}: ${me.message}`,
  );
  check(me.message.includes(mode), () => `the error must name the refused mode ${mode}: ${me.message}`);
  t.checkSecrets(textOf(me), 'the error');
}

export async function outage(t: SinkTest): Promise<void> {
  const spec = t.harness.outage;
  if (isNotApplicable(spec)) return;
  check(
    t.fixture.stopExternal && t.fixture.startExternal,
    () => 'the outage case needs fixture.stopExternal() and fixture.startExternal()',
  );
  const mode = t.harness.outputModes[0]!;
  const sc = t.scenario(mode);
  const cp = await t.scope.tempDir('checkpoint');
  const sink = t.fixture.sink(sc.spec);
  const q1 = await t.start(sc, sink, cp);
  const queries = [q1];
  sc.input.addData(sc.batch(0));
  await t.settle(q1);

  await t.fixture.stopExternal!();
  let back = false;
  t.scope.defer(() => (back ? undefined : t.fixture.startExternal!()));
  sc.input.addData(sc.batch(1));
  let q2 = q1;
  if (spec.behaviour === 'retries') {
    await sleep(t.sizes.outageMs);
    if (q1.exception)
      fail(`the harness says addBatch retries, but the query failed: ${String(q1.exception)}`);
    await t.fixture.startExternal!();
    back = true;
  } else {
    const err = await withTimeout(
      rejectionOf(q1.awaitTermination(), 'the query while the external system is away'),
      t.sizes.waitMs,
      'the query to fail while the external system is away',
    );
    const me = asMillraceError(err, 'the failure during the outage');
    check(
      me.retryable && me.domain === 'external',
      () =>
        `an outage must fail with a retryable, external error (the system may come back); got ${me.code} ` +
        `domain=${me.domain} retryable=${me.retryable}: ${me.message}`,
    );
    if (spec.code)
      check(me.code === spec.code, () => `expected error code ${spec.code}, got ${me.code}: ${me.message}`);
    check(me.message.length > 20, () => `the error message must say what to check, got ${show(me.message)}`);
    t.checkSecrets(textOf(me), 'the error');
    await t.fixture.startExternal!();
    back = true;
    // The restarted query re-runs the failed batch with the same id: it must land once.
    q2 = await t.start(sc, t.fixture.sink(sc.spec), cp);
    queries.push(q2);
  }
  await t.settle(q2);
  sc.input.addData(sc.batch(2));
  await t.settle(q2);
  await t.stop(q2);
  await t.checkHolds(sink, sc.spec, sc.expected(2), `${mode} mode after an outage`);
  t.checkNoLeaks(queries);
}
