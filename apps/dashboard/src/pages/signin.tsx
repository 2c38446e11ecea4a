import { useState } from 'preact/hooks';
import { ErrorLine } from '../components';
import { ApiError } from '../api';

/** Token sign-in: the token is checked against the API, then kept in this tab's sessionStorage only. */
export function SignIn({ onSignIn }: { onSignIn: (token: string) => Promise<void> }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      await onSignIn(token.trim());
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'That token is not valid here (wrong, rotated or revoked).'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-describedby="signin-help">
        <h1>phcc-fed dashboard</h1>
        <p id="signin-help">
          Sign in with an admin or observer token. Admins start and stop runs and revoke sites; observers see
          everything read-only. The token stays in this browser tab until you sign out or close it.
        </p>
        <label for="token">Access token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          required
          autofocus
        />
        <ErrorLine text={error} />
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p class="hint">
          The admin token is <code>PHCC_ADMIN_TOKEN</code> (or the one printed at the coordinator&rsquo;s
          first start); observer tokens come from <code>POST /auth/tokens</code>.
        </p>
      </form>
    </main>
  );
}
