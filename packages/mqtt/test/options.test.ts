/** Options are checked when the source or sink is made; the password never shows in describe(). */
import { expect, it } from 'vitest';
import { MillraceError } from 'millrace';
import { mqttSink, mqttSource } from '../src/index.ts';

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
  expect(thrown(() => mqttSource({ topics: 'a', qos: 2 } as never)).message).toMatch(/unknown option "qos"/);
  expect(thrown(() => mqttSource({ topics: [] })).message).toMatch(/"topics" must be/);
  expect(thrown(() => mqttSource({ topics: 'a', url: 'amqp://x' })).message).toMatch(/mqtt:\/\//);
  expect(thrown(() => mqttSource({ topics: 'a', shareGroup: 'a/b' })).message).toMatch(/shareGroup/);
  expect(thrown(() => mqttSource({ topics: 'a', tls: {} })).message).toMatch(/needs an mqtts:\/\//);
  expect(thrown(() => mqttSink({ topic: 'alerts/#' })).message).toMatch(/without wildcards/);
});

it('keeps the password out of describe(); shareGroup makes shared subscriptions', () => {
  const s = mqttSource({ topics: 'sensors/#', url: 'mqtts://plant:pw-99x@broker:8883', shareGroup: 'g1' });
  expect(s.describe()).toBe(
    'MqttSource[mqtts://plant:***@broker:8883, topics=$share/g1/sensors/#, clientId=millrace-mqtt-sensors_]',
  );
  const k = mqttSink({ topic: 'out', url: 'mqtt://broker', username: 'u', password: 'pw-99x' });
  expect(k.describe()).not.toContain('pw-99x');
});
