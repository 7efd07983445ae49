/**
 * The one redaction used by everything the service emits: API responses, SSE
 * events, logs, progress kept in memory, metric labels, webhook bodies.
 *
 *   text   postgres://user:hunter2@db/x   → postgres://user:***@db/x
 *          …?sslmode=require&password=hunter2 → …&password=***
 *          token: abc / "apiKey":"abc" / Bearer abc → *** in place of the value
 *   object { password: 'x', apiKey: 'y', key: 'z', nested: {...} } → those values become ***
 *          (names: password, passwd, pwd, secret, token, credential(s), auth, authorization,
 *           key, *Key / *_key / *-key / *.key, *Secret, *Token, *Password …)
 *
 * `redact(value)` is a pure function of its input. A `Redactor` (one per service) also
 * remembers every secret value it has removed and scrubs that value — raw, URL-encoded and
 * URL-decoded — wherever it shows up later (an error message that echoes a bare password).
 * A secret that is never seen in one of the shapes above first cannot be known: keep
 * secrets in connection strings or options with such names.
 */

export const REDACTED = '***';

/** Option names whose values are secrets. */
const SECRET_NAME =
  /(password|passwd|passphrase|secret|token|credential|apikey|api_key|api-key|privatekey|private_key|accesskey|access_key)s?$|^(pwd|pass|auth|authorization|key|cookie)$|[-_.]key$|[a-z0-9]Key$/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

// scheme://user:password@host — the password is everything between ':' and the last '@' of the authority.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]{0,31}:\/\/)([^\s:/?#@'"]{0,256}):([^\s/?#'"]{0,512})@/gi;
// name=value / name: value / "name":"value" for secret-looking names.
// (The name prefix is bounded and starts at a word boundary: an unbounded lazy prefix is quadratic on long words.)
const NAMED_VALUE =
  /(\b[a-z0-9_.-]{0,64}?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,)\]}"']+)/gi;
// --password hunter2 (command-line flags)
const FLAG_VALUE =
  /(\s|^)(--?[a-z0-9_.-]{0,64}?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)\s+)([^\s-]\S*)/gi;
const MAYBE_NAMED = /pass|pwd|secret|token|key/i;
const MAYBE_BEARER = /bearer|basic/i;
const BEARER = /\b(bearer|basic)\s+([a-z0-9._~+/=-]{4,})/gi;

type Learn = (secret: string) => void;

function unquote(v: string): string {
  return (v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))
    ? v.slice(1, -1)
    : v;
}

function redactTextWith(text: string, learn?: Learn): string {
  if (text.length === 0) return text;
  let out = text;
  // Cheap tests first: most texts hold none of these, and the regexes need not run at all.
  if (out.includes('://'))
    out = out.replace(URL_USERINFO, (_m, scheme: string, user: string, pass: string) => {
      if (pass === REDACTED || pass === '') return `${scheme}${user}:${pass}@`;
      learn?.(pass);
      return `${scheme}${user}:${REDACTED}@`;
    });
  if (MAYBE_NAMED.test(out))
    out = out.replace(NAMED_VALUE, (_m, name: string, value: string) => {
      const v = unquote(value);
      if (v === REDACTED || v === '') return name + value;
      learn?.(v);
      const q = value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : '';
      return `${name}${q}${REDACTED}${q}`;
    });
  if (out.includes('-') && MAYBE_NAMED.test(out)) {
    out = out.replace(FLAG_VALUE, (_m, pre: string, flag: string, value: string) => {
      if (value === REDACTED) return pre + flag + value;
      learn?.(value);
      return `${pre}${flag}${REDACTED}`;
    });
  }
  if (MAYBE_BEARER.test(out))
    out = out.replace(BEARER, (_m, kind: string, value: string) => {
      if (value === REDACTED) return `${kind} ${value}`;
      learn?.(value);
      return `${kind} ${REDACTED}`;
    });
  return out;
}

function redactWith(value: unknown, text: (s: string) => string, learn: Learn | undefined): unknown {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return text(v);
    if (v === null || typeof v !== 'object') return v;
    if (depth > 32) return '[too deep]';
    if (seen.has(v)) return '[circular]';
    if (v instanceof Date || v instanceof Uint8Array) return v;
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
      if (v instanceof Error) {
        const e = v as Error & { code?: unknown };
        return { name: e.name, message: text(e.message), ...(e.code !== undefined ? { code: e.code } : {}) };
      }
      if (v instanceof Map) return walk(Object.fromEntries(v), depth);
      if (v instanceof Set) return walk([...v], depth);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (isSecretName(k) && x !== null && x !== undefined && typeof x !== 'boolean') {
          if (typeof x === 'string' || typeof x === 'number') learn?.(String(x));
          out[k] = REDACTED;
        } else {
          out[k] = walk(x, depth + 1);
        }
      }
      return out;
    } finally {
      seen.delete(v);
    }
  };
  return walk(value, 0);
}

/** A redacted copy of `value` (strings, arrays, plain objects, errors; other values as they are). */
export function redact<T>(value: T): T {
  return redactWith(value, (s) => redactTextWith(s), undefined) as T;
}

/** A redacted copy of one text. */
export function redactText(text: string): string {
  return redactTextWith(text);
}

/** Remembers the secrets it removed and scrubs them everywhere afterwards (see the header). */
export class Redactor {
  private readonly secrets = new Set<string>();
  /** Longest first, so a secret containing another is replaced whole. */
  private ordered: string[] = [];

  constructor(private readonly maxSecrets = 256) {}

  /** Treat `secret` as a secret from now on (e.g. the value of --token). Short values (< 4 chars) are ignored. */
  learn(secret: string): void {
    const forms = new Set([secret]);
    try {
      forms.add(encodeURIComponent(secret));
      forms.add(decodeURIComponent(secret));
    } catch {
      // not valid percent-encoding: the raw form is enough
    }
    let changed = false;
    for (const f of forms) {
      if (f.length < 4 || f === REDACTED || this.secrets.has(f)) continue;
      if (this.secrets.size >= this.maxSecrets) break;
      this.secrets.add(f);
      changed = true;
    }
    if (changed) {
      this.ordered = [...this.secrets].sort((a, b) => b.length - a.length);
      this.cache.clear();
    }
  }

  /**
   * A webhook URL's path and query are secrets (chat webhooks carry their credential there:
   * /services/T0/B0/xyz, /hook/<secret>): scrub them — and the whole URL — from everything from now
   * on, raw and URL-encoded. A path of "/" alone is nothing to hide.
   */
  learnUrlPath(href: string): void {
    let url: URL;
    try {
      url = new URL(href);
    } catch {
      return;
    }
    const secretPart = `${url.pathname}${url.search}`;
    if (secretPart.length > 1) this.learn(secretPart);
    if (url.pathname.length > 1) this.learn(url.pathname);
    if (url.search.length > 1) this.learn(url.search.slice(1));
    this.learn(url.href);
  }

  /** Texts seen recently and their redacted form (progress repeats the same descriptions every batch). */
  private readonly cache = new Map<string, string>();

  text(text: string): string {
    if (text.length < 4) return text;
    const cached = this.cache.get(text);
    if (cached !== undefined) return cached;
    const size = this.secrets.size;
    let out = redactTextWith(text, (s) => this.learn(s));
    for (const s of this.ordered) if (out.includes(s)) out = out.split(s).join(REDACTED);
    if (this.secrets.size !== size)
      this.cache.clear(); // a new secret: earlier answers may hold it
    else if (text.length <= 1024) {
      if (this.cache.size >= 2048) this.cache.clear();
      this.cache.set(text, out);
    }
    return out;
  }

  redact<T>(value: T): T {
    return redactWith(
      value,
      (s) => this.text(s),
      (s) => this.learn(s),
    ) as T;
  }
}
