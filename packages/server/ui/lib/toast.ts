/** Short messages about what a button did (a polite live region: screen readers read them). */
import { h } from './dom.ts';

let region: HTMLElement | null = null;

export function toastRegion(): HTMLElement {
  region ??= h('div', { id: 'toast', role: 'status', 'aria-live': 'polite' });
  return region;
}

export function toast(message: string, kind: 'ok' | 'error' = 'ok'): void {
  const r = toastRegion();
  const item = h('p', { class: `toast ${kind}` }, message);
  r.appendChild(item);
  window.setTimeout(() => item.remove(), kind === 'error' ? 12_000 : 5_000);
}
