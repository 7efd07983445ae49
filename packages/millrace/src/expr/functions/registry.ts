import { userError } from '../../errors/index.ts';
import type { FunctionDef } from './FunctionDef.ts';
import { stringFunctions } from './string.ts';
import { dateTimeFunctions } from './datetime.ts';
import { mathFunctions } from './math.ts';
import { miscFunctions } from './misc.ts';
import { windowFunctions } from './window.ts';

const ALL: FunctionDef[] = [
  ...stringFunctions,
  ...dateTimeFunctions,
  ...mathFunctions,
  ...miscFunctions,
  ...windowFunctions,
];

/** Every built-in function by its SQL name. Immutable after module load. */
export const BUILTIN_FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(ALL.map((f) => [f.name, f]));

if (BUILTIN_FUNCTIONS.size !== ALL.length) {
  const seen = new Set<string>();
  const dup = ALL.find((f) => (seen.has(f.name) ? true : (seen.add(f.name), false)));
  throw new Error(`internal: built-in function "${dup?.name}" is defined twice`);
}

export function lookupFunction(name: string): FunctionDef {
  const f = BUILTIN_FUNCTIONS.get(name.toLowerCase());
  if (!f) {
    throw userError(
      'UNKNOWN_FUNCTION',
      `no built-in function named "${name}"; use udf() for your own functions`,
    );
  }
  return f;
}
