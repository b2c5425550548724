/**
 * Institution flows of one day (`hutong_auditFlows`): per asset, the gross
 * matrix (what each institution's accounts paid each other's), each
 * institution's net position, and the pairwise net positions the node
 * computes; then the settlement cycles that start in the day (newest
 * first), each institution's position per asset as the ledger's clearing
 * records certify it, or the open cycle's so far. A day runs midnight to
 * midnight in UTC, or in the consortium's time zone (the one its daily
 * limits are counted in).
 */

import { useEffect, useState } from 'preact/hooks';
import type { CycleSettlement, Flows, GrossFlow } from '../api';
import { offsetText, todayAt, utc } from '../format';
import { formatAmount } from '../sdk';
import { cyclePositions, settlementOf } from '../settlement';
import { Card, ErrorBox, href, Loading, Money, Time, useApp } from '../ui';

const DAY_MS = 86_400_000;

export function FlowsPage({ params }: { params: URLSearchParams }) {
  const { node, session } = useApp();
  const offset = node.params.utc_offset_seconds;
  const zone = params.get('zone') === 'consortium' ? 'consortium' : 'utc';
  const day = /^\d{4}-\d{2}-\d{2}$/.test(params.get('day') ?? '') ? params.get('day')! : todayAt(zone === 'utc' ? 0 : offset);
  const asset = params.get('asset') ?? '';
  const [result, setResult] = useState<{ flows?: Flows; error?: unknown; loading: boolean }>({ loading: true });

  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const fromMs = Date.UTC(y, m - 1, d) - (zone === 'utc' ? 0 : offset * 1000);
  const toMs = fromMs + DAY_MS;

  useEffect(() => {
    let live = true;
    setResult({ loading: true });
    const q: Record<string, string | number> = { from_ms: fromMs, to_ms: toMs };
    if (asset) q['asset'] = asset;
    session.audit<Flows>('hutong_auditFlows', q).then(
      (flows) => live && setResult({ flows, loading: false }),
      (error) => live && setResult({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [day, zone, asset]);

  const go = (changes: Record<string, string>) => {
    location.hash = href('flows', '', { day, zone, asset, ...changes });
  };
  const flows = result.flows;
  const assets = flows ? [...new Set(flows.gross.map((g) => g.asset))].sort() : [];
  const settlement = settlementOf(flows);

  return (
    <div class="stack">
      <Card title="Institution flows" testid="flows">
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <label>
            Day
            <input type="date" value={day} data-testid="flows-day" onChange={(e) => (e.currentTarget as HTMLInputElement).value && go({ day: (e.currentTarget as HTMLInputElement).value })} />
          </label>
          <label>
            Midnight to midnight in
            <select value={zone} onChange={(e) => go({ zone: (e.currentTarget as HTMLSelectElement).value })}>
              <option value="utc">UTC</option>
              <option value="consortium">the consortium's time ({offsetText(offset)})</option>
            </select>
          </label>
          <label>
            Asset
            <select value={asset} onChange={(e) => go({ asset: (e.currentTarget as HTMLSelectElement).value })}>
              <option value="">every asset</option>
              {node.assets.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
        </form>
        <p class="muted">
          From {utc(fromMs)} to {utc(toMs)}.
        </p>
        <ErrorBox error={result.error} />
        {result.loading && <Loading what="Reading flows" />}
        {flows?.truncated && <div class="warning">The node's scan bound was reached before the end of the day: these totals are partial.</div>}
        {flows && flows.gross.length === 0 && (
          <p class="empty" data-testid="no-flows">
            No money moved between institutions on this day.
          </p>
        )}
      </Card>
      {flows &&
        assets.map((a) => (
          <AssetFlows
            key={a}
            asset={a}
            gross={flows.gross.filter((g) => g.asset === a)}
            net={flows.net.filter((n) => n.asset === a)}
          />
        ))}
      {settlement && <Settlement cycles={settlement} />}
    </div>
  );
}

/** The settlement cycles starting in the day, newest first (none from an older node: not shown). */
function Settlement({ cycles }: { cycles: CycleSettlement[] }) {
  return (
    <Card title={`Settlement cycles starting on this day${cycles.length > 0 ? ` (${cycles.length})` : ''}`} testid="settlement">
      {cycles.length === 0 ? (
        <p class="empty" data-testid="no-settlement">
          No settlement cycle starts on this day.
        </p>
      ) : (
        cycles.map((c) => <SettlementCycle key={c.cycle} cycle={c} />)
      )}
    </Card>
  );
}

/** One cycle: its positions per asset and institution (net = received − paid; negative: owes). */
function SettlementCycle({ cycle }: { cycle: CycleSettlement }) {
  const { node } = useApp();
  const rows = cyclePositions(cycle, (a) => node.decimals(a), node.institutionNames());
  return (
    <section class="settlement-cycle" data-testid="settlement-cycle" data-cycle={cycle.cycle} data-closed={cycle.closed ? 'true' : 'false'}>
      <h3>
        Cycle {cycle.cycle}{' '}
        <span class={`status ${cycle.closed ? 'status-closed' : 'status-open'}`}>{cycle.closed ? 'closed' : 'open, so far'}</span>
      </h3>
      <p class="muted">
        <Time ms={cycle.start_ms} /> – <Time ms={cycle.end_ms} />
        {cycle.closed ? ': the certified clearing record.' : ': the positions so far.'}
      </p>
      {rows.length === 0 ? (
        <p class="empty">No positions.</p>
      ) : (
        <table class="data compact" data-testid={`settlement-${cycle.cycle}`}>
          <thead>
            <tr>
              <th>Institution</th>
              <th>Asset</th>
              <th class="num">Paid</th>
              <th class="num">Received</th>
              <th class="num">Net (received − paid)</th>
              <th>Position</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.asset}\u0000${r.institution}`} data-institution={r.institution} data-asset={r.asset} data-position={r.position}>
                <td>{r.institution}</td>
                <td>{r.asset}</td>
                <td class="num">
                  <Money decimal={r.paid} asset={r.asset} />
                </td>
                <td class="num">
                  <Money decimal={r.received} asset={r.asset} />
                </td>
                <td class={`num ${r.position === 'owes' ? 'negative' : r.position === 'is owed' ? 'positive' : ''}`}>
                  <Money decimal={r.net} asset={r.asset} />
                </td>
                <td class={r.position === 'even' ? 'muted' : ''}>{r.position}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function AssetFlows({ asset, gross, net }: { asset: string; gross: GrossFlow[]; net: Flows['net'] }) {
  const { node } = useApp();
  const decimals = node.decimals(asset) ?? 0;
  const show = (minor: bigint) => formatAmount(minor, decimals);
  // Members in genesis order, then any other name the node answered.
  const names = [...node.institutionNames()];
  for (const g of gross) for (const n of [g.from, g.to]) if (!names.includes(n)) names.push(n);
  const cell = new Map(gross.map((g) => [`${g.from}\u0000${g.to}`, g]));
  const paid = new Map<string, bigint>();
  const received = new Map<string, bigint>();
  for (const g of gross) {
    paid.set(g.from, (paid.get(g.from) ?? 0n) + BigInt(g.amount));
    received.set(g.to, (received.get(g.to) ?? 0n) + BigInt(g.amount));
  }
  const total = gross.reduce((s, g) => s + BigInt(g.amount), 0n);

  return (
    <Card title={`${asset}: gross flows (payer → payee)`} testid={`flows-${asset}`}>
      <div class="table-wrap">
        <table class="data matrix">
          <thead>
            <tr>
              <th>paid by ↓ / to →</th>
              {names.map((n) => (
                <th key={n} class="num">
                  {n}
                </th>
              ))}
              <th class="num">paid in all</th>
            </tr>
          </thead>
          <tbody>
            {names.map((from) => (
              <tr key={from}>
                <th>{from}</th>
                {names.map((to) => {
                  const g = cell.get(`${from}\u0000${to}`);
                  return (
                    <td key={to} class={`num${from === to ? ' diagonal' : ''}`}>
                      {g ? (
                        <span title={`${g.transfers} transfer${g.transfers === 1 ? '' : 's'}`}>
                          <Money decimal={g.amount_display} asset={null} />
                          <span class="count">×{g.transfers}</span>
                        </span>
                      ) : (
                        <span class="muted">·</span>
                      )}
                    </td>
                  );
                })}
                <td class="num total">
                  <Money decimal={show(paid.get(from) ?? 0n)} asset={null} />
                </td>
              </tr>
            ))}
            <tr>
              <th>received in all</th>
              {names.map((to) => (
                <td key={to} class="num total">
                  <Money decimal={show(received.get(to) ?? 0n)} asset={null} />
                </td>
              ))}
              <td class="num total">
                <Money decimal={show(total)} asset={null} />
              </td>
            </tr>
          </tbody>
        </table>
      </div>
      <div class="columns">
        <div>
          <h3>Net position per institution</h3>
          <table class="data compact" data-testid={`net-${asset}`}>
            <thead>
              <tr>
                <th>Institution</th>
                <th class="num">Paid</th>
                <th class="num">Received</th>
                <th class="num">Net (received − paid)</th>
              </tr>
            </thead>
            <tbody>
              {names.map((n) => {
                const p = paid.get(n) ?? 0n;
                const r = received.get(n) ?? 0n;
                const netMinor = r - p;
                return (
                  <tr key={n}>
                    <td>{n}</td>
                    <td class="num">
                      <Money decimal={show(p)} asset={asset} />
                    </td>
                    <td class="num">
                      <Money decimal={show(r)} asset={asset} />
                    </td>
                    <td class={`num ${netMinor < 0n ? 'negative' : netMinor > 0n ? 'positive' : ''}`}>
                      <Money decimal={(netMinor > 0n ? '+' : '') + show(netMinor)} asset={asset} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Pairwise net positions</h3>
          {net.length === 0 ? (
            <p class="empty">None.</p>
          ) : (
            <table class="data compact">
              <thead>
                <tr>
                  <th>Owes</th>
                  <th>To</th>
                  <th class="num">Net</th>
                </tr>
              </thead>
              <tbody>
                {net.map((n) => (
                  <tr key={`${n.payer}-${n.payee}`}>
                    <td>{n.payer}</td>
                    <td>{n.payee}</td>
                    <td class="num">
                      <Money decimal={n.net_display} asset={asset} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </Card>
  );
}
