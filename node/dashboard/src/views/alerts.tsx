/**
 * The alert queue: `hutong_auditAlerts` with filters, sorted by score or
 * time, refreshed every 5 seconds. A refresh asks only for alerts raised
 * or updated since shortly before the newest one shown (an update keeps
 * the alert's id and raises its `revision`), and merges them in.
 */

import { Fragment } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ALERT_KINDS, type Alert, type AlertsPage as AlertsAnswer } from '../api';
import type { JsonObject } from '../json';
import { duration, parseUtcInput, utc } from '../format';
import type { AuditSession } from '../rpc';
import { isAddress, RpcCode, RpcError } from '../sdk';
import { Addr, Card, ErrorBox, href, KindBadge, Loading, Money, ScoreBar, Time, TxHash, useApp, useInterval } from '../ui';

const AUTO_REFRESH_MS = 5_000;
const PAGE = 1_000;
/** Most alerts held in the queue; past it the filters should narrow the list. */
const ALERTS_MAX = 10_000;
/** A refresh re-reads alerts updated this long before the newest one shown (block times of one height can differ). */
const REFRESH_OVERLAP_MS = 60_000;

interface Filters {
  kind: string;
  account: string;
  institution: string;
  from: string;
  to: string;
  minScore: string;
}

const NO_FILTERS: Filters = { kind: '', account: '', institution: '', from: '', to: '', minScore: '' };

/** The query of a set of filters; throws on a filter that cannot be sent. */
function alertsQuery(f: Filters): JsonObject {
  const q: JsonObject = {};
  if (f.kind) q['kind'] = f.kind;
  const account = f.account.trim();
  if (account) {
    if (!isAddress(account)) throw new Error(`${account} is not an account address (ht1…)`);
    q['account'] = account;
  }
  if (f.institution) q['institution'] = f.institution;
  const from = parseUtcInput(f.from);
  const to = parseUtcInput(f.to);
  if (from !== null) q['from_ms'] = from;
  if (to !== null) q['to_ms'] = to;
  if (f.minScore.trim() !== '') {
    const s = Number(f.minScore);
    if (!Number.isInteger(s) || s < 0 || s > 100) throw new Error('the minimum score is a whole number from 0 to 100');
    q['min_score'] = s;
  }
  return q;
}

/** Every alert matching `query`, page by page (by id), up to ALERTS_MAX. */
export async function fetchAlerts(session: AuditSession, query: JsonObject): Promise<{ alerts: Alert[]; capped: boolean }> {
  const alerts: Alert[] = [];
  let afterId = 0;
  for (;;) {
    const page = await session.audit<AlertsAnswer>('hutong_auditAlerts', { ...query, after_id: afterId, limit: PAGE });
    alerts.push(...page.alerts);
    if (page.alerts.length < PAGE || page.last_id === null) return { alerts, capped: false };
    if (alerts.length >= ALERTS_MAX) return { alerts, capped: true };
    afterId = page.last_id;
  }
}

/** A graph of the money around an alert: from its account, over its window. */
export function alertGraphHref(a: Alert): string {
  // Money arriving is traced backward; everything else forward.
  const backward = a.kind === 'fan_in' || a.kind === 'structuring_in';
  const hops = Math.min(10, Math.max(4, a.kind === 'cycle' ? a.count + 1 : 4));
  const from = a.window_secs > 0 ? a.timestamp_ms - a.window_secs * 1000 : undefined;
  return href('graph', '', { account: a.account, dir: backward ? 'backward' : 'forward', hops, from: from !== undefined && from > 0 ? from : undefined });
}

type Sort = 'score' | 'time';

function sorted(alerts: Iterable<Alert>, sort: Sort): Alert[] {
  const list = [...alerts];
  if (sort === 'score') list.sort((a, b) => b.score - a.score || b.timestamp_ms - a.timestamp_ms || b.id - a.id);
  else list.sort((a, b) => b.timestamp_ms - a.timestamp_ms || b.id - a.id);
  return list;
}

export function AlertsPage() {
  const { node, session } = useApp();
  const [form, setForm] = useState<Filters>(NO_FILTERS);
  const [applied, setApplied] = useState<Filters>(NO_FILTERS);
  const [alerts, setAlerts] = useState<Map<number, Alert>>(new Map());
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const [sort, setSort] = useState<Sort>('score');
  const [expanded, setExpanded] = useState<Set<number>>(new Set());
  const [auto, setAuto] = useState(true);
  const [state, setState] = useState<{ loading: boolean; loaded: boolean; error: unknown; capped: boolean; at: number | null }>({
    loading: false,
    loaded: false,
    error: null,
    capped: false,
    at: null,
  });
  // Loads in flight: an automatic refresh that finds one running is skipped.
  const inFlight = useRef(0);
  // Bumped by every full load, so a refresh started before it is dropped.
  const generation = useRef(0);
  // The alerts shown, for merging a refresh into (state lags a render behind).
  const shown = useRef<Map<number, Alert>>(new Map());
  // A node that refuses `from_ms` (older than the alert revisions) gets full reloads instead.
  const fullRefresh = useRef(false);

  const load = async (filters: Filters, refresh: boolean) => {
    if (refresh && inFlight.current > 0) return;
    const incremental = refresh && !fullRefresh.current;
    let query: JsonObject;
    try {
      query = alertsQuery(filters);
    } catch (e) {
      setState((s) => ({ ...s, error: e }));
      return;
    }
    inFlight.current++;
    const gen = incremental ? generation.current : ++generation.current;
    setState((s) => ({ ...s, loading: !incremental, error: null }));
    try {
      let since: number | null = null;
      if (incremental) {
        let newest = 0;
        for (const a of shown.current.values()) newest = Math.max(newest, a.timestamp_ms);
        since = Math.max(Number(query['from_ms'] ?? 0), newest - REFRESH_OVERLAP_MS, 0);
      }
      const { alerts: got, capped } = await fetchAlerts(session, since === null ? query : { ...query, from_ms: since });
      if (gen !== generation.current) return;
      const old = shown.current;
      const next = incremental ? new Map(old) : new Map<number, Alert>();
      const changed = new Set<number>();
      for (const a of got) {
        const before = old.get(a.id);
        if (incremental && (!before || before.revision < a.revision)) changed.add(a.id);
        // An update replaces the alert; an older revision never does.
        if (!incremental || !before || before.revision <= a.revision) next.set(a.id, a);
      }
      shown.current = next;
      setAlerts(next);
      if (incremental) {
        if (changed.size > 0) setFresh(changed);
      } else {
        setFresh(new Set());
      }
      setState((s) => ({ loading: false, loaded: true, error: null, capped: incremental ? s.capped || capped : capped, at: Date.now() }));
    } catch (e) {
      if (incremental && e instanceof RpcError && e.code === RpcCode.INVALID_PARAMS && /from_ms/.test(e.message)) {
        fullRefresh.current = true;
        return;
      }
      if (gen === generation.current) setState((s) => ({ ...s, loading: false, error: e }));
    } finally {
      inFlight.current--;
    }
  };

  useEffect(() => {
    load(applied, false);
  }, [applied]);

  // Each refresh is a signed, logged request: none while the page is hidden.
  useInterval(() => document.visibilityState !== 'hidden' && load(applied, true), AUTO_REFRESH_MS, auto && state.loaded);

  const list = useMemo(() => sorted(alerts.values(), sort), [alerts, sort]);
  const set = (name: keyof Filters, value: string) => setForm((f) => ({ ...f, [name]: value }));
  const field = (name: keyof Filters) => ({
    value: form[name],
    // Both events: text fields report typing through `input`, and a
    // select's choice arrives as `change` (not every driver sends `input`).
    onInput: (e: Event) => set(name, (e.currentTarget as HTMLInputElement).value),
    onChange: (e: Event) => set(name, (e.currentTarget as HTMLInputElement).value),
  });
  const toggle = (id: number) => {
    const next = new Set(expanded);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setExpanded(next);
  };

  return (
    <Card
      title="Alert queue"
      testid="alerts"
      actions={
        <>
          <label class="inline">
            <input type="checkbox" checked={auto} data-testid="auto-refresh" onChange={(e) => setAuto((e.currentTarget as HTMLInputElement).checked)} /> auto-refresh
            every 5 s
          </label>
          <button type="button" data-testid="refresh" onClick={() => load(applied, false)} disabled={state.loading}>
            Refresh
          </button>
        </>
      }
    >
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ ...form });
        }}
      >
        <label>
          Kind
          <select {...field('kind')} data-testid="filter-kind">
            <option value="">any</option>
            {ALERT_KINDS.map((k) => (
              <option key={k} value={k}>
                {k.replace(/_/g, ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Account
          <input type="text" placeholder="ht1…" spellcheck={false} {...field('account')} data-testid="filter-account" />
        </label>
        <label>
          Institution
          <select {...field('institution')} data-testid="filter-institution">
            <option value="">any</option>
            {node.institutionNames().map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          From (UTC)
          <input type="datetime-local" {...field('from')} />
        </label>
        <label>
          To (UTC)
          <input type="datetime-local" {...field('to')} />
        </label>
        <label>
          Min score
          <input type="number" min={0} max={100} step={1} class="narrow" {...field('minScore')} />
        </label>
        <div class="filter-buttons">
          <button type="submit" data-testid="apply-filters">
            Apply
          </button>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setForm(NO_FILTERS);
              setApplied(NO_FILTERS);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <div class="toolbar">
        <span>
          Sort by{' '}
          <select value={sort} data-testid="sort" onChange={(e) => setSort((e.currentTarget as HTMLSelectElement).value as Sort)}>
            <option value="score">score (highest first)</option>
            <option value="time">time (newest first)</option>
          </select>
        </span>
        <span class="muted" data-testid="alerts-count">
          {list.length} alert{list.length === 1 ? '' : 's'}
          {state.at !== null && ` · updated ${utc(state.at)}`}
        </span>
      </div>
      {state.capped && <div class="warning">Only the first {ALERTS_MAX.toLocaleString('en')} alerts are shown: narrow the filters.</div>}
      <ErrorBox error={state.error} />
      {state.loading && !state.loaded ? (
        <Loading what="Reading alerts" />
      ) : list.length === 0 ? (
        <p class="empty" data-testid="no-alerts">
          No alerts{applied === NO_FILTERS ? '' : ' match these filters'}.
        </p>
      ) : (
        <div class="table-wrap">
          <table class="data alerts-table">
            <thead>
              <tr>
                <th />
                <th>Id</th>
                <th>Time</th>
                <th>Kind</th>
                <th>Score</th>
                <th>Account</th>
                <th>Institution</th>
                <th class="num">Amount</th>
                <th class="num">Count</th>
                <th>Detail</th>
              </tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <AlertRow key={a.id} alert={a} open={expanded.has(a.id)} fresh={fresh.has(a.id)} onToggle={() => toggle(a.id)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function AlertRow({ alert: a, open, fresh, onToggle }: { alert: Alert; open: boolean; fresh: boolean; onToggle: () => void }) {
  const { node } = useApp();
  return (
    <Fragment>
      <tr
        class={`alert-row${open ? ' open' : ''}${fresh ? ' fresh' : ''}`}
        data-testid="alert-row"
        data-id={a.id}
        data-kind={a.kind}
        data-account={a.account}
        data-revision={a.revision}
        onClick={onToggle}
      >
        <td>
          <button type="button" class="expander" aria-expanded={open} aria-label={open ? 'collapse' : 'expand'} data-testid="alert-expand">
            {open ? '▾' : '▸'}
          </button>
        </td>
        <td class="num">
          {a.id}
          {a.revision > 0 && (
            <span class="revision" title={`updated ${a.revision} time${a.revision === 1 ? '' : 's'} since raised`}>
              r{a.revision}
            </span>
          )}
        </td>
        <td>
          <Time ms={a.timestamp_ms} />
        </td>
        <td>
          <KindBadge kind={a.kind} />
        </td>
        <td>
          <ScoreBar score={a.score} />
        </td>
        <td onClick={(e) => e.stopPropagation()}>
          <Addr value={a.account} />
        </td>
        <td>{a.institution_name ?? node.institutionName(a.institution)}</td>
        <td class="num">
          <Money decimal={a.amount_decimal ?? null} asset={a.asset} />
        </td>
        <td class="num">{a.count}</td>
        <td class="detail" title={a.detail}>
          {a.detail}
        </td>
      </tr>
      {open && (
        <tr class="alert-detail" data-testid="alert-detail" data-id={a.id}>
          <td />
          <td colSpan={9}>
            <AlertDetail alert={a} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

function AlertDetail({ alert: a }: { alert: Alert }) {
  const { node } = useApp();
  return (
    <div class="alert-more">
      <p class="detail-text">{a.detail}</p>
      <dl class="facts">
        <dt>Raised or last updated</dt>
        <dd>
          <Time ms={a.timestamp_ms} /> at height {a.height}
          {a.revision > 0 && ` (revision ${a.revision})`}
        </dd>
        <dt>Window</dt>
        <dd>{duration(a.window_secs)}</dd>
        <dt>Institution</dt>
        <dd>
          {a.institution_name ?? node.institutionName(a.institution)} <Addr value={a.institution} />
        </dd>
      </dl>
      {a.kind === 'cycle' && a.related.length > 1 && (
        <div class="cycle-path" data-testid="alert-cycle-path">
          <h3>The money's way round</h3>
          <ol class="path">
            {a.related.map((acc, i) => (
              <li key={`${i}-${acc}`}>
                <Addr value={acc} />
              </li>
            ))}
          </ol>
        </div>
      )}
      <div class="columns">
        <div>
          <h3>Transactions ({a.tx_hashes.length})</h3>
          <ul class="plain">
            {a.tx_hashes.map((h) => (
              <li key={h}>
                <TxHash hash={h} />
              </li>
            ))}
          </ul>
        </div>
        {a.kind !== 'cycle' && (
          <div>
            <h3>Related accounts ({a.related.length})</h3>
            <ul class="plain">
              {a.related.map((r) => (
                <li key={r}>
                  <Addr value={r} /> <a href={href('graph', '', { account: r })}>graph</a>
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
      <div class="actions">
        <a class="button" href={href('account', a.account)} data-testid="alert-account">
          Open account
        </a>
        <a class="button" href={alertGraphHref(a)} data-testid="alert-graph">
          Fund-flow graph
        </a>
      </div>
    </div>
  );
}
