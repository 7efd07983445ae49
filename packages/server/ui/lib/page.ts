/** What a view of the UI is, for the router. */
import type { LiveEvents } from './events.ts';

export interface Page {
  /** Stop listening to events and timers. */
  destroy(): void;
}

export interface PageContext {
  readonly events: LiveEvents;
  /** The <main> element the page renders into (emptied before). */
  readonly main: HTMLElement;
  /** The document title's first part. */
  setTitle(title: string): void;
}

export type PageFactory = (ctx: PageContext, params: readonly string[]) => Page;
