/** "Did you mean …": the known name nearest to a misspelt one, when it is close enough to be a typo. */

/** The candidate closest to `name` (case-insensitive edit distance), or undefined if none is near. */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const s = name.toLowerCase();
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(s.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(s, c.toLowerCase(), bestD);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** `; did you mean "x"?`, or '' when nothing is near. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const near = closestName(name, candidates);
  return near === undefined ? '' : `; did you mean "${near}"?`;
}

/**
 * Edit distance counting a swap of two neighbours as one edit (optimal string alignment: `cuont`
 * is one edit from `count`), or `limit` when it cannot be below `limit`.
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, before[j - 2]! + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length]!;
}
