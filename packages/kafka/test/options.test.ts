/**
 * Bad options fail at construction with a MillraceError naming the option (no cluster needed);
 * values only librdkafka can judge fail open() the same way.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MillraceError, schema, t } from 'millrace';
import { kafkaSink, kafkaSource, loadKafkaClient } from '../src/index.ts';
import { cleanupDirs, connectorContext, sinkContext } from './helpers.ts';

const bootstrapServers = '127.0.0.1:9092';

function error(fn: () => unknown): MillraceError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    return e as MillraceError;
  }
  throw new Error('expected an error');
}

describe('kafkaSource options', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['no options', () => kafkaSource(undefined as never), /pass an options object/],
    ['no bootstrap', () => kafkaSource({ subscribe: 't' } as never), /"bootstrapServers" is required/],
    [
      'bad bootstrap',
      () => kafkaSource({ bootstrapServers: 'localhost', subscribe: 't' }),
      /"localhost" is not host:port/,
    ],
    [
      'nothing to read',
      () => kafkaSource({ bootstrapServers }),
      /exactly one of "subscribe".*"subscribePattern".*"assign"/,
    ],
    [
      'two subscriptions',
      () => kafkaSource({ bootstrapServers, subscribe: 't', assign: { t: [0] } }),
      /not "subscribe" and "assign"/,
    ],
    [
      'bad topic name',
      () => kafkaSource({ bootstrapServers, subscribe: 'a b' }),
      /"a b" is not a valid Kafka topic name/,
    ],
    ['empty topic list', () => kafkaSource({ bootstrapServers, subscribe: [] }), /non-empty list/],
    [
      'bad pattern',
      () => kafkaSource({ bootstrapServers, subscribePattern: '(' }),
      /not a valid regular expression/,
    ],
    ['bad assign JSON', () => kafkaSource({ bootstrapServers, assign: '{t:' }), /"assign" is not valid JSON/],
    [
      'bad assign partitions',
      () => kafkaSource({ bootstrapServers, assign: { t: [-1] } }),
      /partition numbers/,
    ],
    [
      'bad startingOffsets',
      () => kafkaSource({ bootstrapServers, subscribe: 't', startingOffsets: 'newest' }),
      /"startingOffsets" is not valid JSON.*'earliest', 'latest'/,
    ],
    [
      'startingOffsets for another topic',
      () => kafkaSource({ bootstrapServers, subscribe: 't', startingOffsets: { u: { '0': 1 } } }),
      /names topic "u", which is not in "subscribe"/,
    ],
    [
      'bad maxOffsetsPerTrigger',
      () => kafkaSource({ bootstrapServers, subscribe: 't', maxOffsetsPerTrigger: 0 }),
      /"maxOffsetsPerTrigger" must be a whole number >= 1, got 0/,
    ],
    [
      'bad failOnDataLoss',
      () => kafkaSource({ bootstrapServers, subscribe: 't', failOnDataLoss: 'no' as never }),
      /"failOnDataLoss" must be true or false/,
    ],
    [
      'bad isolationLevel',
      () => kafkaSource({ bootstrapServers, subscribe: 't', isolationLevel: 'serializable' as never }),
      /"isolationLevel" must be 'read_committed' or 'read_uncommitted'/,
    ],
    [
      'managed kafka option',
      () => kafkaSource({ bootstrapServers, subscribe: 't', kafkaOptions: { 'enable.auto.commit': true } }),
      /kafkaOptions\["enable.auto.commit"\] is set by Millrace: offsets live in the checkpoint/,
    ],
    [
      'bad kafka option value',
      () =>
        kafkaSource({ bootstrapServers, subscribe: 't', kafkaOptions: { 'fetch.max.bytes': null as never } }),
      /kafkaOptions\["fetch.max.bytes"\] must be a string, number or boolean/,
    ],
  ];
  for (const [what, fn, msg] of cases) {
    it(what, () => {
      const e = error(fn);
      expect(e.code).toBe('INVALID_OPTION');
      expect(e.domain).toBe('user');
      expect(e.message).toMatch(msg);
    });
  }

  it('describe() names the subscription and redacts secrets', () => {
    const s = kafkaSource({
      bootstrapServers,
      subscribePattern: 'bids-.*',
      maxOffsetsPerTrigger: 10,
      kafkaOptions: {
        'security.protocol': 'sasl_ssl',
        'sasl.password': 's3cret',
        'sasl.oauthbearer.client.secret': 'x',
      },
    });
    expect(s.name).toBe('kafka-pattern');
    expect(s.describe()).toBe(
      `KafkaSource[subscribePattern=bids-.*, bootstrap=${bootstrapServers}, format=bytes, maxOffsetsPerTrigger=10, ` +
        'security.protocol=sasl_ssl, sasl.password=***, sasl.oauthbearer.client.secret=***]',
    );
  });

  it('default names follow the first topic; sources stream their batches unless chunked: false', () => {
    expect(kafkaSource({ bootstrapServers, subscribe: ['a', 'b'] }).name).toBe('kafka-a');
    expect(kafkaSource({ bootstrapServers, assign: { z: [0] } }).name).toBe('kafka-z');
    expect(typeof kafkaSource({ bootstrapServers, subscribe: 'a' }).getBatchChunks).toBe('function');
    expect(kafkaSource({ bootstrapServers, subscribe: 'a', chunked: false }).getBatchChunks).toBeUndefined();
  });
});

describe('kafkaSink options', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['no bootstrap', () => kafkaSink({ topic: 't' } as never), /"bootstrapServers" is required/],
    ['bad topic', () => kafkaSink({ bootstrapServers, topic: 'a/b' }), /not a valid Kafka topic name/],
    [
      'bad format',
      () => kafkaSink({ bootstrapServers, topic: 't', format: 'avro' as never }),
      /unknown "format" "avro"/,
    ],
    [
      'transactionalId without transactions',
      () => kafkaSink({ bootstrapServers, topic: 't', transactional: false, transactionalId: 'x' }),
      /"transactionalId" needs transactional: true/,
    ],
    [
      'control topic = topic',
      () => kafkaSink({ bootstrapServers, topic: 't', controlTopic: 't' }),
      /"topic" and "controlTopic" must differ/,
    ],
    [
      'bad compression',
      () => kafkaSink({ bootstrapServers, topic: 't', compression: 'brotli' as never }),
      /"compression" must be one of/,
    ],
    [
      'bad lingerMs',
      () => kafkaSink({ bootstrapServers, topic: 't', lingerMs: -1 }),
      /"lingerMs" must be a whole number >= 0/,
    ],
    [
      'managed kafka option',
      () => kafkaSink({ bootstrapServers, topic: 't', kafkaOptions: { 'enable.idempotence': false } }),
      /always uses an idempotent producer/,
    ],
  ];
  for (const [what, fn, msg] of cases) {
    it(what, () => {
      const e = error(fn);
      expect(e.code).toBe('INVALID_OPTION');
      expect(e.message).toMatch(msg);
    });
  }
});

describe('the client is optional', () => {
  it('a missing client says how to install it', async () => {
    const e = (await loadKafkaClient('@confluentinc/kafka-javascript-not-installed').catch(
      (x: unknown) => x,
    )) as MillraceError;
    expect(e).toBeInstanceOf(MillraceError);
    expect(e.code).toBe('KAFKA_CLIENT_MISSING');
    expect(e.message).toContain('librdkafka-dev');
    expect(e.message).toContain('CKJS_LINKING=dynamic npm ci');
  });

  it('the installed client loads once', async () => {
    const a = await loadKafkaClient();
    expect(await loadKafkaClient()).toBe(a);
    expect(typeof a.KafkaConsumer).toBe('function');
  });
});

describe('a configuration librdkafka refuses', () => {
  afterAll(cleanupDirs);
  // Checked by librdkafka when open() builds the client: a bad option, before any connection.
  const kafkaOptions = { 'socket.timeout.ms': 'soon', 'sasl.password': 'refused-secret-93b' };

  it('fails the source’s open() as a bad option, without the secrets', async () => {
    const source = kafkaSource({ bootstrapServers, subscribe: 't', kafkaOptions });
    const e = (await source.open(connectorContext()).catch((x: unknown) => x)) as MillraceError;
    expect(e).toBeInstanceOf(MillraceError);
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.domain).toBe('user');
    expect(e.message).toContain('kafkaSource "kafka-t": librdkafka refused the client configuration');
    expect(e.message).toContain('socket.timeout.ms');
    expect(JSON.stringify([e.message, e.context])).not.toContain('refused-secret-93b');
    await source.close();
  });

  it('fails the sink’s open() as a bad option', async () => {
    const sink = kafkaSink({ bootstrapServers, topic: 't', kafkaOptions });
    const e = (await sink
      .open(sinkContext(schema({ value: t.string })))
      .catch((x: unknown) => x)) as MillraceError;
    expect(e).toBeInstanceOf(MillraceError);
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.message).toContain('kafkaSink "kafka-t": librdkafka refused the client configuration');
    expect(e.message).toContain('socket.timeout.ms');
    expect(e.message).not.toContain('refused-secret-93b');
    await sink.close();
  });
});
