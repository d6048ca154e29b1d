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
  useLayoutEffect(() => {
    if (following.current && pane.current) pane.current.scrollTop = pane.current.scrollHeight;
  }, [received.text]);
  const onScroll = () => {
    const element = pane.current;
    if (element) following.current = element.scrollTop + element.clientHeight >= element.scrollHeight - 8;
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
    const follow = () => {
      events = api.events(id);
      setLink('live');
      events.addEventListener('open', () => setLink('live'));
      // EventSource reconnects by itself (the daemon asks it to after 1 s) and resumes.
      events.addEventListener('error', () => setLink(events?.readyState === EventSource.CLOSED ? 'ended' : 'reconnecting'));
      events.addEventListener('output', (event) => {
        const piece = JSON.parse((event as MessageEvent<string>).data) as { run: number; stream: Stream; offset: number; text: string };
        if (piece.run !== run) return;
        setOutput((current) => ({ ...current, [piece.stream]: addPiece(current[piece.stream], piece.offset, piece.text) }));
      });
      const finished = () => {
        events?.close();
        setLink('ended');
        void api.getRun(id, run).then(setInfo, setError);
      };
      events.addEventListener('run-finished', (event) => {
        if ((JSON.parse((event as MessageEvent<string>).data) as { run: number }).run === run) finished();
      });
      // The run may have ended between reading it and the stream's start: the snapshot then
      // lists it no more among the runs executing.
      events.addEventListener('snapshot', (event) => {
        const snapshot = JSON.parse((event as MessageEvent<string>).data) as { runs: number[] };
        if (snapshot.runs.includes(run)) return;
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
