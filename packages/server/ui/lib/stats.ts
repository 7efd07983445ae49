/**
 * Counters the browser tests read (window.__millrace): how many throttled renders ran
 * and when each view first showed its data (ms since the page's navigation started).
 */
export const stats = {
  renders: 0,
  marks: {} as Record<string, number>,
  /** Record the first time `name` happened. */
  mark(name: string): void {
    if (!(name in this.marks)) this.marks[name] = Math.round(performance.now());
  },
};

(window as unknown as { __millrace: typeof stats }).__millrace = stats;
