/**
 * Data types: the runtime description of a column (`DataType`) and, side by
 * side, the static TypeScript type it maps to (`TypeSpec<T>`), so a schema
 * declared once in code gives both the compiler's row type and the engine's.
 *
 * Runtime representations (chosen for speed; documented in docs/guide):
 *   string → string, long/int → number (safe-integer range), double → number,
 *   boolean → boolean, timestamp → number (epoch milliseconds, UTC),
 *   date → number (days since 1970-01-01), binary → Uint8Array,
 *   array → JS array, struct → plain object, json → any JSON value.
 */
export type DataType =
  | { readonly kind: 'string' }
  | { readonly kind: 'long' }
  | { readonly kind: 'double' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'timestamp' }
  | { readonly kind: 'date' }
  | { readonly kind: 'binary' }
  | { readonly kind: 'json' }
  | { readonly kind: 'null' }
  | { readonly kind: 'array'; readonly element: DataType; readonly containsNull: boolean }
  | { readonly kind: 'struct'; readonly fields: readonly Field[] };

export type DataTypeKind = DataType['kind'];

export interface Field {
  readonly name: string;
  readonly type: DataType;
  readonly nullable: boolean;
}

export const STRING: DataType = { kind: 'string' };
export const LONG: DataType = { kind: 'long' };
export const DOUBLE: DataType = { kind: 'double' };
export const BOOLEAN: DataType = { kind: 'boolean' };
export const TIMESTAMP: DataType = { kind: 'timestamp' };
export const DATE: DataType = { kind: 'date' };
export const BINARY: DataType = { kind: 'binary' };
export const JSON_TYPE: DataType = { kind: 'json' };
export const NULL_TYPE: DataType = { kind: 'null' };

export function isNumeric(t: DataType): boolean {
  return t.kind === 'long' || t.kind === 'double';
}

export function typeEquals(a: DataType, b: DataType): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'array' && b.kind === 'array') return typeEquals(a.element, b.element);
  if (a.kind === 'struct' && b.kind === 'struct') {
    return (
      a.fields.length === b.fields.length &&
      a.fields.every((f, i) => {
        const g = b.fields[i]!;
        return f.name === g.name && f.nullable === g.nullable && typeEquals(f.type, g.type);
      })
    );
  }
  return true;
}

/** `long`, `array<string>`, `struct<a: long, b: string>` — as Spark prints types. */
export function typeToString(t: DataType): string {
  switch (t.kind) {
    case 'array':
      return `array<${typeToString(t.element)}>`;
    case 'struct':
      return `struct<${t.fields.map((f) => `${f.name}: ${typeToString(f.type)}`).join(', ')}>`;
    default:
      return t.kind;
  }
}

// ---------------------------------------------------------------------------
// Static side: TypeSpec<T> carries a phantom TS type next to the DataType.

declare const tsType: unique symbol;

export interface TypeSpec<T> {
  readonly dataType: DataType;
  readonly nullable: boolean;
  /** Phantom: the TypeScript type of values of this column. Never set at run time. */
  readonly [tsType]?: T;
}

export interface NonNullSpec<T> extends TypeSpec<T> {
  readonly nullable: false;
  /** The same type, allowing nulls. */
  orNull(): TypeSpec<T | null>;
}

function spec<T>(dataType: DataType): NonNullSpec<T> {
  return {
    dataType,
    nullable: false,
    orNull: () => ({ dataType, nullable: true }) as TypeSpec<T | null>,
  };
}

export type Infer<S> = S extends TypeSpec<infer T> ? T : never;

/** Column type builders: `t.long`, `t.string.orNull()`, `t.array(t.string)`, `t.struct({...})`. */
export const t = {
  string: spec<string>(STRING),
  long: spec<number>(LONG),
  int: spec<number>(LONG),
  double: spec<number>(DOUBLE),
  boolean: spec<boolean>(BOOLEAN),
  timestamp: spec<number>(TIMESTAMP),
  date: spec<number>(DATE),
  binary: spec<Uint8Array>(BINARY),
  json: spec<unknown>(JSON_TYPE),
  array<E>(element: TypeSpec<E>): NonNullSpec<E[]> {
    return spec<E[]>({ kind: 'array', element: element.dataType, containsNull: element.nullable });
  },
  struct<F extends Record<string, TypeSpec<any>>>(fields: F): NonNullSpec<{ [K in keyof F]: Infer<F[K]> }> {
    return spec({ kind: 'struct', fields: specFields(fields) });
  },
} as const;

export function specFields(fields: Record<string, TypeSpec<any>>): Field[] {
  return Object.entries(fields).map(([name, s]) => ({ name, type: s.dataType, nullable: s.nullable }));
}

/** The TypeScript type a runtime DataType maps to (used where types are only known at run time). */
export type Row = Record<string, unknown>;
