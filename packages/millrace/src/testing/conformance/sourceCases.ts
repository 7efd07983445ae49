/**
 * The source cases, each a function of a fresh SourceTest (see sourceTest.ts
 * for the moves and verdicts they are made of).
 *
 * The crash case leaves the checkpoint as a crash between "sink wrote batch N"
 * and "commits/N" would (see gate.ts), then restarts:
 *
 *   batch N: offsets/N ─ getBatch ─ sink wrote N ─ [held] ─ stop(abandon) ╳ commits/N
 *   more data arrives while down
 *   restart: batch N re-runs with the offsets of offsets/N → must be the same rows
 */
import { access } from 'node:fs/promises';
import * as path from 'node:path';
import type { Offset } from '../../connectors/contracts.ts';
import type { Row } from '../../schema/index.ts';
import {
  check,
  checkOffsetIsJson,
  checkRowsMatchSchema,
  checkSameRows,
  fail,
  sameOffset,
  show,
  textOf,
} from './checks.ts';
import { asMillraceError, rejectionOf, sleep, waitUntil, withTimeout } from './scope.ts';
import { type SourceTest, rowsOf } from './sourceTest.ts';
import { type InputRecord, isNotApplicable } from './types.ts';

export async function contract<R>(t: SourceTest<R>): Promise<void> {
  const a = t.fixture.source();
  const b = t.fixture.source();
  check(
    a !== b,
    () => 'fixture.source() must return a NEW instance on each call (a restart makes a second one)',
  );
  check(
    typeof a.name === 'string' && a.name.trim() !== '',
    () => `source.name must be a non-empty string, got ${show(a.name)}`,
  );
  check(
    a.name === b.name,
    () =>
      `two instances with the same options have different names (${show(a.name)}, ${show(b.name)}); offsets are stored by name`,
  );
  check(
    a.schema && Array.isArray(a.schema.fields) && a.schema.fields.length > 0,
    () => 'source.schema must be a Schema with at least one column',
  );
  check(
    typeof a.replayable === 'boolean',
    () => `source.replayable must be a boolean, got ${show(a.replayable)}`,
  );
  for (const m of ['describe', 'open', 'latestOffset', 'getBatch', 'commit', 'close'] as const) {
    check(typeof a[m] === 'function', () => `source.${m} must be a function`);
  }
  const d = a.describe();
  check(
    typeof d === 'string' && d.trim() !== '',
    () => `describe() must be a one-line description, got ${show(d)}`,
  );
  check(!d.includes('\n'), () => `describe() must be one line, got ${show(d)}`);
  t.checkSecrets(d, 'describe()');

  const s = await t.open();
  if (t.appendable) {
    const first = await t.latest(s.source, null);
    check(
      first === null,
      () =>
        `latestOffset(null) on an empty system must be null (nothing was ever available), got ${show(first)}`,
    );
  }
  if (s.source.reportLatestOffset) checkOffsetIsJson(s.source.reportLatestOffset(), 'reportLatestOffset()');
  await s.close();
  t.checkNoLeaks();
}

export async function replay<R>(t: SourceTest<R>): Promise<void> {
  const n = t.sizes.records;
  check(
    t.replayable,
    () =>
      'replayable is false: a source that cannot re-read data must keep a write-ahead log in ctx.stateDir (DESIGN §2)',
  );
  const a = await t.open();
  await t.appendInUnits(n, 3);
  const steps = await t.drain(a.source, null, n);
  t.checkDelivered(rowsOf(steps), 'rows read directly', { count: n, atLeast: n });

  // Same offsets → same rows: again on the same instance, then through getBatchChunks.
  for (const [k, step] of steps.entries()) {
    const again = await t.getBatch(a.source, step.start, step.end, k);
    checkSameRows(
      again.rows as Row[],
      step.batch.rows as Row[],
      true,
      `getBatch(${show(step.start)}, ${show(step.end)}) called a second time`,
    );
    await t.checkChunks(a.source, step, k);
  }
  // A new instance on the same state directory, before anything was committed (a crash).
  await a.close();
  const b = await t.open(a.stateDir);
  for (const [k, step] of steps.entries()) {
    const again = await t.getBatch(b.source, step.start, step.end, k);
    checkSameRows(
      again.rows as Row[],
      step.batch.rows as Row[],
      true,
      `getBatch(${show(step.start)}, ${show(step.end)}) on a new instance after close() (a restart)`,
    );
  }
  // Commit, then carry on from the last offset.
  const last = steps.at(-1)!.end;
  await b.source.commit(checkOffsetIsJson(last, 'commit offset') as Offset);
  if (t.appendable) {
    const idle = await t.latest(b.source, last);
    check(
      sameOffset(idle, last),
      () => `latestOffset(${show(last)}) with no new data must return the start offset, got ${show(idle)}`,
    );
  }
  const m = Math.max(1, Math.floor(n / 3));
  await t.appendInUnits(m, 1);
  const more = await t.drain(b.source, last, m);
  t.checkDelivered([...rowsOf(steps), ...rowsOf(more)], 'rows read directly before and after commit()', {
    count: n + m,
    atLeast: n + m,
  });
  await b.close();
  t.checkNoLeaks();
}

export async function restart<R>(t: SourceTest<R>): Promise<void> {
  const n = t.sizes.records;
  const half = Math.floor(n / 2);
  const cp = await t.scope.tempDir('checkpoint');
  const { gate, memory } = t.newSink();

  const q1 = await t.startQuery(gate, cp);
  await t.appendInUnits(half, 2);
  await t.waitForRows(memory, q1, half);
  await t.stop(q1);
  const before = memory.allRows().length;
  const lastOfFirstRun = Math.max(-1, ...gate.batchIds(q1.generation));

  await t.appendInUnits(n - half, 2);
  const q2 = await t.startQuery(gate, cp);
  await t.waitForRows(memory, q2, t.appendable ? n : before + half);
  await t.stop(q2);

  const rewritten = gate.batchIds(q2.generation).filter((id) => id <= lastOfFirstRun);
  check(
    rewritten.length === 0,
    () =>
      `after a clean stop the restarted query wrote committed batch(es) ${rewritten.join(', ')} again ` +
      `(the first run ended at batch ${lastOfFirstRun})`,
  );
  const rows = memory.allRows();
  check(rows.length > before, () => 'the restarted query delivered nothing new');
  t.checkDelivered(rows, 'rows in the sink after a restart', { count: n, atLeast: before + 1 });
  t.checkInputRowsCounted(rows.length);
  t.checkNoLeaks();
}

export async function crash<R>(t: SourceTest<R>): Promise<void> {
  const n = t.sizes.records;
  const third = Math.max(1, Math.floor(n / 3));
  const cp = await t.scope.tempDir('checkpoint');
  const { gate, memory } = t.newSink();

  const q1 = await t.startQuery(gate, cp);
  await t.appendInUnits(third, 1);
  await t.waitForRows(memory, q1, third);

  // Hold the next batch after the sink wrote it, then stop without committing it.
  const hold = gate.holdNext();
  await t.appendInUnits(third, 1);
  const held = await withTimeout(hold.entered, t.sizes.waitMs, 'a batch to reach the sink');
  // While the batch is held the source may still take in the rest of what was appended (a
  // network source reads in the background); give it a moment, as a later crash would.
  await sleep(100);
  const stopping = q1.query.stop({ abandonCurrentBatch: true });
  hold.release();
  await withTimeout(stopping, t.sizes.waitMs, 'query.stop({ abandonCurrentBatch: true })');
  if (q1.query.exception) throw q1.query.exception;
  const heldRows = gate.attempts.find((a) => a.generation === q1.generation && a.batchId === held)!.rows;
  await access(path.join(cp, 'offsets', String(held))).catch(() =>
    fail(`the held batch ${held} has no offsets/${held} in the checkpoint`),
  );
  const committed = await access(path.join(cp, 'commits', String(held))).then(
    () => true,
    () => false,
  );
  check(
    !committed,
    () => `batch ${held} was committed although the query was stopped with abandonCurrentBatch`,
  );

  // More data arrives while the query is down: the re-run batch must not take any of it.
  await t.appendInUnits(n - 2 * third, 1);
  const q2 = await t.startQuery(gate, cp);
  await t.waitForRows(memory, q2, t.appendable ? n : memory.allRows().length + third);
  await t.stop(q2);

  const rerun = gate.attempts.find((a) => a.generation === q2.generation);
  check(
    rerun?.batchId === held,
    () =>
      `the restarted query must first re-run the uncommitted batch ${held}, but wrote batch ${rerun?.batchId} first`,
  );
  checkSameRows(
    rerun!.rows,
    heldRows,
    true,
    `batch ${held} re-run after the crash vs its first run (same offsets must give the same rows)`,
  );
  const rows = memory.allRows();
  t.checkDelivered(rows, 'rows in the sink after a crash and restart', {
    count: n,
    atLeast: heldRows.length + third,
  });
  t.checkInputRowsCounted(rows.length);
  t.checkNoLeaks();
}

interface BadInput {
  /** Good records in all (indices 0 … good-1 over the test). */
  readonly good: number;
  readonly bad: number;
  /** The first record index of the unit that holds bad records. */
  readonly mixedFrom: number;
}

/** Good records, then good and bad interleaved, then good: three units. */
async function appendWithBadRecords<R>(t: SourceTest<R>): Promise<BadInput> {
  const n = t.sizes.records;
  const third = Math.max(3, Math.floor(n / 3));
  await t.appendGood(third);
  const mixedFrom = t.next;
  const mixed: InputRecord[] = [];
  let bad = 0;
  for (let k = 0; k < third; k++) {
    if (k % 4 === 1) {
      mixed.push('malformed');
      bad++;
    }
    mixed.push(t.next++);
  }
  mixed.push('malformed');
  bad++;
  await t.appendUnit(mixed);
  await t.appendGood(third);
  return { good: t.next, bad, mixedFrom };
}

function requireAppend<R>(t: SourceTest<R>, what: string): void {
  check(t.appendable, () => `${what} needs fixture.append (declare the case not applicable for a generator)`);
}

export async function badRecordsDirect<R>(t: SourceTest<R>): Promise<void> {
  requireAppend(t, 'the bad-records case');
  const v = t.variant!;
  const src = await t.open();
  const { good, bad } = await appendWithBadRecords(t);
  if (v.expect === 'failFast') {
    const got: R[] = [];
    const err = await rejectionOf(
      (async () => {
        let at: Offset | null = null;
        await waitUntil(
          async () => {
            const end = await t.latest(src.source, at);
            if (end === null || sameOffset(end, at)) return false;
            const batch = await t.getBatch(src.source, at, end, 0);
            got.push(...batch.rows);
            at = end;
            return false;
          },
          () => `getBatch to fail on a malformed record (read ${got.length} good rows)`,
          t.sizes.waitMs,
        );
      })(),
      'reading past a malformed record in failFast mode',
    );
    const me = asMillraceError(err, 'getBatch over a malformed record');
    check(me.code === v.code, () => `expected error code ${v.code}, got ${me.code}: ${me.message}`);
    t.checkSecrets(textOf(me), 'the error');
    check(
      got.length < good,
      () => 'every good row came back although the malformed records should have failed the read',
    );
    t.checkDelivered(got, 'rows read before the malformed record', { count: got.length });
    return;
  }
  const expectedRows = v.expect === 'kept' ? good + bad : good;
  const steps = await t.drain(src.source, null, expectedRows);
  const rows = rowsOf(steps);
  t.checkDelivered(rows, 'good rows around malformed records', { count: good });
  if (v.expect === 'kept') {
    const kept = rows.filter((r) => t.isMalformed(r)).length;
    check(kept === bad, () => `expected ${bad} row(s) standing for malformed records, got ${kept}`);
    checkRowsMatchSchema(rows as Row[], t.schema, 'rows kept for malformed records');
  } else {
    const counted = steps.reduce((a, s) => a + (s.batch.malformedRows ?? 0), 0);
    check(
      counted === bad,
      () => `SourceBatch.malformedRows must count the ${bad} malformed record(s) ${v.expect}, got ${counted}`,
    );
  }
  if (v.expect === 'deadLetter') {
    check(!!t.fixture.deadLetters, () => 'the deadLetter variant needs fixture.deadLetters()');
    const dl = await t.fixture.deadLetters!();
    check(
      dl.length === bad,
      () => `expected ${bad} dead-lettered record(s), found ${dl.length}: ${show(dl)}`,
    );
  }
  t.checkNoLeaks();
}

export async function badRecordsQuery<R>(t: SourceTest<R>): Promise<void> {
  requireAppend(t, 'the bad-records case');
  const v = t.variant!;
  const cp = await t.scope.tempDir('checkpoint');
  const { gate, memory } = t.newSink();
  if (v.expect === 'failFast') {
    const q1 = await t.startQuery(gate, cp);
    const first = await t.appendGood(Math.max(1, Math.floor(t.sizes.records / 3)));
    await t.waitForRows(memory, q1, first.length);
    const { mixedFrom } = await appendWithBadRecords(t);
    const err = await withTimeout(
      rejectionOf(q1.query.awaitTermination(), 'the query over a malformed record'),
      t.sizes.waitMs,
      'the query to fail on a malformed record',
    );
    const me = asMillraceError(err, 'the query failure');
    check(
      me.code === v.code,
      () => `expected the query to fail with ${v.code}, got ${me.code}: ${me.message}`,
    );
    check(
      !me.retryable,
      () => `a malformed record is not fixed by retrying: ${me.code} must have retryable false`,
    );
    const name = t.sourceName;
    check(
      me.context.source === name,
      () => `the error must name the source "${name}" in its context, got ${show(me.context)}`,
    );
    t.checkSecrets(textOf(me), 'the error');
    // Committed before the failure: the first records and maybe some or all of the good unit
    // before the mixed one (a batch may end inside it where appends are not atomic, as Kafka's
    // record-by-record produce, at a different record in each partition), nothing of the failing batch.
    const before = memory.allRows();
    t.checkDelivered(before, 'rows delivered before the malformed record', {
      count: first.length,
      upTo: mixedFrom,
    });
    // A restart meets the same record again: it is neither skipped nor lost silently.
    const again = asMillraceError(
      await withTimeout(
        rejectionOf(
          t.startQuery(gate, cp).then((q2) => q2.query.awaitTermination()),
          'the restarted query',
        ),
        t.sizes.waitMs,
        'the restarted query to fail',
      ),
      'the restarted query',
    );
    check(
      again.code === v.code,
      () => `after a restart expected ${v.code} again, got ${again.code}: ${again.message}`,
    );
    t.checkNoLeaks();
    return;
  }
  const { good, bad } = await appendWithBadRecords(t);
  const q = await t.startQuery(gate, cp);
  const expectedRows = v.expect === 'kept' ? good + bad : good;
  await t.waitForRows(memory, q, expectedRows);
  await t.stop(q);
  const rows = memory.allRows();
  t.checkDelivered(rows, 'good rows around malformed records, through a query', { count: good });
  t.checkInputRowsCounted(rows.length);
  if (v.expect === 'kept') {
    const kept = rows.filter((r) => t.isMalformed(r)).length;
    check(kept === bad, () => `expected ${bad} row(s) standing for malformed records, got ${kept}`);
    checkRowsMatchSchema(rows as Row[], t.schema, 'rows kept for malformed records, through a query');
  } else {
    const counted = t.sumProgress('numMalformedRows');
    check(
      counted === bad,
      () =>
        `progress must count the ${bad} malformed record(s) (sources[i].numMalformedRows), got ${counted}`,
    );
  }
  if (v.expect === 'deadLetter') {
    const dl = await t.fixture.deadLetters!();
    check(dl.length === bad, () => `expected ${bad} dead-lettered record(s), found ${dl.length}`);
  }
  t.checkNoLeaks();
}

export async function largeBatch<R>(t: SourceTest<R>): Promise<void> {
  const n = t.sizes.largeBatch;
  const src = await t.open();
  await t.appendInUnits(n, 1);
  const step = await t.oneBatch(src.source, null, n);
  check(step.batch.rows.length >= n, () => `expected one batch of ${n} rows, got ${step.batch.rows.length}`);
  t.checkDelivered(step.batch.rows, `one batch of ${n} rows`, { count: n, atLeast: n });
  await t.checkChunks(src.source, step, 0);
  await src.close();
  t.checkNoLeaks();
}

export async function largeQuery<R>(t: SourceTest<R>): Promise<void> {
  const n = t.sizes.largeBatch;
  const cp = await t.scope.tempDir('checkpoint');
  const { gate, memory } = t.newSink(false);
  await t.appendInUnits(n, 1);
  const q = await t.startQuery(gate, cp);
  await t.waitForRows(memory, q, n);
  await t.stop(q);
  const rows = memory.allRows();
  t.checkDelivered(rows, `${n} rows through a query`, { count: n, atLeast: n });
  t.checkInputRowsCounted(rows.length);
  t.checkNoLeaks();
}

export async function outage<R>(t: SourceTest<R>): Promise<void> {
  const spec = t.harness.outage;
  if (isNotApplicable(spec)) return;
  check(
    t.fixture.stopExternal && t.fixture.startExternal,
    () => 'the outage case needs fixture.stopExternal() and fixture.startExternal()',
  );
  const n = t.sizes.records;
  const third = Math.max(1, Math.floor(n / 3));
  const cp = await t.scope.tempDir('checkpoint');
  const { gate, memory } = t.newSink();
  const q1 = await t.startQuery(gate, cp);
  await t.appendInUnits(third, 1);
  await t.waitForRows(memory, q1, third);

  await t.fixture.stopExternal!();
  let restarted = false;
  t.scope.defer(() => (restarted ? undefined : t.fixture.startExternal!()));
  let q2 = q1;
  if (spec.behaviour === 'recovers') {
    await sleep(t.sizes.outageMs);
    if (q1.query.exception) {
      fail(
        `the harness says the source recovers from an outage, but the query failed: ${String(q1.query.exception)}`,
      );
    }
    check(q1.query.isActive, () => 'the query stopped during the outage');
    await t.fixture.startExternal!();
    restarted = true;
  } else {
    const err = await withTimeout(
      rejectionOf(q1.query.awaitTermination(), 'the query while the external system is away'),
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
    restarted = true;
    q2 = await t.startQuery(gate, cp);
  }
  const afterOutage = memory.allRows().length;
  await t.appendInUnits(third, 1);
  await t.waitForRows(memory, q2, t.appendable ? 2 * third : afterOutage + third);
  await t.stop(q2);

  // And a restart after all that still continues exactly once.
  const before = memory.allRows().length;
  await t.appendInUnits(n - 2 * third, 1);
  const q3 = await t.startQuery(gate, cp);
  await t.waitForRows(memory, q3, t.appendable ? n : before + third);
  await t.stop(q3);
  const rows = memory.allRows();
  t.checkDelivered(rows, 'rows in the sink across an outage and a restart', {
    count: n,
    atLeast: before + 1,
  });
  t.checkInputRowsCounted(rows.length);
  t.checkNoLeaks();
}
