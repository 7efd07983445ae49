/**
 * IoT sensors over MQTT → average temperature per sensor per 10-second window → alerts over MQTT.
 *
 *   npx tsx packages/mqtt/examples/sensor-alerts.ts
 *   MQTT_URL=mqtts://broker.example.com:8883 MQTT_USERNAME=plant MQTT_PASSWORD=… npx tsx packages/mqtt/examples/sensor-alerts.ts --checkpoint .millrace/sensors
 *
 *   sensors/<id>/temperature ──► mqttSource (QoS 1, session kept, PUBACK after the WAL fsync)
 *     (simulated: --sensors N,          │ json { celsius, at } + the topic
 *      one reading per sensor            ▼
 *      every 100 ms)            window(10 s) × sensor: avg, max   ──► avg > --threshold
 *                                                                       │ update mode
 *                                                                       ▼
 *                                       mqttSink QoS 1 ──► alerts/<sensor>  (printed by a subscriber here)
 *
 * Run it twice with the same --checkpoint: the broker keeps the readings published while the query
 * is down (persistent session under the client id), and the second run reads them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as mqtt from 'mqtt';
import { avg, createSession, jsonLogger, max, schema, t, Trigger, window } from 'millrace';
import { mqttSink, mqttSource } from '../src/index.ts';

const { values: args } = parseArgs({
  options: {
    sensors: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '12' },
    threshold: { type: 'string', default: '30' },
    checkpoint: { type: 'string' },
  },
});
const url = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const credentials = { username: process.env.MQTT_USERNAME, password: process.env.MQTT_PASSWORD };
const checkpointLocation = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-sensors-'));
const sensors = Number(args.sensors);
const threshold = Number(args.threshold);

// The query: readings → windowed averages → alerts.
const session = createSession({ log: jsonLogger('warn') });
const readings = session.readStream(
  mqttSource({
    url,
    ...credentials,
    topics: 'sensors/+/temperature',
    clientId: 'millrace-sensor-alerts', // the broker keeps this session's messages while the query is down
    format: { json: schema({ celsius: t.double, at: t.timestamp }), metadata: ['topic'] },
  }),
);
const alerts = readings
  .withWatermark('at', '5 seconds')
  .groupBy(($) => ({ window: window($.at, '10 seconds'), topic: $.topic }))
  .agg(($) => ({ avgCelsius: avg($.celsius), maxCelsius: max($.celsius) }))
  .filter(($) => $.avgCelsius.gt(threshold))
  .map(
    (r) => ({
      sensor: (r.topic as string).split('/')[1]!,
      window_start: (r.window as { start: number }).start,
      avg_celsius: Math.round((r.avgCelsius as number) * 10) / 10,
      max_celsius: r.maxCelsius as number,
    }),
    schema({
      sensor: t.string,
      window_start: t.timestamp,
      avg_celsius: t.double,
      max_celsius: t.double.orNull(),
    }),
  );
const query = await alerts
  .writeStream({
    queryName: 'sensor-alerts',
    sink: mqttSink({ url, ...credentials, topic: (r) => `alerts/${String(r.sensor)}` }),
    outputMode: 'update',
    checkpointLocation,
    trigger: Trigger.processingTime('1 second'),
  })
  .start();

// Something that listens for alerts, and simulated sensors (sensor 0 runs hot).
const listener = await mqtt.connectAsync(url, credentials);
listener.on('message', (topic, payload) => console.log(`${topic}  ${payload.toString()}`));
await listener.subscribeAsync('alerts/#', { qos: 1 });
const devices = await mqtt.connectAsync(url, credentials);
let tick = 0;
const timer = setInterval(() => {
  tick++;
  for (let s = 0; s < sensors; s++) {
    const celsius = (s === 0 ? 33 : 21) + Math.sin((tick + s) / 7) * 2;
    void devices.publishAsync(
      `sensors/sensor-${s}/temperature`,
      JSON.stringify({ celsius, at: new Date().toISOString() }),
      { qos: 1 },
    );
  }
}, 100);

await new Promise((r) => setTimeout(r, Number(args.seconds) * 1000));
clearInterval(timer);
await query.stop();
const p = query.lastProgress;
console.log(`stopped after batch ${p?.batchId}; source metrics: ${JSON.stringify(p?.sources[0]?.metrics)}`);
console.log(`checkpoint: ${checkpointLocation}`);
await devices.endAsync();
await listener.endAsync();
