import type { DataType } from '../../schema/index.ts';

/** What the analyzer knows about one argument of a call. */
export interface ArgInfo {
  readonly type: DataType;
  readonly nullable: boolean;
  /** Present when the argument is a literal: lets a function specialise (compile a regex once). */
  readonly literal?: { readonly value: unknown };
}

/**
 * A built-in function. Implementations are plain JS functions bound into the
 * generated code as constants; hot ones may also give an inline JS template.
 */
export interface FunctionDef {
  /** Spark's SQL name, snake_case: `regexp_extract`, `date_format`. */
  readonly name: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  /** The result type; throw a userError (code INVALID_ARGUMENT_TYPE) that names the expected types otherwise. */
  returnType(args: readonly ArgInfo[]): DataType;
  /**
   * `propagate` (default): the result is null when any argument is null; codegen adds
   * the guard, so `impl` only sees non-null values. `handled`: impl receives nulls itself.
   */
  readonly nulls?: 'propagate' | 'handled';
  /** Whether the result can be null. Default: propagate → any argument nullable; handled → true. */
  resultNullable?(args: readonly ArgInfo[]): boolean;
  /** Returns the runtime implementation, possibly specialised on literal arguments. */
  impl(args: readonly ArgInfo[]): (...values: any[]) => unknown;
  /** Optional inline JS for speed, given the JS of each (non-null) argument. */
  inline?(js: readonly string[], args: readonly ArgInfo[]): string | undefined;
}
