import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Api } from './api';
import { AuditPage } from './pages/audit';
import { RunPage } from './pages/run';
import { RunsPage } from './pages/runs';
import { SignIn } from './pages/signin';
import { SitesPage } from './pages/sites';
import { href, useRoute } from './router';
import { forgetToken, savedToken, saveToken, Session } from './session';

/** Checks a token with GET /auth/whoami: the role decides what the pages offer. */
async function signInWith(token: string): Promise<Session> {
  const who = await new Api(token).get<{ actor: string; role: Session['role'] }>('/auth/whoami');
  return { token, role: who.role, actor: who.actor };
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(Boolean(savedToken()));
  const route = useRoute();

  useEffect(() => {
    const token = savedToken();
    if (!token) return;
    signInWith(token)
      .then(setSession)
      .catch(() => forgetToken())
      .finally(() => setChecking(false));
  }, []);

  const signIn = async (token: string) => {
    const next = await signInWith(token);
    saveToken(token);
    setSession(next);
  };
  const signOut = () => {
    forgetToken();
    setSession(null);
  };

  if (checking) return <p class="page">Checking the saved sign-in…</p>;
  if (!session) return <SignIn onSignIn={signIn} />;
  const api = new Api(session.token);
  const [page, id] = route;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">phcc-fed</span>
        <nav aria-label="Pages">
          <a href={href('runs')} aria-current={page === 'runs' ? 'page' : undefined}>
            Runs
          </a>
          <a href={href('sites')} aria-current={page === 'sites' ? 'page' : undefined}>
            Sites
          </a>
          <a href={href('audit')} aria-current={page === 'audit' ? 'page' : undefined}>
            Audit
          </a>
        </nav>
        <span class="who">
          <span class={`role role-${session.role}`} data-role={session.role}>
            {session.role}
          </span>{' '}
          <span class="mono">{session.actor}</span>
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" class="page">
        {page === 'runs' && id ? (
          <RunPage key={id} api={api} session={session} runId={id} />
        ) : page === 'sites' ? (
          <SitesPage api={api} session={session} />
        ) : page === 'audit' ? (
          <AuditPage api={api} />
        ) : (
          <RunsPage api={api} session={session} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
