/**
 * Options are checked when the source or sink is made, with errors that name the option; the
 * password never shows in describe() or in the error of a refused login.
 */
import { afterAll, expect, it } from 'vitest';
import { MillraceError, createSession, memorySink, silentLogger } from 'millrace';
import { rabbitmqSink, rabbitmqSource } from '../src/index.ts';
import { cleanup, tempDir, uniqueQueue } from './helpers.ts';

afterAll(cleanup);

function thrown(f: () => unknown): MillraceError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    return e as MillraceError;
  }
  throw new Error('expected a MillraceError');
}

it('refuses bad options with the option named', () => {
  expect(thrown(() => rabbitmqSource({ queue: 'q', prefetsh: 10 } as never)).message).toMatch(
    /unknown option "prefetsh"/,
  );
  expect(thrown(() => rabbitmqSource({ queue: '' })).message).toMatch(/"queue" must be a non-empty string/);
  expect(thrown(() => rabbitmqSource({ queue: 'q', url: 'http://x' })).message).toMatch(
    /amqp:\/\/ or amqps:\/\//,
  );
  expect(thrown(() => rabbitmqSource({ queue: 'q', tls: {} })).message).toMatch(/needs an amqps:\/\/ URL/);
  expect(thrown(() => rabbitmqSource({ queue: 'q', format: { json: 'x' } as never })).message).toMatch(
    /format.json/,
  );
  expect(thrown(() => rabbitmqSink({ queue: 'q', exchange: 'e' })).message).toMatch(
    /exactly one of "exchange"/,
  );
});

it('keeps the password out of describe()', () => {
  const s = rabbitmqSource({ queue: 'q', url: 'amqp://app:s3cr3t-pw@mq:5672/shop' });
  expect(s.describe()).toBe('RabbitMqSource[amqp://app:***@mq:5672/shop, queue=q]');
  const k = rabbitmqSink({ queue: 'q', url: 'amqps://mq', username: 'app', password: 'p@ss/w0rd' });
  expect(k.describe()).toBe('RabbitMqSink[amqps://app:***@mq, queue=q]');
});

it('a refused login fails the query with RABBITMQ_AUTH, without the password', async () => {
  const q = await createSession({ log: silentLogger })
    .readStream(
      rabbitmqSource({ queue: uniqueQueue('auth'), url: 'amqp://guest:wrong-pw-7731@127.0.0.1:5672' }),
    )
    .writeStream({ sink: memorySink(), checkpointLocation: tempDir() })
    .start()
    .then(
      () => null,
      (e: unknown) => e,
    );
  const err = q as MillraceError;
  expect(err.code).toBe('RABBITMQ_AUTH');
  expect(err.domain).toBe('user');
  expect(`${err.message} ${JSON.stringify(err.context)}`).not.toContain('wrong-pw-7731');
});
