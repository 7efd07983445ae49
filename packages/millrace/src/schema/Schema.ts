import { userError } from '../errors/index.ts';
import { type Field, type Infer, type Row, type TypeSpec, specFields, typeToString } from './types.ts';

/**
 * An ordered list of fields with the static row type `R` attached.
 * `schema({ id: t.long, name: t.string.orNull() })` is a `Schema<{ id: number; name: string | null }>`.
 */
export class Schema<R = Row> {
  readonly fields: readonly Field[];
  private readonly byName: ReadonlyMap<string, Field>;
  /** Phantom: the static row type. */
  declare readonly __row?: R;

  constructor(fields: readonly Field[]) {
    const seen = new Set<string>();
    for (const f of fields) {
      if (seen.has(f.name)) {
        throw userError(
          'DUPLICATE_COLUMN',
          `column "${f.name}" appears twice in a schema; rename one of them`,
        );
      }
      seen.add(f.name);
    }
    this.fields = fields;
    this.byName = new Map(fields.map((f) => [f.name, f]));
  }

  get names(): string[] {
    return this.fields.map((f) => f.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  field(name: string): Field | undefined {
    return this.byName.get(name);
  }

  /** The field, or a clear error naming the columns that do exist. */
  require(name: string, where: string): Field {
    const f = this.byName.get(name);
    if (!f) {
      throw userError(
        'UNKNOWN_COLUMN',
        `${where}: no column named "${name}"; the input has: ${this.names.join(', ') || '(no columns)'}`,
      );
    }
    return f;
  }

  /** `root\n |-- id: long (nullable = false)` — like Spark's printSchema. */
  treeString(): string {
    return [
      'root',
      ...this.fields.map((f) => ` |-- ${f.name}: ${typeToString(f.type)} (nullable = ${f.nullable})`),
    ].join('\n');
  }

  toString(): string {
    return `[${this.fields.map((f) => `${f.name}: ${typeToString(f.type)}${f.nullable ? '?' : ''}`).join(', ')}]`;
  }
}

export type RowOf<S> = S extends Schema<infer R> ? R : never;

/** Declare a schema in code; the row type follows from the field types. */
export function schema<F extends Record<string, TypeSpec<any>>>(
  fields: F,
): Schema<{ [K in keyof F]: Infer<F[K]> }> {
  return new Schema(specFields(fields));
}
