/**
 * The app's frame: the node's status in the header, sign-in with the
 * regulator's key file, the tabs, and the page of the current route.
 */

import { useEffect, useRef, useState } from 'preact/hooks';
import type { StatusView } from './api';
import { shorten, utc } from './format';
import { NodeInfo } from './node';
import { AuditSession, call, describeError, refusalOf } from './rpc';
import { parseKeyFile } from './sdk';
import { AppContext, ErrorBox, Loading, parseRoute, TABS, useInterval, type Route } from './ui';
import { AccountPage } from './views/account';
import { AlertsPage } from './views/alerts';
import { FlowsPage } from './views/flows';
import { GraphPage } from './views/graph';
import { LogPage } from './views/log';

const STATUS_REFRESH_MS = 5_000;

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function App() {
  const route = useRoute();
  const [node, setNode] = useState<NodeInfo | null>(null);
  const [nodeError, setNodeError] = useState<unknown>(null);
  const [session, setSession] = useState<AuditSession | null>(null);

  useEffect(() => {
    NodeInfo.load().then(setNode, setNodeError);
  }, []);

  // The header's height and time; parameters are read once per sign-in
  // (or again until a first read succeeds).
  useInterval(() => {
    if (!node) {
      NodeInfo.load().then((n) => {
        setNode(n);
        setNodeError(null);
      }, setNodeError);
      return;
    }
    call<StatusView>('hutong_status').then(
      (s) => {
        setNode((n) => (n ? n.withStatus(s) : n));
        setNodeError(null);
      },
      setNodeError,
    );
  }, STATUS_REFRESH_MS);

  const signOut = () => {
    session?.signOut();
    setSession(null);
  };

  const signedIn = async (s: AuditSession) => {
    // The members and regulators may have changed since the page loaded.
    setNode(await NodeInfo.load().catch(() => node));
    setSession(s);
  };

  const regulator = session && node ? node.regulatorOfKey(session.publicKeyHex) : undefined;
  return (
    <div class="app">
      <header class="top">
        <div class="brand">
          <span class="logo">HT</span>
          <span>Hutong · regulator dashboard</span>
        </div>
        {node && (
          <div class="node-status" data-testid="node-status">
            <span title={`chain id ${node.chainId}`}>{node.status.consortium}</span>
            <span>
              {node.status.role} node · height <b data-testid="height">{node.status.height}</b>
            </span>
            <span class="muted">block time {utc(node.status.timestamp_ms)}</span>
            {node.status.halted && <span class="halted">halted: {node.status.halted}</span>}
          </div>
        )}
        <div class="who">
          {session && (
            <>
              <span class="signed-in" data-testid="signed-in" title={session.publicKeyHex}>
                signed in as <b>{regulator?.name ?? 'an unlisted key'}</b> ({shorten(session.address)})
              </span>
              <button type="button" class="secondary" data-testid="sign-out" onClick={signOut}>
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      {session && node && (
        <nav class="tabs">
          {TABS.map((t) => (
            <a key={t.tab} href={`#/${t.tab}`} class={route.tab === t.tab ? 'active' : ''} data-testid={`tab-${t.tab}`}>
              {t.label}
            </a>
          ))}
        </nav>
      )}
      <main>
        {nodeError !== null && <ErrorBox error={nodeError} testid="node-error" />}
        {!node ? (
          nodeError === null && <Loading what="Reading the node's status" />
        ) : !session ? (
          <SignIn node={node} onSignedIn={signedIn} />
        ) : (
          <AppContext.Provider value={{ node, session }}>
            <Page route={route} />
          </AppContext.Provider>
        )}
      </main>
    </div>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.tab) {
    case 'alerts':
      return <AlertsPage />;
    case 'account':
      return <AccountPage address={route.arg} />;
    case 'graph':
      return <GraphPage params={route.params} />;
    case 'flows':
      return <FlowsPage params={route.params} />;
    case 'log':
      return <LogPage />;
  }
}

/**
 * Sign-in: the analyst picks the regulator's key file. The key is parsed
 * here and kept in memory only (never sent, never stored); the first
 * signed audit request, which the node authenticates, completes sign-in.
 */
function SignIn({ node, onSignedIn }: { node: NodeInfo; onSignedIn: (s: AuditSession) => void }) {
  const [state, setState] = useState<{ phase: 'idle' | 'checking' | 'refused'; message?: string; code?: string }>({ phase: 'idle' });
  const input = useRef<HTMLInputElement>(null);

  const load = async (file: File | undefined) => {
    if (!file) return;
    setState({ phase: 'checking' });
    let session: AuditSession | null = null;
    try {
      const text = await file.text();
      // The file input lets go of the file: nothing of it stays in the DOM.
      if (input.current) input.current.value = '';
      const key = parseKeyFile(text);
      session = new AuditSession(key, node.chainId);
      // Signed, checked and logged by the node like any audit request.
      await session.audit('hutong_auditLog', { limit: 1 });
      onSignedIn(session);
    } catch (e) {
      session?.signOut();
      const refusal = refusalOf(e);
      setState({ phase: 'refused', code: refusal?.code ?? 'error', message: describeError(e) });
    }
  };

  return (
    <section class="card signin" data-testid="sign-in">
      <h2>Sign in</h2>
      <p>
        Choose your regulator key file (<code>hutong-ed25519-secret-key</code>, as <code>hutong keys new</code> writes it). The key stays in this page's
        memory: it signs each audit request here and is never sent or stored. Reloading the page or signing out forgets it.
      </p>
      <label class="file">
        <span>Regulator key file</span>
        <input ref={input} type="file" data-testid="key-file" disabled={state.phase === 'checking'} onChange={(e) => load((e.currentTarget as HTMLInputElement).files?.[0])} />
      </label>
      {state.phase === 'checking' && <Loading what="Signing a first request" />}
      {state.phase === 'refused' && (
        <div class="error" role="alert" data-testid="sign-in-refused" data-code={state.code}>
          Not signed in: {state.message}
        </div>
      )}
      <p class="muted">
        Regulators of this chain:{' '}
        {node.params.regulators.map((r) => (
          <span key={r.key} class="pill" title={r.key}>
            {r.name}
          </span>
        ))}
      </p>
    </section>
  );
}
