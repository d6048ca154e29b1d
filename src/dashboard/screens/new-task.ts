/**
 * New task: a form for the three kinds of schedule. As the user types, a dry run
 * (POST /api/tasks?dryRun=true) checks the task and lists its next fire times, so the
 * daemon's own rules, not a copy of them here, decide what is valid; its errors are shown
 * beside the field they name.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { browserZone, formatTime } from '../format.js';
import { html, mayDo, navigate, refusedBecause, taskHref, useShared } from '../ui.js';

type Kind = 'delay' | 'at' | 'cron';
interface Draft {
  id: string;
  type: Kind;
  time: string;
  timezone: string;
  script: string;
  timeout: string;
}

const hints: Record<Kind, { label: string; placeholder: string; help: string }> = {
  delay: { label: 'Run after', placeholder: '10m', help: 'A duration: 300ms, 10s, 1m, 1h30m. The task runs once, that long after it is submitted.' },
  at: { label: 'Run at', placeholder: '2026-12-24 22:00', help: 'A time: 2026-12-24T22:00:00Z, or "2026-12-24 22:00" in the time zone below.' },
  cron: { label: 'Schedule', placeholder: '0 9 * * MON-FRI', help: 'A duration to repeat on (5m), or a cron expression: 5 fields, 6 with seconds first ("*/10 * * * * *"), or @hourly, @daily…' },
};

const fieldsOf = ['id', 'type', 'time', 'timezone', 'script', 'timeout'] as const;
type Field = (typeof fieldsOf)[number];

/** The body of a submit: the fields the user filled; a dry run fills the missing ones so it can still list fire times. */
function bodyOf(draft: Draft, forPreview: boolean) {
  return {
    id: draft.id || (forPreview ? 'preview' : ''),
    type: draft.type,
    time: draft.time,
    script: draft.script || (forPreview ? 'true' : ''),
    ...(draft.type !== 'delay' ? { timezone: draft.timezone } : {}),
    ...(draft.timeout ? { timeout: draft.timeout } : {}),
  };
}

export function NewTaskScreen() {
  const { session, zone } = useShared();
  const [draft, setDraft] = useState<Draft>({ id: '', type: 'cron', time: '', timezone: browserZone(), script: '', timeout: '' });
  const [fires, setFires] = useState<string[]>([]);
  const [errors, setErrors] = useState<Partial<Record<Field | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  const allowed = mayDo(session.role, 'submit');
  const zones = Intl.supportedValuesOf('timeZone');

  // The preview follows the typing, a dry run once the user pauses for 300 ms.
  useEffect(() => {
    if (!allowed || draft.time.trim() === '') {
      setFires([]);
      setErrors({});
      return;
    }
    let current = true;
    const timer = setTimeout(() => {
      api.preview(bodyOf(draft, true), 10).then(
        (answer) => {
          if (!current) return;
          setFires(answer.nextRuns);
          setErrors({});
        },
        (failure: unknown) => {
          if (!current) return;
          setFires([]);
          // Only about what the user has filled in: the preview's stand-ins are not theirs to fix.
          const field = failure instanceof ApiError ? (failure.field as Field | undefined) : undefined;
          if (field && fieldsOf.includes(field) && (field !== 'id' || draft.id) && (field !== 'script' || draft.script)) {
            setErrors({ [field]: (failure as Error).message });
          } else if (!field && (draft.id || (failure as ApiError).code !== 'already_exists')) setErrors({ form: (failure as Error).message });
          else setErrors({});
        },
      );
    }, 300);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [draft, allowed]);

  const set = (field: keyof Draft) => (event: Event) => setDraft({ ...draft, [field]: (event.target as HTMLInputElement).value });
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const task = await api.submit(bodyOf(draft, false));
      navigate(taskHref(task.id));
    } catch (failure) {
      const field = failure instanceof ApiError ? (failure.field as Field | undefined) : undefined;
      setErrors(field && fieldsOf.includes(field) ? { [field]: (failure as Error).message } : { form: (failure as Error).message });
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (field: Field) => (errors[field] ? html`<p class="field-error" id=${`${field}-error`}>${errors[field]}</p>` : null);
  const described = (field: Field, hint?: string) => [errors[field] ? `${field}-error` : '', hint ?? ''].filter(Boolean).join(' ') || undefined;
  const hint = hints[draft.type];
  return html`<section>
    <h1>New task</h1>
    ${allowed ? null : html`<p class="notice">${refusedBecause(session.role, 'submit tasks')}.</p>`}
    <form class="task-form" onSubmit=${submit}>
      <fieldset disabled=${!allowed}>
        <label for="id">Id</label>
        <input id="id" required value=${draft.id} onInput=${set('id')} aria-invalid=${Boolean(errors.id)} aria-describedby=${described('id', 'id-hint')} />
        <p class="hint" id="id-hint">1 to 128 of letters, digits, dot, dash and underscore.</p>
        ${fieldError('id')}
        <fieldset class="kinds">
          <legend>When</legend>
          ${(['delay', 'at', 'cron'] as const).map((kind) => html`<label class="inline">
            <input type="radio" name="type" value=${kind} checked=${draft.type === kind} onChange=${() => setDraft({ ...draft, type: kind })} />
            ${kind === 'delay' ? 'once, after a delay' : kind === 'at' ? 'once, at a time' : 'again and again'}
          </label>`)}
        </fieldset>
        <label for="time">${hint.label}</label>
        <input id="time" required value=${draft.time} placeholder=${hint.placeholder} onInput=${set('time')} aria-invalid=${Boolean(errors.time)} aria-describedby=${described('time', 'time-hint')} />
        <p class="hint" id="time-hint">${hint.help}</p>
        ${fieldError('time')}
        ${draft.type === 'delay' ? null : html`
          <label for="timezone">Time zone</label>
          <select id="timezone" value=${draft.timezone} onChange=${set('timezone')} aria-describedby=${described('timezone')}>
            ${zones.map((name) => html`<option value=${name}>${name}</option>`)}
          </select>
          ${fieldError('timezone')}`}
        <label for="script">Script (bash)</label>
        <textarea id="script" required rows="6" value=${draft.script} onInput=${set('script')} aria-invalid=${Boolean(errors.script)} aria-describedby=${described('script')}></textarea>
        ${fieldError('script')}
        <label for="timeout">Timeout (optional)</label>
        <input id="timeout" value=${draft.timeout} placeholder="5m" onInput=${set('timeout')} aria-invalid=${Boolean(errors.timeout)} aria-describedby=${described('timeout')} />
        ${fieldError('timeout')}
        <button type="submit" disabled=${busy}>Submit</button>
        ${errors.form ? html`<p class="error" role="alert">${errors.form}</p>` : null}
      </fieldset>
    </form>
    <aside class="preview" aria-live="polite">
      <h2>Next fire times</h2>
      ${fires.length === 0 ? html`<p class="muted">${draft.time ? 'None yet.' : 'Type a schedule to see when it fires.'}</p>` : html`<ol class="fires">${fires.map((at) => html`<li>${formatTime(at, zone)}</li>`)}</ol>`}
    </aside>
  </section>`;
}
