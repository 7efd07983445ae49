/** The fileSink harness shared by fileSink.<format>.test.ts. */
import { rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { type FileSinkFormat, fileSink, readFileSinkOutput } from 'millrace';
import { type SinkHarness, allTypesRow, allTypesSchema } from 'millrace/testing/conformance';

export function fileSinkHarness(format: FileSinkFormat): SinkHarness {
  return {
    outputModes: ['append'],
    ordered: true,
    outage: { behaviour: 'fails', code: 'SINK_WRITE_FAILED' },
    async create(ctx) {
      const out = path.join(await ctx.tempDir('out'), 'table');
      const away = `${out}.away`;
      return {
        schema: allTypesSchema,
        row: allTypesRow,
        sink: () => fileSink({ path: out, format, ...(format === 'csv' ? { csv: { header: true } } : {}) }),
        readBack: () => readFileSinkOutput(out),
        stopExternal: async () => {
          await rename(out, away);
          await writeFile(out, 'not a directory');
        },
        startExternal: async () => {
          await rm(out);
          await rename(away, out);
        },
      };
    },
  };
}
