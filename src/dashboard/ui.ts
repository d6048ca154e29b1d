/**
 * What every screen shares: the template tag, who is logged in and what their role allows,
 * the time-zone choice, a clock that ticks each second for countdowns, and small pieces
 * (status badges, outcome marks, error notes).
 */
import { createContext, h } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import type { ZoneChoice } from './format.js';
import type { SessionView } from './views.js';
export { mayDo, refusedBecause } from './permissions.js';

export const html = htm.bind(h);

export interface Shared {
  session: SessionView;
  zone: ZoneChoice;
}
export const SharedContext = createContext<Shared>({ session: { name: '', role: 'viewer', expiresAt: null, tokenRequired: true }, zone: 'utc' });
export const useShared = (): Shared => useContext(SharedContext);

/** The time now, moving once a second: for countdowns and the durations of runs in progress. */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** Calls `load` now and every `everyMs` while the screen shows; `deps` restart it. */
export function usePolling(load: () => void, everyMs: number, deps: unknown[]): void {
  useEffect(() => {
    load();
    const timer = setInterval(load, everyMs);
    return () => clearInterval(timer);
  }, deps);
}

/** Server-side pages followed by cursor: the cursor of the page shown, and those before it to go back. */
export interface CursorPages {
  /** The cursor of the page shown (undefined: the first). */
  cursor: string | undefined;
  /** Back to the first page (the filters changed). */
  restart(): void;
  /** The page before, if any. */
  back(): void;
  /** The page at `next`, the nextCursor of the page shown. */
  forward(next: string): void;
  /** 1 for the first page. */
  number: number;
}

export function useCursorPages(): CursorPages {
  // The cursors of the pages before this one, to go back; the current page's own cursor.
  const [before, setBefore] = useState<Array<string | undefined>>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  return {
    cursor,
    number: before.length + 1,
    restart: () => {
      setBefore([]);
      setCursor(undefined);
    },
    back: () => {
      if (before.length === 0) return;
      setCursor(before[before.length - 1]);
      setBefore(before.slice(0, -1));
    },
    forward: (next) => {
      setBefore([...before, cursor]);
      setCursor(next);
    },
  };
}

/** The buttons to the page before and the page after, and the page's number. */
export function Pager({ pages, nextCursor, label, previous, next }: { pages: CursorPages; nextCursor: string | null | undefined; label: string; previous: string; next: string }) {
  return html`<nav class="pager" aria-label=${label}>
    <button type="button" disabled=${pages.number === 1} onClick=${pages.back}>${previous}</button>
    <span class="muted">page ${pages.number}</span>
    <button type="button" disabled=${!nextCursor} onClick=${() => nextCursor && pages.forward(nextCursor)}>${next}</button>
  </nav>`;
}

const statusWords: Record<string, string> = {
  ToBeExecuted: 'scheduled',
  Executing: 'running',
  Executed: 'done',
  WaitForNextExecution: 'waiting',
  Stopped: 'stopped',
  Paused: 'paused',
};

export function StatusBadge({ status }: { status: string }) {
  return html`<span class=${`badge status-${status}`} title=${status}>${statusWords[status] ?? status}</span>`;
}

/** The last outcomes as coloured marks, oldest first, each with its name for screen readers and on hover. */
export function OutcomeMarks({ outcomes }: { outcomes: readonly string[] }) {
  if (outcomes.length === 0) return html`<span class="muted">no runs</span>`;
  return html`<span class="marks" role="img" aria-label=${`last ${outcomes.length} runs: ${outcomes.join(', ')}`}>
    ${outcomes.map((outcome) => html`<span class=${`mark outcome-${outcome}`} title=${outcome}></span>`)}
  </span>`;
}

export function OutcomeLabel({ outcome }: { outcome: string }) {
  return html`<span class=${`outcome-text outcome-${outcome}`}><span class=${`mark outcome-${outcome}`} aria-hidden="true"></span> ${outcome.replace('_', ' ')}</span>`;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return html`<p class="error" role="alert">${message}</p>`;
}

export const navigate = (hash: string): void => {
  location.hash = hash;
};
export const taskHref = (id: string): string => `#/tasks/${encodeURIComponent(id)}`;
export const runHref = (id: string, run: number): string => `${taskHref(id)}/runs/${run}`;
