/**
 * @millrace/mqtt — MQTT source (QoS 1; the PUBACK goes out only once the
 * message is durable in a write-ahead log in the checkpoint; persistent
 * session; shared subscriptions) and sink (QoS 1) for IoT sensors.
 */
export {
  mqttSource,
  MQTT_METADATA,
  ID_PROPERTY,
  BATCH_PROPERTY,
  type MqttSourceOptions,
  type MqttMetadata,
  type MqttMetadataColumn,
  type MqttStringRow,
  type MqttBytesRow,
} from './MqttSource.ts';
export { mqttSink, MqttSink, type MqttSinkOptions } from './MqttSink.ts';
export type { MqttConnectionOptions, MqttTlsOptions } from './connection.ts';
export { WalSource } from '@millrace/log';
export type { WalJsonFormat as JsonFormat } from '@millrace/log';
