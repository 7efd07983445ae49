/**
 * Loads the Kafka client (`@confluentinc/kafka-javascript`, librdkafka bindings) on first use.
 *
 * It is an optional dependency: its native build can fail on a machine, and the rest of
 * Millrace must still load there. So nothing imports it statically; `open()` of a source or
 * sink calls `loadKafkaClient()`, and a missing or broken build becomes one clear error.
 */
import { MillraceError } from 'millrace';
import type * as Kafka from '@confluentinc/kafka-javascript';

/** The parts of the client module Millrace uses (the CommonJS module object). */
export type KafkaModule = typeof Kafka;

export const KAFKA_CLIENT_PACKAGE = '@confluentinc/kafka-javascript';

const loaded = new Map<string, Promise<KafkaModule>>();

/**
 * The client module, loaded once per process. `specifier` exists for tests of the error
 * (a package name that is not installed); leave it out.
 */
export function loadKafkaClient(specifier: string = KAFKA_CLIENT_PACKAGE): Promise<KafkaModule> {
  let p = loaded.get(specifier);
  if (!p) {
    p = import(specifier).then(
      (m: { default?: KafkaModule } & KafkaModule) => {
        const mod = m.default ?? m;
        if (typeof mod.KafkaConsumer !== 'function' || typeof mod.Producer !== 'function') {
          throw missingClientError(specifier, new Error('the module has no KafkaConsumer/Producer exports'));
        }
        return mod;
      },
      (e: unknown) => {
        throw missingClientError(specifier, e);
      },
    );
    // A failed load is not cached: installing the package and retrying must work.
    p.catch(() => loaded.delete(specifier));
    loaded.set(specifier, p);
  }
  return p;
}

function missingClientError(specifier: string, cause: unknown): MillraceError {
  const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  return new MillraceError(
    'KAFKA_CLIENT_MISSING',
    `the Kafka client ${specifier} cannot be loaded (${why}). It is an optional native dependency of ` +
      `@millrace/kafka built against librdkafka: install Debian's librdkafka-dev ` +
      `(apt-get install -y librdkafka-dev) and reinstall with \`CKJS_LINKING=dynamic npm ci\``,
    { domain: 'user', retryable: false, cause },
  );
}
