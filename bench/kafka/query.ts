/**
 * The engine's query of the Kafka benchmark, in a module of its own: runner.ts imports it, and so
 * does each worker thread of the `engine-workers` measurement (to build the same plan). Importing
 * it starts nothing.
 */
import { type Session, bidSchema } from 'millrace';
import { kafkaSource } from '@millrace/kafka';

export interface KafkaBidsArgs {
  readonly bootstrap: string;
  readonly pattern: string;
  readonly maxOffsetsPerTrigger: number;
  readonly chunked: boolean;
}

/** Every bid of the benchmark's topics, decoded from JSON into the Nexmark bid schema. */
export function kafkaBids(session: Session, o: KafkaBidsArgs) {
  return session.readStream(
    kafkaSource({
      name: 'bids',
      bootstrapServers: o.bootstrap,
      subscribePattern: o.pattern,
      startingOffsets: 'earliest',
      format: { json: bidSchema, mode: 'failFast' },
      maxOffsetsPerTrigger: o.maxOffsetsPerTrigger,
      chunked: o.chunked,
    }),
  );
}
