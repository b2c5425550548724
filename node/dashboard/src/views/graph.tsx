/**
 * The fund-flow graph: `hutong_auditTrace` from an account or a
 * transaction, forward or backward, drawn with Cytoscape.js in swimlanes
 * (one per institution, one column per hop), legs labelled with their
 * amounts, and cycles in red and listed.
 *
 * The options live in the page's address (#/graph?account=…&hops=…), so
 * a trace can be re-centred, bookmarked and gone back from.
 */

import cytoscape from 'cytoscape';
import { Fragment } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Trace } from '../api';
import { buildFlowGraph, layoutSwimlanes, type Cycle, type FlowEdge, type FlowGraph } from '../graph';
import { money, parseUtcInput, shorten, utcInputValue } from '../format';
import type { JsonObject } from '../json';
import { formatAmount, isAddress, parseAmount } from '../sdk';
import { Addr, Card, ErrorBox, href, Loading, Money, Time, TxHash, useApp } from '../ui';

/** Lane colours, by lane order (the start's institution first). */
const PALETTE = ['#2563eb', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#b45309', '#4f46e5', '#0f766e'];
const CYCLE_RED = '#dc2626';
/** The ring of an account whose owner holds another account in the graph. */
const SAME_OWNER = '#7c3aed';
const laneColour = (i: number) => PALETTE[i % PALETTE.length]!;

/** The trace options as the page's address carries them. */
interface Options {
  account: string;
  tx: string;
  dir: 'forward' | 'backward';
  hops: string;
  window: string;
  from: string;
  to: string;
  min: string;
  asset: string;
}

function optionsOf(p: URLSearchParams): Options {
  const ms = (v: string | null) => (v && /^\d+$/.test(v) ? utcInputValue(Number(v)) : '');
  return {
    account: p.get('account') ?? '',
    tx: p.get('tx') ?? '',
    dir: p.get('dir') === 'backward' ? 'backward' : 'forward',
    hops: p.get('hops') ?? '4',
    window: p.get('window') ?? '',
    from: ms(p.get('from')),
    to: ms(p.get('to')),
    min: p.get('min') ?? '',
    asset: p.get('asset') ?? '',
  };
}

/** The page address of a set of options (throws on one that cannot be traced). */
function optionsHref(o: Options): string {
  const from = parseUtcInput(o.from);
  const to = parseUtcInput(o.to);
  return href('graph', '', {
    account: o.account.trim(),
    tx: o.account.trim() ? '' : o.tx.trim(),
    dir: o.dir,
    hops: o.hops,
    window: o.window,
    from: from ?? undefined,
    to: to ?? undefined,
    min: o.min.trim(),
    asset: o.asset,
  });
}

/** The query of a set of options. */
function traceQuery(o: Options, decimals: (asset: string) => number | undefined): JsonObject {
  const q: JsonObject = { direction: o.dir };
  const account = o.account.trim();
  const tx = o.tx.trim().toLowerCase();
  if (account) {
    if (!isAddress(account)) throw new Error(`${account} is not an account address (ht1…)`);
    q['account'] = account;
  } else if (/^[0-9a-f]{64}$/.test(tx)) {
    q['tx'] = tx;
  } else {
    throw new Error(tx ? `${tx} is not a transaction hash (64 hex digits)` : 'give an account or a transaction to start from');
  }
  const hops = Number(o.hops);
  if (!Number.isInteger(hops) || hops < 1 || hops > 10) throw new Error('hops is a whole number from 1 to 10');
  q['hops'] = hops;
  if (o.window.trim()) {
    const w = Number(o.window);
    if (!Number.isInteger(w) || w <= 0) throw new Error('the window is a whole number of seconds');
    q['window_secs'] = w;
  }
  const from = parseUtcInput(o.from);
  const to = parseUtcInput(o.to);
  if (from !== null) q['from_ms'] = from;
  if (to !== null) q['to_ms'] = to;
  if (o.asset) q['asset'] = o.asset;
  if (o.min.trim()) {
    if (!o.asset) throw new Error('choose the asset the minimum amount is in');
    const d = decimals(o.asset);
    if (d === undefined) throw new Error(`unknown asset ${o.asset}`);
    q['min_amount'] = parseAmount(o.min.trim(), d).toString();
  }
  return q;
}

type Selection = { node: string } | { edge: string } | null;

export function GraphPage({ params }: { params: URLSearchParams }) {
  const { node, session } = useApp();
  const key = params.toString();
  const options = useMemo(() => optionsOf(params), [key]);
  const [form, setForm] = useState<Options>(options);
  const [formError, setFormError] = useState<unknown>(null);
  const [result, setResult] = useState<{ state: 'idle' | 'loading' | 'ready' | 'error'; trace?: Trace; graph?: FlowGraph; error?: unknown }>({ state: 'idle' });
  const [selection, setSelection] = useState<Selection>(null);
  const [highlight, setHighlight] = useState<Cycle | null>(null);

  useEffect(() => {
    setForm(options);
    setSelection(null);
    setHighlight(null);
    if (!options.account && !options.tx) {
      setResult({ state: 'idle' });
      return;
    }
    let query: JsonObject;
    try {
      query = traceQuery(options, (a) => node.decimals(a));
    } catch (error) {
      setResult({ state: 'error', error });
      return;
    }
    let live = true;
    setResult({ state: 'loading' });
    session.audit<Trace>('hutong_auditTrace', query).then(
      (trace) => live && setResult({ state: 'ready', trace, graph: buildFlowGraph(trace) }),
      (error) => live && setResult({ state: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [key]);

  const submit = (e: Event) => {
    e.preventDefault();
    try {
      traceQuery(form, (a) => node.decimals(a));
      setFormError(null);
      location.hash = optionsHref(form);
    } catch (error) {
      setFormError(error);
    }
  };
  const set = (name: keyof Options, value: string) => setForm((f) => ({ ...f, [name]: value }));
  const field = (name: keyof Options) => ({
    value: form[name],
    // Both events: text fields report typing through `input`, and a
    // select's choice arrives as `change` (not every driver sends `input`).
    onInput: (e: Event) => set(name, (e.currentTarget as HTMLInputElement).value),
    onChange: (e: Event) => set(name, (e.currentTarget as HTMLInputElement).value),
  });
  const recentre = (account: string) => optionsHref({ ...options, account, tx: '' });
  const graph = result.graph;

  return (
    <div class="stack">
      <Card title="Fund-flow graph" testid="graph">
        <form class="filters" onSubmit={submit}>
          <label>
            From account
            <input type="text" placeholder="ht1…" spellcheck={false} {...field('account')} data-testid="graph-account" />
          </label>
          <label>
            or transaction
            <input type="text" placeholder="hash (64 hex digits)" spellcheck={false} {...field('tx')} data-testid="graph-tx" />
          </label>
          <label>
            Direction
            <select {...field('dir')} data-testid="graph-dir">
              <option value="forward">forward: where it went</option>
              <option value="backward">backward: where it came from</option>
            </select>
          </label>
          <label>
            Hops
            <input type="number" min={1} max={10} step={1} class="narrow" {...field('hops')} data-testid="graph-hops" />
          </label>
          <label>
            Window (s)
            <input type="number" min={1} step={1} class="narrow" placeholder="any" title="most time between a leg and the next one followed" {...field('window')} />
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
            Min amount
            <input type="text" inputMode="decimal" placeholder="any" class="narrow" title="legs below it are not followed, unless together they reach it" {...field('min')} />
          </label>
          <label>
            Asset
            <select {...field('asset')}>
              <option value="">any</option>
              {node.assets.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
          <div class="filter-buttons">
            <button type="submit" data-testid="graph-trace">
              Trace
            </button>
          </div>
        </form>
        <ErrorBox error={formError} />
        <GraphStatus result={result} />
        {graph && result.trace && (
          <div class="graph-area">
            <FlowCanvas graph={graph} direction={result.trace.direction} highlight={highlight} onSelect={setSelection} />
            <aside class="graph-side">
              <Legend graph={graph} />
              <SelectionPanel graph={graph} selection={selection} recentre={recentre} />
            </aside>
          </div>
        )}
      </Card>
      {graph && <CycleList graph={graph} highlight={highlight} onHighlight={setHighlight} />}
      {graph && <LegTable graph={graph} />}
    </div>
  );
}

function GraphStatus({ result }: { result: { state: string; trace?: Trace; graph?: FlowGraph; error?: unknown } }) {
  const g = result.graph;
  const t = result.trace;
  return (
    <div class="graph-status" data-testid="graph-status" data-state={result.state} data-nodes={g?.nodes.length ?? 0} data-edges={g?.edges.length ?? 0} data-cycles={g?.cycles.length ?? 0}>
      {result.state === 'idle' && <p class="muted">Give an account or a transaction hash to trace money from.</p>}
      {result.state === 'loading' && <Loading what="Tracing" />}
      {result.state === 'error' && <ErrorBox error={result.error} testid="graph-error" />}
      {result.state === 'ready' && g && t && (
        <p>
          {t.direction === 'forward' ? 'Where money went from' : 'Where money came from to'}{' '}
          {t.start.account ? <Addr value={t.start.account} /> : t.start.tx ? <TxHash hash={t.start.tx} /> : '?'}: {g.nodes.length} account
          {g.nodes.length === 1 ? '' : 's'}, {g.edges.length} leg{g.edges.length === 1 ? '' : 's'} over {t.hops} hop{t.hops === 1 ? '' : 's'}
          {g.cycles.length > 0 && (
            <b class="cycle-text">
              {' '}
              · {g.cycles.length} cycle{g.cycles.length === 1 ? '' : 's'}
            </b>
          )}
          {t.truncated && <span class="warning-text"> · cut short by a bound: narrow the trace</span>}
        </p>
      )}
    </div>
  );
}

/** Cytoscape's canvas, drawn afresh for each graph. */
function FlowCanvas({ graph, direction, highlight, onSelect }: { graph: FlowGraph; direction: 'forward' | 'backward'; highlight: Cycle | null; onSelect: (s: Selection) => void }) {
  const container = useRef<HTMLDivElement>(null);
  const cyRef = useRef<cytoscape.Core | null>(null);

  useEffect(() => {
    const positions = layoutSwimlanes(graph, direction);
    const laneOf = new Map(graph.institutions.map((name, i) => [name, i]));
    const elements: cytoscape.ElementDefinition[] = [
      ...graph.institutions.map((name, i) => ({ group: 'nodes' as const, data: { id: `lane:${name}`, label: name || 'unknown institution', colour: laneColour(i), lane: true } })),
      ...graph.nodes.map((n) => ({
        group: 'nodes' as const,
        data: { id: n.id, label: shorten(n.id, 7, 4), parent: `lane:${n.institution}`, colour: laneColour(laneOf.get(n.institution) ?? 0), start: n.start, shared: n.sharedOwner, lane: false },
        position: positions.get(n.id),
      })),
      ...graph.edges.map((e) => ({
        group: 'edges' as const,
        data: { id: e.id, source: e.from, target: e.to, label: money(e.leg.amount_display ?? e.leg.amount, e.leg.asset), cycle: e.cycle, closing: e.closing },
      })),
    ];
    const cy = cytoscape({
      container: container.current,
      elements,
      layout: { name: 'preset', fit: true, padding: 40 },
      minZoom: 0.05,
      maxZoom: 4,
      boxSelectionEnabled: false,
      style: [
        {
          selector: 'node',
          style: {
            'background-color': 'data(colour)',
            label: 'data(label)',
            'font-size': 11,
            'font-family': 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
            'text-valign': 'bottom',
            'text-margin-y': 4,
            color: '#1f2937',
            width: 26,
            height: 26,
            'border-width': 2,
            'border-color': '#ffffff',
          },
        },
        { selector: 'node[?start]', style: { 'border-width': 4, 'border-color': '#111827', width: 32, height: 32, 'font-weight': 'bold' } },
        {
          selector: 'node[?lane]',
          style: {
            shape: 'round-rectangle',
            'background-color': 'data(colour)',
            'background-opacity': 0.07,
            'border-width': 1,
            'border-color': 'data(colour)',
            'border-style': 'dashed',
            label: 'data(label)',
            'font-family': 'system-ui, sans-serif',
            'font-size': 13,
            'font-weight': 'bold',
            color: 'data(colour)',
            'text-valign': 'top',
            'text-halign': 'center',
            'text-margin-y': -4,
            padding: '22px',
          },
        },
        {
          selector: 'edge',
          style: {
            width: 2,
            'line-color': '#94a3b8',
            'target-arrow-color': '#94a3b8',
            'target-arrow-shape': 'triangle',
            'curve-style': 'bezier',
            'control-point-step-size': 40,
            label: 'data(label)',
            'font-size': 10,
            'text-rotation': 'autorotate',
            'text-background-color': '#ffffff',
            'text-background-opacity': 0.85,
            'text-background-padding': '2px',
            color: '#334155',
          },
        },
        // An account whose owner holds another account in the graph.
        { selector: 'node[?shared][!start]', style: { 'border-width': 4, 'border-color': SAME_OWNER, 'border-style': 'double' } },
        { selector: 'edge[?cycle]', style: { 'line-color': CYCLE_RED, 'target-arrow-color': CYCLE_RED, width: 3, color: CYCLE_RED, 'z-index': 10 } },
        // A leg that goes back to where money had been: an arc, dashed.
        { selector: 'edge[?closing]', style: { 'curve-style': 'unbundled-bezier', 'control-point-distances': [-90], 'control-point-weights': [0.5], 'line-style': 'dashed', width: 4 } },
        { selector: '.dim', style: { opacity: 0.18 } },
        { selector: ':selected', style: { 'overlay-color': '#f59e0b', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
      ],
    });
    cy.on('tap', 'node[!lane]', (ev) => onSelect({ node: ev.target.id() }));
    cy.on('tap', 'edge', (ev) => onSelect({ edge: ev.target.id() }));
    cy.on('tap', (ev) => {
      if (ev.target === cy) onSelect(null);
    });
    cyRef.current = cy;
    return () => {
      cy.destroy();
      cyRef.current = null;
    };
  }, [graph, direction]);

  // A cycle picked in the list: everything else dimmed.
  useEffect(() => {
    const cy = cyRef.current;
    if (!cy) return;
    cy.elements().removeClass('dim');
    if (!highlight) return;
    const keep = new Set([...highlight.accounts, ...highlight.edges.map((e) => e.id)]);
    cy.elements().forEach((el) => {
      if (el.data('lane')) return;
      if (!keep.has(el.id())) el.addClass('dim');
    });
  }, [highlight, graph]);

  return (
    <div class="graph-box">
      <div ref={container} class="graph-canvas" data-testid="graph-canvas" />
      <div class="graph-tools">
        <button type="button" class="secondary small" onClick={() => cyRef.current?.fit(undefined, 40)}>
          Fit
        </button>
      </div>
    </div>
  );
}

function Legend({ graph }: { graph: FlowGraph }) {
  return (
    <div class="legend">
      <h3>Institutions</h3>
      <ul class="plain">
        {graph.institutions.map((name, i) => (
          <li key={name}>
            {/* The swatch's colour is set through the CSSOM (allowed by the page's CSP). */}
            <span class="swatch" style={{ backgroundColor: laneColour(i) }} /> {name || 'unknown'}
          </li>
        ))}
        <li>
          <span class="swatch swatch-start" /> start
        </li>
        <li>
          <span class="swatch swatch-cycle" /> leg on a cycle (dashed: closes it)
        </li>
        {graph.nodes.some((n) => n.sharedOwner) && (
          <li>
            <span class="swatch swatch-owner" /> an owner with several accounts here
          </li>
        )}
      </ul>
    </div>
  );
}

function SelectionPanel({ graph, selection, recentre }: { graph: FlowGraph; selection: Selection; recentre: (a: string) => string }) {
  const { node } = useApp();
  if (!selection) return <p class="muted small">Click an account or a leg for details; drag to move, scroll to zoom.</p>;
  if ('node' in selection) {
    const n = graph.nodes.find((x) => x.id === selection.node);
    if (!n) return null;
    const totals = new Map<string, { in: bigint; out: bigint; asset: string | null; decimal: (m: bigint) => string }>();
    const add = (e: FlowEdge, way: 'in' | 'out') => {
      const asset = e.leg.asset ?? '';
      const d = node.decimals(asset) ?? 0;
      const t = totals.get(asset) ?? { in: 0n, out: 0n, asset: e.leg.asset, decimal: (m: bigint) => formatAmount(m, d) };
      t[way] += BigInt(e.leg.amount);
      totals.set(asset, t);
    };
    for (const e of graph.edges) {
      if (e.to === n.id) add(e, 'in');
      if (e.from === n.id) add(e, 'out');
    }
    return (
      <div class="selection" data-testid="graph-selection" data-account={n.id}>
        <h3>Account</h3>
        <Addr value={n.id} />
        <dl class="facts">
          <dt>Institution</dt>
          <dd>{n.institution}</dd>
          <dt>First reached</dt>
          <dd>{n.start ? 'start' : `hop ${n.hop}`}</dd>
          {n.owner && (
            <>
              <dt>Owner</dt>
              <dd title={n.owner}>
                <code>{n.owner.slice(0, 16)}…</code>
                {graph.nodes
                  .filter((o) => o.owner === n.owner && o.id !== n.id)
                  .map((o) => (
                    <div key={o.id} data-testid="graph-same-owner">
                      also <Addr value={o.id} /> ({o.institution})
                    </div>
                  ))}
              </dd>
            </>
          )}
          {[...totals.entries()].map(([asset, t]) => (
            <Fragment key={asset}>
              <dt>In / out</dt>
              <dd>
                {money(t.decimal(t.in), t.asset)} / {money(t.decimal(t.out), t.asset)}
              </dd>
            </Fragment>
          ))}
        </dl>
        <div class="actions">
          <a class="button" href={recentre(n.id)} data-testid="graph-recentre">
            Re-centre here
          </a>
          <a class="button secondary" href={href('account', n.id)} data-testid="graph-open-account">
            Account view
          </a>
        </div>
      </div>
    );
  }
  const e = graph.edges.find((x) => x.id === selection.edge);
  if (!e) return null;
  return (
    <div class="selection" data-testid="graph-selection">
      <h3>Leg {e.closing ? '(closes a cycle)' : e.cycle ? '(on a cycle)' : ''}</h3>
      <dl class="facts">
        <dt>Amount</dt>
        <dd>
          <Money decimal={e.leg.amount_display ?? e.leg.amount} asset={e.leg.asset} />
        </dd>
        <dt>From</dt>
        <dd>
          <Addr value={e.from} /> {e.leg.from_institution}
        </dd>
        <dt>To</dt>
        <dd>
          <Addr value={e.to} /> {e.leg.to_institution}
        </dd>
        <dt>Time</dt>
        <dd>
          <Time ms={e.leg.timestamp_ms} />
        </dd>
        <dt>Hop</dt>
        <dd>{e.leg.hop}</dd>
        <dt>Transaction</dt>
        <dd>
          <TxHash hash={e.leg.tx_hash} />
        </dd>
      </dl>
    </div>
  );
}

function CycleList({ graph, highlight, onHighlight }: { graph: FlowGraph; highlight: Cycle | null; onHighlight: (c: Cycle | null) => void }) {
  return (
    <Card title={`Cycles (${graph.cycles.length}${graph.moreCycles ? '+' : ''})`} testid="cycles">
      {graph.cycles.length === 0 ? (
        <p class="empty" data-testid="no-cycles">
          No money in this trace came back to an account (or an owner) it had passed through.
        </p>
      ) : (
        <ol class="cycles">
          {graph.cycles.map((c) => {
            const key = c.accounts.join(' ');
            const on = highlight !== null && highlight.accounts.join(' ') === key;
            return (
              <li key={key} class={`cycle${on ? ' on' : ''}`} data-testid="cycle" data-cycle="true" data-accounts={key} data-legs={c.edges.length} data-via-owner={c.viaOwner ? 'true' : 'false'}>
                {c.viaOwner && <div class="same-owner-note">back to the same owner, at another account</div>}
                <div class="cycle-path-inline">
                  {c.edges.map((e, i) => (
                    <span key={e.id} class="step">
                      <Addr value={c.accounts[i]!} />
                      <span class="arrow" title={`${e.leg.tx_hash}`}>
                        → {money(e.leg.amount_display ?? e.leg.amount, e.leg.asset)} →
                      </span>
                      {i + 1 < c.edges.length && e.to !== c.edges[i + 1]!.from && (
                        <>
                          <Addr value={e.to} />
                          <span class="same-owner" title="another account of the same owner">
                            {' '}
                            = same owner ={' '}
                          </span>
                        </>
                      )}
                    </span>
                  ))}
                  <Addr value={c.accounts[c.accounts.length - 1]!} />
                </div>
                <button type="button" class="secondary small" onClick={() => onHighlight(on ? null : c)}>
                  {on ? 'Show all' : 'Show in graph'}
                </button>
              </li>
            );
          })}
        </ol>
      )}
      {graph.moreCycles && <p class="muted">More cycles than listed: narrow the trace.</p>}
    </Card>
  );
}

function LegTable({ graph }: { graph: FlowGraph }) {
  return (
    <Card title={`Legs (${graph.edges.length})`} testid="legs">
      <div class="table-wrap">
        <table class="data">
          <thead>
            <tr>
              <th class="num">Hop</th>
              <th>Time</th>
              <th>From</th>
              <th>To</th>
              <th class="num">Amount</th>
              <th>Transaction</th>
              <th>Cycle</th>
            </tr>
          </thead>
          <tbody>
            {graph.edges.map((e) => (
              <tr key={e.id} data-testid="leg" data-cycle={e.cycle ? 'true' : 'false'} data-closing={e.closing ? 'true' : 'false'} class={e.cycle ? 'on-cycle' : ''}>
                <td class="num">{e.leg.hop}</td>
                <td>
                  <Time ms={e.leg.timestamp_ms} />
                </td>
                <td>
                  <Addr value={e.from} /> <span class="muted">{e.leg.from_institution}</span>
                </td>
                <td>
                  <Addr value={e.to} /> <span class="muted">{e.leg.to_institution}</span>
                </td>
                <td class="num">
                  <Money decimal={e.leg.amount_display ?? e.leg.amount} asset={e.leg.asset} />
                </td>
                <td>
                  <TxHash hash={e.leg.tx_hash} />
                </td>
                <td>{e.closing ? 'closes a cycle' : e.cycle ? 'on a cycle' : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
}
