import { DOUBLE, type DataType, isNumeric, typeEquals } from '../../schema/index.ts';

/** Common type of two values (numeric widening; null fits anything). */
export function commonTypeOf(a: DataType, b: DataType): DataType | undefined {
  if (a.kind === 'null') return b;
  if (b.kind === 'null') return a;
  if (typeEquals(a, b)) return a;
  if (isNumeric(a) && isNumeric(b)) return DOUBLE;
  return undefined;
}
