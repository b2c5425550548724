/**
 * The app's shared pieces: its context (the node, the signed-in session,
 * navigation), hash routes, and small components for addresses, amounts,
 * times, errors and scores.
 */

import { createContext, type ComponentChildren } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { money, shorten, utc } from './format';
import type { NodeInfo } from './node';
import { describeError, type AuditSession } from './rpc';

// ---------------------------------------------------------------- routes

export type Tab = 'alerts' | 'account' | 'graph' | 'flows' | 'log';
export const TABS: { tab: Tab; label: string }[] = [
  { tab: 'alerts', label: 'Alert queue' },
  { tab: 'account', label: 'Account' },
  { tab: 'graph', label: 'Fund flow' },
  { tab: 'flows', label: 'Institution flows' },
  { tab: 'log', label: 'Audit log' },
];

/** A page and its arguments: `#/<tab>[/<arg>][?<params>]`. */
export interface Route {
  tab: Tab;
  arg: string;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const m = /^#\/([a-z]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(hash);
  const tab = TABS.find((t) => t.tab === m?.[1])?.tab ?? 'alerts';
  return { tab, arg: m?.[2] ? decodeURIComponent(m[2]) : '', params: new URLSearchParams(m?.[3] ?? '') };
}

/** The link of a page; params with an empty or undefined value are left out. */
export function href(tab: Tab, arg = '', params: Record<string, string | number | undefined | null> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return `#/${tab}${arg ? `/${encodeURIComponent(arg)}` : ''}${qs ? `?${qs}` : ''}`;
}

export const accountHref = (address: string) => href('account', address);

// ---------------------------------------------------------------- context

export interface AppContextValue {
  node: NodeInfo;
  session: AuditSession;
}

export const AppContext = createContext<AppContextValue | null>(null);

/** The node and the session; only under a signed-in app. */
export function useApp(): AppContextValue {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error('useApp outside the signed-in app');
  return ctx;
}

/** Calls `fn` every `ms` while mounted (and `enabled`); the interval restarts when deps change. */
export function useInterval(fn: () => void, ms: number, enabled = true): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!enabled) return;
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms, enabled]);
}

// ---------------------------------------------------------------- components

/** Copies `text` to the clipboard; says so for a moment. */
export function CopyButton({ text, label = 'copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async (ev: Event) => {
    ev.preventDefault();
    ev.stopPropagation();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard permission (or an old browser): copy through a selection.
      const area = document.createElement('textarea');
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1200);
  };
  return (
    <button type="button" class={`copy${done ? ' copied' : ''}`} title={`copy ${text}`} aria-label={`${label} ${text}`} onClick={copy}>
      {done ? '✓' : <CopyIcon />}
    </button>
  );
}

/** Two overlapping sheets (markup, not a font glyph: no font is downloaded, and not every machine has one with ⧉). */
function CopyIcon() {
  return (
    <svg class="icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
      <rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5" />
      <path d="M11 3.5V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5" fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

/**
 * An address (or a hash, a key): shortened, the full value on hover, a
 * copy button; an account links to its account view unless `link` is off.
 */
export function Addr({ value, link = true, name, short = true }: { value: string; link?: boolean; name?: string; short?: boolean }) {
  if (!value) return <span class="muted">—</span>;
  const text = short ? shorten(value) : value;
  return (
    <span class="addr" title={value} data-value={value}>
      {link ? <a href={accountHref(value)}>{text}</a> : <span class="mono">{text}</span>}
      {name && <span class="addr-name">{name}</span>}
      <CopyButton text={value} />
    </span>
  );
}

/** A transaction hash: shortened, copyable, with a link to trace money from it. */
export function TxHash({ hash }: { hash: string }) {
  return (
    <span class="addr" title={hash} data-value={hash}>
      <a href={href('graph', '', { tx: hash })} title={`trace money from transaction ${hash}`}>
        {shorten(hash, 8, 6)}
      </a>
      <CopyButton text={hash} />
    </span>
  );
}

export function Money({ decimal, asset }: { decimal: string | null | undefined; asset: string | null | undefined }) {
  return <span class="money">{money(decimal, asset)}</span>;
}

export function Time({ ms }: { ms: number | null | undefined }) {
  return <time class="time">{utc(ms)}</time>;
}

/** A score 0–100 as a bar (its width set through the CSSOM, which the page's CSP allows). */
export function ScoreBar({ score }: { score: number | undefined }) {
  if (typeof score !== 'number') return <span class="muted">—</span>;
  const level = score >= 80 ? 'high' : score >= 50 ? 'mid' : 'low';
  return (
    <span class={`score score-${level}`} title={`score ${score} of 100`} data-score={score}>
      <span class="score-track">
        <span class="score-fill" style={{ width: `${Math.max(0, Math.min(100, score))}%` }} />
      </span>
      <b>{score}</b>
    </span>
  );
}

export function ErrorBox({ error, testid }: { error: unknown; testid?: string }) {
  if (error === null || error === undefined) return null;
  return (
    <div class="error" role="alert" data-testid={testid ?? 'error'}>
      {describeError(error)}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div class="loading" aria-busy="true">
      <span class="spinner" /> {what}…
    </div>
  );
}

export function Card({ title, children, actions, testid }: { title?: ComponentChildren; children: ComponentChildren; actions?: ComponentChildren; testid?: string }) {
  return (
    <section class="card" data-testid={testid}>
      {(title || actions) && (
        <header class="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div class="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

/** An alert kind as a badge ("fan_out" → "fan out"). */
export function KindBadge({ kind }: { kind: string }) {
  return <span class={`kind kind-${kind}`}>{kind.replace(/_/g, ' ')}</span>;
}
