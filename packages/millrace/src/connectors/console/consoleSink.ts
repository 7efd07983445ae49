/**
 * `consoleSink`: Spark's console sink, for development. Prints every batch as
 *
 *   -------------------------------------------
 *   Batch: 3
 *   -------------------------------------------
 *   +---+-----+
 *   | id| name|
 *   ...
 *
 * followed by an empty line, in one write (batches never interleave). A
 * replayed batch is printed again (at-least-once).
 */
import type { Sink, SinkBatchInfo, SinkContext, SinkWriteResult } from '../contracts.ts';
import { userError } from '../../errors/index.ts';
import type { Row, Schema } from '../../schema/index.ts';
import { formatTable } from './formatTable.ts';

export interface ConsoleSinkOptions {
  /** Unique within the query; default `console`. */
  name?: string;
  /** Rows printed per batch; default 20. */
  numRows?: number;
  /** Cut cell text to 20 characters (true, default), never (false), or to a number of characters. */
  truncate?: boolean | number;
  /** Where the text goes; default process.stdout. */
  out?: (text: string) => void;
}

const RULE = '-------------------------------------------';

export function consoleSink(options: ConsoleSinkOptions = {}): Sink {
  if (options === null || typeof options !== 'object') {
    throw userError(
      'INVALID_OPTION',
      `consoleSink: expected an options object like { numRows: 20 }, got ${String(options)}`,
    );
  }
  const name = options.name ?? 'console';
  if (typeof name !== 'string' || name.trim() === '') {
    throw userError('INVALID_OPTION', `consoleSink: name ${JSON.stringify(name)} must be a non-empty string`);
  }
  const numRows = options.numRows ?? 20;
  if (!Number.isSafeInteger(numRows) || numRows < 0) {
    throw userError(
      'INVALID_OPTION',
      `consoleSink "${name}": numRows ${JSON.stringify(options.numRows)} must be a non-negative integer, e.g. { numRows: 20 }`,
      { sink: name },
    );
  }
  const truncate = options.truncate ?? true;
  if (typeof truncate !== 'boolean' && !(Number.isSafeInteger(truncate) && truncate >= 0)) {
    throw userError(
      'INVALID_OPTION',
      `consoleSink "${name}": truncate ${JSON.stringify(options.truncate)} must be true, false or a non-negative number of characters`,
      { sink: name },
    );
  }
  if (options.out !== undefined && typeof options.out !== 'function') {
    throw userError(
      'INVALID_OPTION',
      `consoleSink "${name}": out must be a function (text: string) => void`,
      {
        sink: name,
      },
    );
  }
  const out = options.out ?? ((text: string) => void process.stdout.write(text));

  let schema: Schema | undefined;
  return {
    name,
    guarantee: 'at-least-once',
    describe: () => `ConsoleSink[numRows=${numRows}, truncate=${truncate}]`,
    async open(ctx: SinkContext): Promise<void> {
      schema = ctx.schema;
    },
    async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
      if (!schema) {
        throw userError('NOT_OPEN', `consoleSink "${name}": open() must be called before addBatch()`, {
          sink: name,
        });
      }
      out(`${RULE}\nBatch: ${info.batchId}\n${RULE}\n${formatTable(rows, schema, { numRows, truncate })}\n`);
      return { rowsWritten: rows.length };
    },
    async close(): Promise<void> {},
  };
}
