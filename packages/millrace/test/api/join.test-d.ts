import { expectTypeOf, test } from 'vitest';
import { createSession, interval, memoryStream, schema, staticTable, t } from '../../src/index.ts';

const session = createSession();
const imps = session.readStream(memoryStream(schema({ ad: t.long, impAt: t.timestamp })));
const clicks = session.readStream(memoryStream(schema({ ad: t.long, clickAt: t.timestamp })));
const table = staticTable({ schema: schema({ ad: t.long, title: t.string }), rows: [] });

test('join row types follow the join type', () => {
  const inner = imps.join(clicks, { on: ['ad'] });
  expectTypeOf(inner.schema).toEqualTypeOf<
    import('../../src/index.ts').Schema<{ ad: number; impAt: number; clickAt: number }>
  >();
  const _left = imps.join(clicks, {
    on: 'ad',
    where: (l, r) => r.clickAt.between(l.impAt, l.impAt.plus(interval('1 hour'))),
    type: 'leftOuter',
  });
  type L = typeof _left extends { schema: { fields: unknown } } ? Parameters<typeof _left.map>[0] : never;
  expectTypeOf<Parameters<L>[0]>().toEqualTypeOf<{ ad: number; impAt: number; clickAt: number | null }>();
  const _semi = imps.join(clicks, { on: 'ad', type: 'leftSemi' });
  expectTypeOf<Parameters<Parameters<typeof _semi.map>[0]>[0]>().toEqualTypeOf<{
    ad: number;
    impAt: number;
  }>();
  const _enriched = imps.join(table, { on: 'ad', type: 'left' });
  expectTypeOf<Parameters<Parameters<typeof _enriched.map>[0]>[0]>().toEqualTypeOf<{
    ad: number;
    impAt: number;
    title: string | null;
  }>();
});

test('wrong column names in on are compile errors', () => {
  // @ts-expect-error — "nope" is not a column of both sides
  imps.join(clicks, { on: 'nope' });
  // @ts-expect-error — impAt is only on the left
  imps.join(clicks, { on: ['impAt'] });
});
