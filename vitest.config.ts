import { defineConfig } from 'vitest/config';

// Three projects: `unit` — the engine, in seconds (pure logic, in-process queries); `integration`
// — connectors against real services, the service, examples, benchmark checks; `slow` — crash
// tests, browser tests, conformance runs with large batches: anything that spawns processes or waits.
/** Slow files that must not run beside another: they stop shared services or measure time. */
const SERIAL = [
  'packages/*/test/**/outage.slow.test.ts',
  'packages/server/test/soak.slow.test.ts',
  'packages/server/test/browser/responsiveness.slow.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/millrace/test/**/*.test.ts', 'packages/millrace/src/**/*.test.ts'],
          exclude: ['**/*.slow.test.ts', '**/node_modules/**', 'packages/millrace/test/conformance/**'],
          typecheck: {
            enabled: true,
            include: ['packages/*/test/**/*.test-d.ts'],
            // The engine's own tsconfig: the type tests need no connector (nor the optional Kafka client).
            tsconfig: './packages/millrace/tsconfig.json',
          },
          testTimeout: 20_000,
        },
      },
      {
        // Connector packages, the service, examples and benchmark checks: real services
        // (PostgreSQL, Kafka's mock cluster, HTTP), each file in seconds.
        test: {
          name: 'integration',
          include: [
            'packages/!(millrace)/test/**/*.test.ts',
            'packages/millrace/test/conformance/**/*.test.ts',
            'examples/**/*.test.ts',
            'bench/**/*.test.ts',
          ],
          exclude: ['**/*.slow.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        // Crash, conformance and end-to-end files: each uses its own names on the shared services,
        // so CI runs this project as two shards side by side (scripts/test.sh); within a shard,
        // files run one at a time.
        test: {
          name: 'slow',
          include: [
            'packages/*/test/**/*.slow.test.ts',
            'examples/**/*.slow.test.ts',
            'test-consumer/*.slow.test.ts',
          ],
          exclude: [...SERIAL, '**/node_modules/**'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // Files that stop a shared service (outage tests) or measure time and memory (the soak,
        // the UI's responsiveness): run alone, after the rest.
        test: {
          name: 'slow-serial',
          include: SERIAL,
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
