/**
 * File name filters: a glob (`*.jsonl`, `data-?.csv`, `*.{csv,tsv}`, `[a-c]*`)
 * or a RegExp, matched against the file name (not the directory).
 */
import { userError } from '../../errors/index.ts';

export function globToRegExp(glob: string): RegExp {
  let re = '^';
  let inGroup = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    switch (c) {
      case '\\':
        i++;
        if (i < glob.length) re += escapeRe(glob[i]!);
        break;
      case '*':
        re += '[^/]*';
        break;
      case '?':
        re += '[^/]';
        break;
      case '[': {
        const close = glob.indexOf(']', i + 2);
        if (close === -1) {
          re += '\\[';
          break;
        }
        let body = glob.slice(i + 1, close);
        if (body.startsWith('!') || body.startsWith('^')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
        break;
      }
      case '{':
        inGroup++;
        re += '(?:';
        break;
      case '}':
        if (inGroup > 0) {
          inGroup--;
          re += ')';
        } else re += '\\}';
        break;
      case ',':
        re += inGroup > 0 ? '|' : ',';
        break;
      default:
        re += escapeRe(c);
    }
  }
  if (inGroup > 0) {
    throw userError(
      'INVALID_OPTION',
      `fileNameFilter: the glob "${glob}" has an unclosed "{"; close it or escape it as "\\{"`,
    );
  }
  return new RegExp(re + '$');
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** A predicate on file names; a RegExp loses its g/y flags so repeated tests are stateless. */
export function fileNameMatcher(filter: string | RegExp): (name: string) => boolean {
  const re =
    typeof filter === 'string'
      ? globToRegExp(filter)
      : new RegExp(filter.source, filter.flags.replace(/[gy]/g, ''));
  return (name) => re.test(name);
}
