/**
 * One query's output to several sinks (a report table and a dashboard): each batch is written to
 * every sink in turn. A replayed batch is written to each again, so the tee is exactly-once when
 * every sink is idempotent or transactional; its guarantee is the weakest of its sinks'.
 */
import type { OutputMode, Row, Sink, SinkBatchInfo, SinkContext, SinkGuarantee } from 'millrace';

const STRENGTH: Record<SinkGuarantee, number> = { 'at-least-once': 0, idempotent: 1, transactional: 2 };

export function teeSink(name: string, ...sinks: Sink[]): Sink {
  const guarantee = sinks.reduce<SinkGuarantee>(
    (g, s) => (STRENGTH[s.guarantee] < STRENGTH[g] ? s.guarantee : g),
    'transactional',
  );
  const modes = (['append', 'update', 'complete'] as OutputMode[]).filter((m) =>
    sinks.every((s) => !s.supportedOutputModes || s.supportedOutputModes.includes(m)),
  );
  return {
    name,
    guarantee: guarantee === 'transactional' ? 'idempotent' : guarantee,
    supportedOutputModes: modes,
    describe: () => `Tee[${sinks.map((s) => s.describe()).join(', ')}]`,
    async open(ctx: SinkContext) {
      for (const s of sinks) await s.open(ctx);
    },
    async addBatch(rows: readonly Row[], info: SinkBatchInfo) {
      let written = 0;
      for (const s of sinks) {
        const r = await s.addBatch(rows, info);
        written = Math.max(written, r?.rowsWritten ?? rows.length);
      }
      return { rowsWritten: written };
    },
    async close() {
      for (const s of sinks) await s.close();
    },
  };
}
