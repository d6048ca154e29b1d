/** Log in with a token: the daemon answers with a session cookie the page never sees (HttpOnly). */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, html } from '../ui.js';
import type { SessionView } from '../views.js';

export function LoginScreen({ onLogin }: { onLogin: (session: SessionView) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(token);
      onLogin(await api.session());
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <h1>scheduler</h1>
    <form onSubmit=${submit}>
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required value=${token}
        onInput=${(event: Event) => setToken((event.target as HTMLInputElement).value)} />
      <p class="hint">A token of this daemon: its own (<code>--token-file</code>), one from its config file, or one made with <code>scheduler token create</code>.</p>
      <button type="submit" disabled=${busy}>Log in</button>
      <${ErrorNote} error=${error} />
    </form>
  </main>`;
}
