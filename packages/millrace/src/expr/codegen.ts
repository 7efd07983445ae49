/**
 * Expression compilation: an Expr becomes JS source text, emitted into a
 * CodeBuilder, so a whole fused pipeline compiles into one function with no
 * per-row tree walking.
 *
 *   genExpr(price * 0.908, r)  →  emits nothing, returns "(r.price * 0.908)"
 *   genExpr(upper(name), r)    →  emits "const t1 = r.name == null ? null : k0(r.name);", returns "t1"
 *
 * Non-nullable inputs (per the schema) skip null checks; AND/OR/CASE keep
 * their short-circuit by emitting nested blocks.
 */
import type { Schema } from '../schema/index.ts';
import { castFunction } from './cast.ts';
import type { Expr, ExprOf } from './Expr.ts';
import { argInfos, isComposite, resolveExpr } from './resolve.ts';
import { lookupFunction } from './functions/registry.ts';

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function propAccess(obj: string, name: string): string {
  return IDENT.test(name) ? `${obj}.${name}` : `${obj}[${JSON.stringify(name)}]`;
}

/** Accumulates generated statements, temporaries and bound constants. */
export class CodeBuilder {
  private readonly constants: unknown[] = [];
  private readonly constantIndex = new Map<unknown, string>();
  private blocks: string[][] = [[]];
  private counter = 0;

  /** Bind a JS value into the generated code; returns the identifier to use. */
  constant(value: unknown): string {
    const known = this.constantIndex.get(value);
    if (known) return known;
    const id = `k${this.constants.length}`;
    this.constants.push(value);
    this.constantIndex.set(value, id);
    return id;
  }

  fresh(prefix = 't'): string {
    return `${prefix}${++this.counter}`;
  }

  emit(line: string): void {
    this.blocks[this.blocks.length - 1]!.push(line);
  }

  /** Collect the lines emitted by `fn` instead of emitting them. */
  capture(fn: () => void): string[] {
    this.blocks.push([]);
    try {
      fn();
      return this.blocks[this.blocks.length - 1]!;
    } finally {
      this.blocks.pop();
    }
  }

  get lines(): string[] {
    return this.blocks[0]!;
  }

  /** Compile `body` (which may use the constants) into a function made by a factory. */
  build<F>(params: string[], body: string, name = 'compiled'): F {
    const decls = this.constants.map((_, i) => `const k${i} = $k[${i}];`).join('\n');
    const src = `"use strict";\n${decls}\nreturn function ${name}(${params.join(', ')}) {\n${body}\n};`;
    try {
      return new Function('$k', src)(this.constants) as F;
    } catch (e) {
      throw new Error(`internal: generated code does not compile: ${(e as Error).message}\n${src}`, {
        cause: e,
      });
    }
  }
}

export interface GenScope {
  readonly schema: Schema;
  readonly row: string;
  readonly where: string;
}

/** Emit code computing `e` for the row in `scope.row`; returns a JS expression for the value. */
export function genExpr(e: Expr, scope: GenScope, b: CodeBuilder): string {
  switch (e.kind) {
    case 'col':
      scope.schema.require(e.name, scope.where);
      return propAccess(scope.row, e.name);
    case 'lit':
      return genLiteral(e.value, b);
    case 'alias':
      return genExpr(e.arg, scope, b);
    case 'binary':
      return genBinary(e, scope, b);
    case 'unary':
      return genUnary(e, scope, b);
    case 'case':
      return genCase(e, scope, b);
    case 'cast': {
      const from = resolveExpr(e.arg, scope.schema, scope.where);
      const a = genExpr(e.arg, scope, b);
      if (from.type.kind === e.to.kind) return a;
      const f = b.constant(castFunction(from.type, e.to));
      return nullGuard([a], [from.nullable], `${f}(${a})`, b);
    }
    case 'call': {
      const def = lookupFunction(e.name);
      const infos = argInfos(e.args, scope.schema, scope.where);
      const js = e.args.map((a) => genExpr(a, scope, b));
      if (def.nulls === 'handled') {
        const f = b.constant(def.impl(infos));
        return bind(`${f}(${js.join(', ')})`, b);
      }
      const inline = def.inline?.(js, infos);
      const call = inline ?? `${b.constant(def.impl(infos))}(${js.join(', ')})`;
      return nullGuard(
        js,
        infos.map((i) => i.nullable),
        call,
        b,
      );
    }
    case 'udf': {
      const f = b.constant(e.fn);
      const js = e.args.map((a) => genExpr(a, scope, b));
      return bind(`${f}(${js.join(', ')})`, b);
    }
  }
}

function genLiteral(value: unknown, b: CodeBuilder): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return Number.isFinite(value) ? `(${value})` : b.constant(value);
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  return b.constant(value);
}

/** Bind an expression to a temporary so it is evaluated once. */
function bind(js: string, b: CodeBuilder): string {
  const t = b.fresh();
  b.emit(`const ${t} = ${js};`);
  return t;
}

/** `value` when every nullable input is non-null, else null. */
function nullGuard(inputs: string[], nullable: boolean[], value: string, b: CodeBuilder): string {
  const checks = inputs.filter((_, i) => nullable[i]).map((x) => `${x} == null`);
  if (checks.length === 0) return bind(value, b);
  return bind(`(${checks.join(' || ')}) ? null : ${value}`, b);
}

function genBinary(e: ExprOf<'binary'>, scope: GenScope, b: CodeBuilder): string {
  if (e.op === 'and' || e.op === 'or') return genLogical(e, scope, b);
  const l = resolveExpr(e.left, scope.schema, scope.where);
  const r = resolveExpr(e.right, scope.schema, scope.where);
  const a = genExpr(e.left, scope, b);
  const c = genExpr(e.right, scope, b);
  const nulls = [l.nullable, r.nullable];
  switch (e.op) {
    case '+':
    case '-':
    case '*':
      return nullGuard([a, c], nulls, `(${a} ${e.op} ${c})`, b);
    case '/':
    case '%': {
      const zeroSafe = e.right.kind === 'lit' && typeof e.right.value === 'number' && e.right.value !== 0;
      const v = zeroSafe ? `(${a} ${e.op} ${c})` : `(${c} === 0 ? null : ${a} ${e.op} ${c})`;
      return nullGuard([a, c], nulls, v, b);
    }
    case '=':
    case '!=': {
      if (isComposite(l.type)) {
        const eq = `${b.constant(valuesEqual)}(${a}, ${c})`;
        return nullGuard([a, c], nulls, e.op === '=' ? eq : `(!${eq})`, b);
      }
      // Spark: NaN = NaN is true. Only doubles can be NaN, so only they pay for the check.
      const nan = l.type.kind === 'double' && r.type.kind === 'double';
      const eq = nan ? `(${a} === ${c} || (${a} !== ${a} && ${c} !== ${c}))` : `(${a} === ${c})`;
      return nullGuard([a, c], nulls, e.op === '=' ? eq : `(!${eq})`, b);
    }
    case '<':
    case '<=':
    case '>':
    case '>=':
      return nullGuard([a, c], nulls, `(${a} ${e.op} ${c})`, b);
    case '<=>':
      if (isComposite(l.type)) return bind(`${b.constant(valuesEqual)}(${a}, ${c})`, b);
      return bind(`(${a} == null ? ${c} == null : (${c} != null && ${a} === ${c}))`, b);
  }
}

/** SQL three-valued AND/OR with short-circuit: the right side runs only when it can matter. */
function genLogical(e: ExprOf<'binary'>, scope: GenScope, b: CodeBuilder): string {
  const nullable = [
    resolveExpr(e.left, scope.schema, scope.where).nullable,
    resolveExpr(e.right, scope.schema, scope.where).nullable,
  ];
  const a = genExpr(e.left, scope, b);
  const t = b.fresh();
  let c = '';
  const rightLines = b.capture(() => {
    c = genExpr(e.right, scope, b);
  });
  const [decisive, other] = e.op === 'and' ? ['false', 'true'] : ['true', 'false'];
  b.emit(`let ${t};`);
  b.emit(`if (${a} === ${decisive}) ${t} = ${decisive}; else {`);
  for (const line of rightLines) b.emit('  ' + line);
  const nullChecks = [nullable[0] ? `${a} == null` : '', nullable[1] ? `${c} == null` : ''].filter(Boolean);
  const otherwise = nullChecks.length ? `(${nullChecks.join(' || ')}) ? null : ${other}` : other;
  b.emit(`  ${t} = ${c} === ${decisive} ? ${decisive} : ${otherwise};`);
  b.emit('}');
  return t;
}

function genUnary(e: ExprOf<'unary'>, scope: GenScope, b: CodeBuilder): string {
  const info = resolveExpr(e.arg, scope.schema, scope.where);
  const a = genExpr(e.arg, scope, b);
  switch (e.op) {
    case 'not':
      return nullGuard([a], [info.nullable], `(!${a})`, b);
    case 'neg':
      return nullGuard([a], [info.nullable], `(-${a})`, b);
    case 'isNull':
      return info.nullable ? bind(`(${a} == null)`, b) : 'false';
    case 'isNotNull':
      return info.nullable ? bind(`(${a} != null)`, b) : 'true';
  }
}

function genCase(e: ExprOf<'case'>, scope: GenScope, b: CodeBuilder): string {
  const t = b.fresh();
  b.emit(`let ${t};`);
  const emitFrom = (i: number): void => {
    if (i === e.branches.length) {
      if (e.otherwise) {
        const v = genExpr(e.otherwise, scope, b);
        b.emit(`${t} = ${v};`);
      } else {
        b.emit(`${t} = null;`);
      }
      return;
    }
    const br = e.branches[i]!;
    const w = genExpr(br.when, scope, b);
    b.emit(`if (${w} === true) {`);
    const thenLines = b.capture(() => {
      const v = genExpr(br.then, scope, b);
      b.emit(`${t} = ${v};`);
    });
    for (const l of thenLines) b.emit('  ' + l);
    b.emit('} else {');
    const elseLines = b.capture(() => emitFrom(i + 1));
    for (const l of elseLines) b.emit('  ' + l);
    b.emit('}');
  };
  emitFrom(0);
  return t;
}

/** Compile one expression into `(row) => value` (used by operators that need a single key or value). */
export function compileExpr(e: Expr, schema: Schema, where: string): (row: any) => unknown {
  resolveExpr(e, schema, where);
  const b = new CodeBuilder();
  const v = genExpr(e, { schema, row: 'r', where }, b);
  return b.build(['r'], `${b.lines.join('\n')}\nreturn ${v};`, 'expr');
}

/** Deep equality of struct/array values (fields and elements by the same rules; null equals null). */
function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a == null || b == null) return false;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valuesEqual(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a as object);
    if (ka.length !== Object.keys(b as object).length) return false;
    for (const k of ka) {
      if (!valuesEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    }
    return true;
  }
  return false;
}
