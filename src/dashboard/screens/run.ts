/**
 * One run: its outcome and its output. A run in progress shows its output as it arrives, over
 * the task's event stream; EventSource reconnects by itself after a dropped connection and the
 * daemon resumes the stream from the last event received, so nothing is missed or doubled
 * (the byte offsets of each piece guard against doubles all the same). Each pane follows the
 * end of its output unless the user has scrolled up to read.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatTime } from '../format.js';
import { ErrorNote, html, mayDo, OutcomeLabel, refusedBecause, taskHref, useNow, useShared } from '../ui.js';
import type { RunView } from '../views.js';
import { addPiece, keptText, type Received, type Stream } from '../output-text.js';
import { durationText, exitText } from './task.js';

function OutputPane({ label, received }: { label: string; received: Received }) {
  const pane = useRef<HTMLPreElement>(null);
  const following = useRef(true);
  const lastTop = useRef(0);
  useLayoutEffect(() => {
    const element = pane.current;
    if (!element) return;
    // A scroll up whose event has not come yet (it comes a frame later) stops the following
    // here, before the scroll to the end below would undo it: on a busy page, output arriving
    // between the two took the user's scroll away.
    if (element.scrollTop < lastTop.current) following.current = false;
    if (!following.current) return;
    element.scrollTop = element.scrollHeight;
    lastTop.current = element.scrollTop;
  }, [received.text]);
  // Decided by the direction of a scroll, not by where it lands: the scroll event comes a frame
  // later, by when more output may have arrived, so "at the end" alone would wrongly stop the
  // following after the pane's own scroll to the end. Up stops it; down near the end resumes it.
  const onScroll = () => {
    const element = pane.current;
    if (!element) return;
    const fromEnd = element.scrollHeight - element.clientHeight - element.scrollTop;
    if (element.scrollTop < lastTop.current) following.current = false;
    else if (fromEnd <= Math.max(48, element.clientHeight / 4)) following.current = true;
    lastTop.current = element.scrollTop;
  };
  return html`<div class="pane">
    <h2>${label} <span class="muted">${received.bytes} bytes</span></h2>
    <pre class="output" ref=${pane} onScroll=${onScroll} tabindex="0" aria-label=${`${label} of the run`} data-stream=${label}>${received.text}</pre>
  </div>`;
}

export function RunScreen({ id, run }: { id: string; run: number }) {
  const { session, zone } = useShared();
  const now = useNow();
  const [info, setInfo] = useState<RunView | null>(null);
  const [output, setOutput] = useState<Record<Stream, Received>>({ stdout: { text: '', bytes: 0 }, stderr: { text: '', bytes: 0 } });
  const [link, setLink] = useState<'live' | 'reconnecting' | 'ended'>('ended');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    let events: EventSource | undefined;
    let closed = false;
    let retry: number | undefined;
    /** The id of the last event received: a new stream resumes after it. */
    let lastEventId: string | undefined;
    const finished = () => {
      events?.close();
      setLink('ended');
      void api.getRun(id, run).then(setInfo, setError);
    };
    const follow = () => {
      if (closed) return;
      events = api.events(id, lastEventId);
      const stream = events;
      const on = (name: string, handle: (data: string) => void) =>
        stream.addEventListener(name, (event) => {
          const message = event as MessageEvent<string>;
          if (message.lastEventId) lastEventId = message.lastEventId;
          handle(message.data);
        });
      stream.addEventListener('open', () => setLink('live'));
      stream.addEventListener('error', () => {
        setLink('reconnecting');
        // EventSource retries a dropped stream by itself, resuming from the last event id;
        // it gives up when the daemon cannot be reached at the retry. The page then starts
        // a new stream from that id, a second later, while the run still runs.
        if (stream.readyState !== EventSource.CLOSED) return;
        clearTimeout(retry);
        retry = window.setTimeout(() => {
          api.getRun(id, run).then((now) => (now.outcome === 'running' ? follow() : finished()), () => follow());
        }, 1000);
      });
      on('output', (data) => {
        const piece = JSON.parse(data) as { run: number; stream: Stream; offset: number; text: string };
        if (piece.run !== run) return;
        setOutput((current) => ({ ...current, [piece.stream]: addPiece(current[piece.stream], piece.offset, piece.text) }));
      });
      on('run-finished', (data) => {
        if ((JSON.parse(data) as { run: number }).run === run) finished();
      });
      // The run may have ended between reading it and the stream's start: the snapshot then
      // lists it no more among the runs executing.
      on('snapshot', (data) => {
        if ((JSON.parse(data) as { runs: number[] }).runs.includes(run)) return;
        void api.getRun(id, run).then((now) => (now.outcome === 'running' ? undefined : finished()), setError);
      });
    };
    api.getRun(id, run).then(
      (loaded) => {
        if (closed) return;
        setInfo(loaded);
        if (loaded.outcome === 'running') follow();
        else setOutput({ stdout: keptText(loaded, 'stdout'), stderr: keptText(loaded, 'stderr') });
      },
      setError,
    );
    return () => {
      closed = true;
      clearTimeout(retry);
      events?.close();
    };
  }, [id, run]);

  const kill = async () => {
    setNotice(null);
    try {
      await api.act(id, 'kill');
    } catch (failure) {
      setNotice((failure as Error).message);
    }
  };
  const download = async () => {
    try {
      const [stdout, stderr] = await Promise.all([api.wholeOutput(id, run, 'stdout'), api.wholeOutput(id, run, 'stderr')]);
      for (const [stream, text] of [['stdout', stdout], ['stderr', stderr]] as const) {
        if (text === '' && stream === 'stderr') continue;
        const anchor = document.createElement('a');
        anchor.href = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
        anchor.download = `${id}-run${run}.${stream}.txt`;
        anchor.click();
        URL.revokeObjectURL(anchor.href);
      }
    } catch (failure) {
      setNotice((failure as Error).message);
    }
  };

  const running = info?.outcome === 'running';
  const mayKill = mayDo(session.role, 'kill');
  const dropped = (info?.stdoutDroppedBytes ?? 0) + (info?.stderrDroppedBytes ?? 0);
  return html`<section>
    <p><a href=${taskHref(id)}>← ${id}</a></p>
    <h1>${id}, run #${run}</h1>
    <${ErrorNote} error=${error} />
    ${info ? html`<dl class="facts">
      <dt>Outcome</dt><dd><${OutcomeLabel} outcome=${info.waiting ? 'waiting' : info.outcome} />${running ? html` <span class="muted link-state" data-link=${link}>(${link === 'live' ? 'live' : link})</span>` : null}</dd>
      <dt>Exit</dt><dd>${exitText(info)}</dd>
      <dt>Started</dt><dd>${formatTime(info.startedAt, zone)}</dd>
      <dt>Finished</dt><dd>${formatTime(info.finishedAt, zone)}</dd>
      <dt>Duration</dt><dd>${durationText(info, now)}</dd>
      ${info.error ? html`<dt>Why</dt><dd>${info.error}</dd>` : null}
      ${info.limit ? html`<dt>Limit</dt><dd>ended by its ${info.limit} limit</dd>` : null}
    </dl>` : null}
    <div class="actions" role="group" aria-label="Commands">
      <button type="button" class="danger" disabled=${!running || !mayKill} title=${mayKill ? 'ends the run (its whole process group)' : refusedBecause(session.role, 'kill runs')} onClick=${kill}>Kill</button>
      <button type="button" onClick=${download}>Download output</button>
    </div>
    ${notice ? html`<p class="error" role="alert">${notice}</p>` : null}
    ${dropped > 0 ? html`<p class="notice" role="status">This run wrote more than its output cap: ${dropped} bytes from the middle were not kept. The start and the end are shown.</p>` : null}
    <div class="panes">
      <${OutputPane} label="stdout" received=${output.stdout} />
      <${OutputPane} label="stderr" received=${output.stderr} />
    </div>
  </section>`;
}
