/**
 * A source object belongs to one running query at a time. A Source keeps one reader's state —
 * its open files or connections, its temp files, what it has handed out — so two queries
 * reading the same object would corrupt each other (two e-commerce queries sharing one source
 * once collided on a temp file). Two queries over the same data each create their own source.
 *
 * Process-wide, not per session: the object is shared whichever session reads it.
 */
import type { Source } from '../connectors/contracts.ts';
import { userError } from '../errors/index.ts';

const readers = new WeakMap<Source<any>, string>();

/** Mark `sources` as read by `query`; returns the release. Throws if another query reads one. */
export function claimSources(sources: readonly Source<any>[], query: string): () => void {
  for (const s of sources) {
    const other = readers.get(s);
    if (other !== undefined) {
      throw userError(
        'SOURCE_IN_USE',
        `source "${s.name}" is already read by the running query "${other}"; a source object serves one query ` +
          `at a time — create a second source for query "${query}" (call the source's factory again), or stop "${other}" first`,
      );
    }
  }
  for (const s of sources) readers.set(s, query);
  return () => {
    for (const s of sources) if (readers.get(s) === query) readers.delete(s);
  };
}
