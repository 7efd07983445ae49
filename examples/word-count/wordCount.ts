/**
 * Word count over a TCP socket — the classic first streaming program.
 *
 *   terminal 1:  nc -lk 9999                         (type lines of text)
 *   terminal 2:  npx tsx examples/word-count/wordCount.ts --port 9999
 *
 * Every second, the whole table of counts (complete output mode) is printed.
 * Lines received are written to a write-ahead log in the checkpoint before
 * they are counted, so stopping and restarting loses nothing received.
 */
import { parseArgs } from 'node:util';
import { Trigger, consoleSink, createSession, schema, socketSource, t, type StreamingQuery } from 'millrace';

export interface WordCountOptions {
  readonly host: string;
  readonly port: number;
  readonly checkpointLocation: string;
  /** Where the console sink prints; default stdout. */
  readonly out?: (text: string) => void;
}

/** Starts the word count query and returns it. */
export async function startWordCount(options: WordCountOptions): Promise<StreamingQuery> {
  const session = createSession();
  const lines = session.readStream(socketSource({ host: options.host, port: options.port }));
  const words = lines.flatMap(
    (line) =>
      line.value
        .split(/\s+/)
        .filter((w) => w.length > 0)
        .map((word) => ({ word: word.toLowerCase() })),
    schema({ word: t.string }),
    { name: 'splitWords' },
  );
  const counts = words.groupBy('word').count();
  return counts
    .writeStream({
      queryName: 'word-count',
      sink: consoleSink({ numRows: 50, ...(options.out ? { out: options.out } : {}) }),
      outputMode: 'complete',
      trigger: Trigger.processingTime('1 second'),
      checkpointLocation: options.checkpointLocation,
    })
    .start();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '9999' },
      checkpoint: { type: 'string', default: '.millrace/word-count' },
    },
  });
  const query = await startWordCount({
    host: values.host,
    port: Number(values.port),
    checkpointLocation: values.checkpoint,
  });
  console.error(
    `Counting words from ${values.host}:${values.port} (start \`nc -lk ${values.port}\` and type). Ctrl-C stops.`,
  );
  const stop = () => void query.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await query.awaitTermination();
}
