/** The dashboard shell: the session, the navigation and the page the hash names. */
import './style.css';
import { render } from 'preact';
import { signal } from '@preact/signals';
import { resume, signOut, type Me } from './api.ts';
import { Approvals } from './pages/Approvals.tsx';
import { Consent } from './pages/Consent.tsx';
import { Decisions } from './pages/Decisions.tsx';
import { Delegations } from './pages/Delegations.tsx';
import { Licenses } from './pages/Licenses.tsx';
import { Log } from './pages/Log.tsx';
import { Modules } from './pages/Modules.tsx';
import { Overview } from './pages/Overview.tsx';
import { Quorum } from './pages/Quorum.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { Tokens } from './pages/Tokens.tsx';
import { href, route } from './router.ts';
import { ErrorNote } from './ui.tsx';

/** undefined: still asking the server whether the cookie holds a session. */
const me = signal<Me | null | undefined>(undefined);
const shellError = signal<unknown>(undefined);

const PAGES: Array<{ id: string; title: string; page: () => preact.JSX.Element }> = [
  { id: 'overview', title: 'Overview', page: Overview },
  { id: 'decisions', title: 'Decisions', page: Decisions },
  { id: 'log', title: 'Log', page: Log },
  { id: 'quorum', title: 'Quorum', page: Quorum },
  { id: 'approvals', title: 'Approvals', page: Approvals },
  { id: 'tokens', title: 'Tokens', page: Tokens },
  { id: 'licenses', title: 'Licenses', page: Licenses },
  { id: 'delegations', title: 'Delegations', page: Delegations },
  { id: 'consent', title: 'Consent', page: Consent },
  { id: 'modules', title: 'Modules', page: Modules },
];

function Nav({ who }: { who: Me }) {
  const current = route.value.parts[0];
  const out = async () => {
    try {
      await signOut();
      me.value = null;
      location.hash = '';
    } catch (err) {
      shellError.value = err;
    }
  };
  return (
    <header class="top">
      <a class="brand" href={href('overview')}>
        Sigil
      </a>
      <nav aria-label="Pages">
        {PAGES.map((p) => (
          <a href={href(p.id)} aria-current={p.id === current ? 'page' : undefined}>
            {p.title}
          </a>
        ))}
      </nav>
      <span class="who" data-testid="who">
        {who.subject} · {who.loa}
      </span>
      <button type="button" onClick={out}>
        Sign out
      </button>
    </header>
  );
}

function App() {
  const who = me.value;
  if (who === undefined) return <p class="muted">Loading…</p>;
  if (who === null) return <SignIn onSignedIn={(m) => (me.value = m)} />;
  const page = PAGES.find((p) => p.id === route.value.parts[0]);
  return (
    <>
      <Nav who={who} />
      <main>
        <ErrorNote error={shellError.value} />
        {page ? <page.page /> : <p>No such page.</p>}
      </main>
    </>
  );
}

resume().then(
  (m) => (me.value = m),
  () => (me.value = null),
);
render(<App />, document.getElementById('app')!);
