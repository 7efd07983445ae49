/**
 * The e-commerce scenario over Kafka instead of the embedded log: the generator is itself a
 * Millrace query (shopSource → kafkaSink, JSON values keyed by user, transactional: each block is
 * written exactly once even across restarts), and the queries read the topic with kafkaSource.
 */
import { type Sink, type Stream, Trigger, type Session, type WriteStreamOptions } from 'millrace';
import { kafkaSink, kafkaSource } from '@millrace/kafka';
import type { ShopConfig, ShopEvent } from './generator.ts';
import { shopEventSchema, shopSource } from './shopSource.ts';

/** Events of the shop topic as a stream. */
export function kafkaShopEvents(
  session: Session,
  bootstrapServers: string,
  topic: string,
): Stream<ShopEvent> {
  return session.readStream(
    kafkaSource({
      name: 'shop-events',
      bootstrapServers,
      subscribe: topic,
      startingOffsets: 'earliest',
      format: { json: shopEventSchema },
    }),
  ) as unknown as Stream<ShopEvent>;
}

/** The generator as a query writing to Kafka: realTime (or all blocks up to maxBlocks at once). */
export function kafkaGenerator(
  session: Session,
  options: {
    readonly bootstrapServers: string;
    readonly topic: string;
    readonly config: ShopConfig;
    readonly checkpointLocation: string;
    readonly realTime?: boolean;
    readonly maxBlocks?: number;
    /** Default true (exactly once); false: at-least-once. */
    readonly transactional?: boolean;
  },
): { stream: Stream<ShopEvent>; write: WriteStreamOptions } {
  const stream = session.readStream(
    shopSource({
      name: 'shop-generator',
      config: options.config,
      realTime: options.realTime ?? false,
      ...(options.maxBlocks !== undefined ? { maxBlocks: options.maxBlocks } : {}),
    }),
  );
  const sink: Sink = kafkaSink({
    name: 'shop-events',
    bootstrapServers: options.bootstrapServers,
    topic: options.topic,
    format: { json: true, keyColumn: 'userId' },
    transactional: options.transactional ?? true,
  });
  return {
    stream,
    write: {
      queryName: 'shop-generator',
      sink,
      checkpointLocation: options.checkpointLocation,
      trigger: options.realTime ? Trigger.processingTime('500 milliseconds') : Trigger.availableNow(),
    },
  };
}
