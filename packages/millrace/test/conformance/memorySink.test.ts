/**
 * memorySink through the shared sink conformance suite. Its storage is the
 * MemorySink object itself, so "a new instance over the same system" is that
 * object re-opened — what a restart inside one process sees (as Spark's memory
 * sink, it does not survive the process).
 */
import { type Row, memorySink } from 'millrace';
import { allTypesRow, allTypesSchema, sinkConformance } from 'millrace/testing/conformance';

/** The result table of an update-mode changelog: the last row written for each key. */
function latestByKey(rows: readonly Row[], key: readonly string[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const r of rows) byKey.set(JSON.stringify(key.map((k) => r[k])), r);
  return [...byKey.values()];
}

sinkConformance('memorySink', {
  outputModes: ['append', 'update', 'complete'],
  ordered: true,
  outage: { notApplicable: 'memory is not an external system that can go away' },
  async create() {
    const store = memorySink({ name: 'conformance-memory' });
    return {
      schema: allTypesSchema,
      row: allTypesRow,
      sink: () => store,
      // append: every row; complete: allRows() is the last result table; update: a changelog.
      readBack: async (spec) =>
        spec.outputMode === 'update' ? latestByKey(store.allRows(), spec.key) : store.allRows(),
    };
  },
});
