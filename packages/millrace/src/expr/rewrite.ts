import type { Expr } from './Expr.ts';

/** Apply `fn` bottom-up to every node of an expression; unchanged subtrees are shared. */
export function transformUp(e: Expr, fn: (e: Expr) => Expr): Expr {
  let next: Expr;
  switch (e.kind) {
    case 'col':
    case 'lit':
      next = e;
      break;
    case 'binary': {
      const left = transformUp(e.left, fn);
      const right = transformUp(e.right, fn);
      next = left === e.left && right === e.right ? e : { ...e, left, right };
      break;
    }
    case 'unary':
    case 'cast':
    case 'alias': {
      const arg = transformUp(e.arg, fn);
      next = arg === e.arg ? e : { ...e, arg };
      break;
    }
    case 'case':
      next = {
        ...e,
        branches: e.branches.map((b) => ({ when: transformUp(b.when, fn), then: transformUp(b.then, fn) })),
        otherwise: e.otherwise ? transformUp(e.otherwise, fn) : null,
      };
      break;
    case 'call':
    case 'udf':
      next = { ...e, args: e.args.map((a) => transformUp(a, fn)) } as Expr;
      break;
  }
  return fn(next);
}

/** How many times each column is read by an expression. */
export function columnUses(e: Expr, out = new Map<string, number>()): Map<string, number> {
  transformUp(e, (x) => {
    if (x.kind === 'col') out.set(x.name, (out.get(x.name) ?? 0) + 1);
    return x;
  });
  return out;
}

export function containsUdf(e: Expr): boolean {
  let found = false;
  transformUp(e, (x) => {
    if (x.kind === 'udf') found = true;
    return x;
  });
  return found;
}
