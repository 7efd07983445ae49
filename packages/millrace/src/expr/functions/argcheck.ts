import { userError } from '../../errors/index.ts';
import { type DataTypeKind, isNumeric, typeToString } from '../../schema/index.ts';
import type { ArgInfo } from './FunctionDef.ts';

/** Throw a clear error unless argument `i` has one of the kinds (null literals fit any). */
export function expectArg(
  fn: string,
  args: readonly ArgInfo[],
  i: number,
  ...kinds: (DataTypeKind | 'numeric')[]
): void {
  const a = args[i];
  if (!a) return;
  const k = a.type.kind;
  if (k === 'null') return;
  if (kinds.includes(k) || (kinds.includes('numeric') && isNumeric(a.type))) return;
  throw userError(
    'INVALID_ARGUMENT_TYPE',
    `${fn}: argument ${i + 1} must be ${kinds.join(' or ')}, got ${typeToString(a.type)}`,
  );
}

/** The value of a literal argument, or a clear error when it is not a literal. */
export function literalArg<T>(fn: string, args: readonly ArgInfo[], i: number, what: string): T {
  const a = args[i];
  if (!a?.literal) {
    throw userError('INVALID_ARGUMENT_TYPE', `${fn}: argument ${i + 1} (${what}) must be a literal value`);
  }
  return a.literal.value as T;
}
