import { defineConfig } from 'vitest/config';

// Three projects: `unit` — the engine, in seconds (pure logic, in-process queries); `integration`
// — connectors against real services, the service, examples, benchmark checks; `slow` — crash
// tests, browser tests, conformance runs with large batches: anything that spawns processes or waits.
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
            tsconfig: './tsconfig.json',
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
        test: {
          name: 'slow',
          include: ['packages/*/test/**/*.slow.test.ts', 'examples/**/*.slow.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
