/**
 * What a connector author hands to the conformance suite: a *harness* (static
 * facts, known when the tests are registered) whose `create()` builds a
 * *fixture* (one fresh, empty external system per test, with the means to feed,
 * read, break and mend it). See index.ts for the protocol and an example.
 */
import type { OutputMode, Sink, Source } from '../../connectors/contracts.ts';
import type { Row, Schema } from '../../schema/index.ts';

/** Used instead of a capability the connector cannot have; the reason is documentation, read by people. */
export interface NotApplicable {
  readonly notApplicable: string;
}

export function isNotApplicable(x: unknown): x is NotApplicable {
  return typeof x === 'object' && x !== null && 'notApplicable' in x;
}

/** One test of the suite: what `it()` gets. */
export interface ConformanceCase<Case extends string = string> {
  readonly title: string;
  readonly testCase: Case;
  /** Runs the case in a fresh fixture; rejects with what is wrong. */
  run(): Promise<void>;
}

export interface ConformanceCases<Case extends string> {
  /** The describe() title. */
  readonly title: string;
  readonly sizes: ConformanceSizes;
  readonly cases: readonly ConformanceCase<Case>[];
}

/** Sizes and waits; every field has a default (in parentheses). */
export interface ConformanceSizes {
  /** Records (sources) or rows (sinks) in the ordinary cases (300). */
  readonly records: number;
  /** Records in the large-batch case (100,000). Lower it only for a system that cannot hold that many. */
  readonly largeBatch: number;
  /** The longest wait for data to arrive or for a query to react, in ms (15,000). */
  readonly waitMs: number;
  /** How long the external system stays away in the outage case, in ms (300). */
  readonly outageMs: number;
  /** Timeout of each test, in ms (60,000). */
  readonly testTimeoutMs: number;
}

export const DEFAULT_SIZES: ConformanceSizes = {
  records: 300,
  largeBatch: 100_000,
  waitMs: 15_000,
  outageMs: 300,
  testTimeoutMs: 60_000,
};

/** Given to `create()`: which case the fixture is for, and per-test resources. */
export interface FixtureContext<Case extends string> {
  /** The case being run, so a harness can configure for it (e.g. a larger per-batch limit for `largeBatch`). */
  readonly testCase: Case;
  readonly sizes: ConformanceSizes;
  /** A new empty directory, removed after the test. */
  tempDir(name?: string): Promise<string>;
  /** `<prefix>_<random>`: unique per call, for topics, tables, consumer groups (letters, digits, `_`). */
  uniqueName(prefix: string): string;
}

// ---- sources ----------------------------------------------------------------

export type SourceCase = 'contract' | 'replay' | 'restart' | 'crash' | 'badRecords' | 'largeBatch' | 'outage';

/** A good record (its index, numbered 0, 1, 2… by the suite) or a malformed one at that place. */
export type InputRecord = number | 'malformed';

/**
 * How the source treats a malformed record, one test per variant:
 * - `dropped`: left out and counted (`SourceBatch.malformedRows`, progress `numMalformedRows`).
 * - `deadLetter`: like dropped, and `fixture.deadLetters()` holds every one of them.
 * - `failFast`: reading the batch fails with a MillraceError of `code` naming the source.
 * - `kept`: a row stands for it (Spark's permissive mode); `isMalformed(row)` picks those rows out.
 */
export type BadRecordVariant<R> =
  | { readonly name: string; readonly expect: 'dropped' | 'deadLetter' }
  | { readonly name: string; readonly expect: 'failFast'; readonly code: string }
  | { readonly name: string; readonly expect: 'kept'; isMalformed(row: R): boolean };

/**
 * What happens when the external system goes away while a query runs:
 * - `recovers`: the source keeps retrying; the query stays up and carries on when it is back.
 * - `fails`: the query fails with a retryable, external MillraceError (of `code` if given);
 *   a restart once the system is back continues exactly once.
 */
export type SourceOutage =
  { readonly behaviour: 'recovers' } | { readonly behaviour: 'fails'; readonly code?: string };

export interface SourceHarness<R> {
  /** Build a fresh, empty external system for one test. */
  create(ctx: SourceFixtureContext<R>): Promise<SourceFixture<R>>;
  /**
   * Order in which rows of the appended (or generated) records arrive:
   * `total` (by index), `perPartition` (by index within `fixture.partition(row)`), `none`.
   */
  readonly order: 'total' | 'perPartition' | 'none';
  readonly badRecords: { readonly variants: readonly BadRecordVariant<R>[] } | NotApplicable;
  readonly outage: SourceOutage | NotApplicable;
  readonly sizes?: Partial<ConformanceSizes>;
  /** Strings that must never appear in describe(), errors, logs or progress (passwords, tokens). */
  readonly secrets?: readonly string[];
}

export interface SourceFixtureContext<R> extends FixtureContext<SourceCase> {
  /** In the `badRecords` case: the variant under test (configure the source's mode for it). */
  readonly badRecords?: BadRecordVariant<R>;
}

export interface SourceFixture<R> {
  /**
   * A NEW Source over this fixture's system, with the same name and options on every call:
   * the suite restarts by closing one instance and opening another on the same state directory.
   */
  source(): Source<R>;
  /**
   * Put records into the system as one unit (one file, one write, one produce call), in order.
   * Resolves once the system holds them (the source may see them a little later).
   * Leave it out for a source that generates its own records (rate, Nexmark): the suite then
   * checks that rows form a gap-free, duplicate-free prefix of the generated sequence.
   */
  append?(records: readonly InputRecord[]): Promise<void>;
  /** The index of the record a row came from (for a generator: its position in the generated sequence). */
  index(row: R): number;
  /** The full row expected for record `i`; when given, row contents are compared too. */
  expectedRow?(i: number): R;
  /** The partition of a row, when `order` is `perPartition`. */
  partition?(row: R): string | number;
  /** Every malformed record the source dead-lettered so far (for the `deadLetter` variant). */
  deadLetters?(): Promise<readonly unknown[]>;
  /** Make the external system go away (for the outage case) … */
  stopExternal?(): Promise<void>;
  /** … and come back. */
  startExternal?(): Promise<void>;
  /** Release what create() made (servers, topics); temp dirs are removed by the suite. */
  cleanup?(): Promise<void>;
}

// ---- sinks --------------------------------------------------------------------

export type SinkCase =
  'contract' | 'replay' | 'types' | 'largeBatch' | 'restart' | 'crash' | 'outputModes' | 'outage';

/** What a sink instance is opened for. */
export interface SinkSpec {
  readonly schema: Schema;
  readonly outputMode: OutputMode;
  /** Columns identifying a result row in update/complete mode (the grouping keys); empty in append mode. */
  readonly key: readonly string[];
}

/**
 * What happens when the external system goes away during addBatch:
 * - `retries`: addBatch waits and succeeds once the system is back.
 * - `fails`: addBatch rejects with a retryable, external MillraceError (of `code` if given);
 *   the same batch id written again after it is back (as a restarted query does) lands once.
 */
export type SinkOutage =
  { readonly behaviour: 'retries' } | { readonly behaviour: 'fails'; readonly code?: string };

export interface SinkHarness {
  create(ctx: FixtureContext<SinkCase>): Promise<SinkFixture>;
  /**
   * Output modes the sink supports; each is run through real queries. Modes left out must be
   * refused at start() (the sink lists its modes in `supportedOutputModes`).
   */
  readonly outputModes: readonly OutputMode[];
  readonly outage: SinkOutage | NotApplicable;
  /** Whether `readBack` returns append-mode rows in the order written (batch by batch). Default false. */
  readonly ordered?: boolean;
  readonly sizes?: Partial<ConformanceSizes>;
  /** Strings that must never appear in describe(), errors, logs or progress (passwords, tokens). */
  readonly secrets?: readonly string[];
}

export interface SinkFixture {
  /** The rows of the generic cases: a schema with every type the sink supports… */
  readonly schema: Schema;
  /** …and row `i` of it (distinct for distinct i). `allTypesSchema`/`allTypesRow` are ready-made. */
  row(i: number): Row;
  /**
   * A NEW sink instance over the same external location; a restart makes another one. (A sink whose
   * storage is the object itself, like memorySink, returns that object: it is the "system".)
   */
  sink(spec: SinkSpec): Sink;
  /**
   * What the external system holds, read without the sink, in Millrace's runtime types:
   * append → every row written; update/complete → the result table (one row per key).
   * At-least-once sinks may return duplicates.
   */
  readBack(spec: SinkSpec): Promise<Row[]>;
  stopExternal?(): Promise<void>;
  startExternal?(): Promise<void>;
  cleanup?(): Promise<void>;
}
