/**
 * The REST API from the browser. Reads are GETs. Changes are POSTs with a `{}`
 * body; when the server was started with a token they need `Authorization: Bearer`,
 * and so do reads when it requires the token for reads (the default beyond loopback):
 * on a 401 the user is asked for the token (a password field in a dialog, one at a
 * time however many requests were refused), which is kept in this tab's sessionStorage
 * only and never shown. The page never receives the token from the server: the page
 * shell is served without it, so a page that embedded it would leak it.
 */
import { h } from './dom.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'millrace.token';

async function failure(r: Response): Promise<ApiError> {
  let code = `HTTP_${r.status}`;
  let message = r.statusText || `HTTP ${r.status}`;
  try {
    const body = (await r.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(r.status, code, message);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, { headers: { accept: 'application/json', ...tokenHeaders() }, signal });
    if (r.ok) return (await r.json()) as T;
    const e = await failure(r);
    if (e.status !== 401 || attempt >= 3) throw e;
    const token = await tokenAfter401(
      'This server needs its token to show results (the --token or MILLRACE_TOKEN it was started with).',
    );
    if (token === null) throw e;
  }
}

/** The token this tab holds, if any (the event stream passes it as ?token=). */
export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

function tokenHeaders(): Record<string, string> {
  const t = storedToken();
  return t ? { authorization: `Bearer ${t}` } : {};
}

let asking: Promise<string | null> | null = null;

/** After a 401: forget the stored token and ask once for all requests refused meanwhile. */
function tokenAfter401(message: string): Promise<string | null> {
  if (!asking) {
    const had = storedToken() !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    asking = askToken(had ? 'That token was refused. Enter the token the server was started with.' : message)
      .then((t) => {
        if (t !== null) sessionStorage.setItem(TOKEN_KEY, t);
        return t;
      })
      .finally(() => {
        asking = null;
      });
  }
  return asking;
}

/** POST a change; asks for the token on 401 and retries. Resolves to the body and status. */
export async function post<T>(path: string, body: unknown = {}): Promise<{ status: number; body: T }> {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...tokenHeaders() },
      body: JSON.stringify(body),
    });
    if (r.ok) return { status: r.status, body: (await r.json()) as T };
    const e = await failure(r);
    if (e.status !== 401 || attempt >= 3) throw e;
    const token = await tokenAfter401(
      'This server needs its token for changes (the --token or MILLRACE_TOKEN it was started with).',
    );
    if (token === null) throw e;
  }
}

/** A modal dialog with a password field; null when cancelled. */
export function askToken(message: string): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h('input', {
      type: 'password',
      id: 'millrace-token',
      name: 'token',
      autocomplete: 'off',
      required: true,
      minlength: 12,
    });
    const dialog = h(
      'dialog',
      { class: 'token-dialog', 'aria-labelledby': 'token-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'token-title' }, 'Token needed'),
        h('p', null, message),
        h('label', { for: 'millrace-token' }, 'Bearer token'),
        input,
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'submit', value: 'ok', class: 'primary' }, 'Use token'),
          h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel'),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok' && input.value.length > 0;
      const value = input.value;
      input.value = '';
      dialog.remove();
      resolve(ok ? value : null);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    input.focus();
  });
}
