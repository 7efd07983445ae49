/**
 * readKafkaSinkCommits: the commit markers of transactional Kafka sinks, for audits and
 * tests — which micro-batch wrote which offset range of which partition, and when.
 */
import { type Logger, silentLogger } from 'millrace';
import { type KafkaOptions, validateBootstrap, validateKafkaOptions } from '../client/config.ts';
import { loadKafkaClient } from '../client/loadClient.ts';
import { configureConsume, connect, disconnect, newClient, routeClientEvents } from '../client/native.ts';
import { type CommitMarker, DEFAULT_CONTROL_TOPIC, markerKey, readAllMarkers } from './commitMarkers.ts';

export interface ReadKafkaSinkCommitsOptions {
  readonly bootstrapServers: string;
  /** Default `_millrace_sink_commits`. */
  readonly controlTopic?: string;
  /** Only this query's and sink's markers (both needed to filter). */
  readonly queryId?: string;
  readonly sink?: string;
  readonly kafkaOptions?: KafkaOptions;
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

/** Committed markers (read_committed), oldest first. */
export async function readKafkaSinkCommits(options: ReadKafkaSinkCommitsOptions): Promise<CommitMarker[]> {
  const where = 'readKafkaSinkCommits';
  const bootstrap = validateBootstrap(where, options.bootstrapServers);
  const kafkaOptions = validateKafkaOptions(where, options.kafkaOptions, {});
  const timeoutMs = options.timeoutMs ?? 30_000;
  const Kafka = await loadKafkaClient();
  const env = { bootstrap, kafkaOptions, log: options.log ?? silentLogger, owner: { reader: where } };
  const consumer = newClient(
    () =>
      new Kafka.KafkaConsumer(
        {
          'bootstrap.servers': bootstrap,
          'group.id': 'millrace-commit-reader',
          'enable.auto.commit': false,
          'enable.partition.eof': false,
          'isolation.level': 'read_committed',
          ...kafkaOptions,
        },
        {},
      ),
    where,
    env,
  );
  routeClientEvents(consumer, env);
  await connect(consumer, timeoutMs, env, `${where}: connecting`);
  try {
    configureConsume(consumer, 200);
    const key =
      options.queryId !== undefined && options.sink !== undefined
        ? markerKey(options.queryId, options.sink)
        : null;
    const all = await readAllMarkers(
      { consumer, env, controlTopic: options.controlTopic ?? DEFAULT_CONTROL_TOPIC, timeoutMs },
      key,
    );
    return options.queryId !== undefined && key === null
      ? all.filter((m) => m.queryId === options.queryId)
      : all;
  } finally {
    await disconnect(consumer, 2_000);
  }
}
