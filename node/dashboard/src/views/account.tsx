/**
 * An account: its balances and status (`hutong_getAccount`), freezing or
 * unfreezing it, the mandates it granted (`hutong_getMandates`), the
 * owner's other accounts at every institution (`hutong_auditOwner`), the
 * alerts that name it, and its history (`hutong_auditHistory`, page by
 * page).
 */

import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Alert, HistoryPage, HistoryRow, OwnerAccounts } from '../api';
import { money } from '../format';
import type { JsonObject } from '../json';
import { mandateRow, mandatesOf } from '../mandates';
import { call, describeError } from '../rpc';
import { formatAmount, FREEZE_REASONS, isAddress, RejectedError, RpcError, toAccount, type Account, type FreezeReason, type Mandate, type TxStatus } from '../sdk';
import { sendAsRegulator, type TxProgress } from '../tx';
import { Addr, Card, ErrorBox, href, KindBadge, Loading, Money, ScoreBar, Time, TxHash, useApp } from '../ui';
import { alertGraphHref, fetchAlerts } from './alerts';

const HISTORY_PAGE = 50;

export function AccountPage({ address }: { address: string }) {
  const [input, setInput] = useState(address);
  const [inputError, setInputError] = useState<string | null>(null);
  useEffect(() => setInput(address), [address]);

  const go = (e: Event) => {
    e.preventDefault();
    const a = input.trim();
    if (!isAddress(a)) {
      setInputError(`${a || 'an empty value'} is not an account address (ht1…)`);
      return;
    }
    setInputError(null);
    location.hash = href('account', a);
  };

  return (
    <div class="stack">
      <form class="lookup" onSubmit={go}>
        <input type="text" placeholder="account address ht1…" spellcheck={false} value={input} data-testid="account-input" onInput={(e) => setInput((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Open</button>
        {inputError && <span class="error inline-error">{inputError}</span>}
      </form>
      {address && (isAddress(address) ? <AccountView key={address} address={address} /> : <div class="error">{address} is not an account address</div>)}
    </div>
  );
}

function AccountView({ address }: { address: string }) {
  const { node } = useApp();
  const [account, setAccount] = useState<Account | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Bumped when a freeze or an unfreeze is final: the account, its alerts
  // and its history are read again (the receipt stays on screen).
  const [version, setVersion] = useState(0);

  useEffect(() => {
    call<Record<string, unknown>>('hutong_getAccount', [address]).then((j) => setAccount(toAccount(j)), setError);
  }, [address, version]);

  if (error) {
    const missing = error instanceof RpcError && error.isNotFound;
    return <div class="error">{missing ? `There is no account ${address} on this chain.` : describeError(error)}</div>;
  }
  if (!account) return <Loading what="Reading the account" />;
  const frozen = account.frozen;
  return (
    <>
      <Card
        title={
          <>
            Account <Addr value={address} short={false} link={false} />
          </>
        }
        testid="account"
        actions={
          <>
            <a class="button" href={href('graph', '', { account: address, dir: 'forward' })}>
              Money out (graph)
            </a>
            <a class="button" href={href('graph', '', { account: address, dir: 'backward' })}>
              Money in (graph)
            </a>
          </>
        }
      >
        <div class="account-grid">
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <span class={`status status-${account.status}`} data-testid="account-status" data-status={account.status}>
                {frozen ? 'frozen' : account.status}
              </span>
              {frozen && (
                <span>
                  {' '}
                  for <b data-testid="freeze-reason-shown">{frozen.reason}</b>, by {node.nameOf(frozen.by) ?? ''} <Addr value={frozen.by} />
                </span>
              )}
            </dd>
            <dt>Kind</dt>
            <dd>{account.kind}</dd>
            <dt>Tier</dt>
            <dd>{node.tierName(account.tier)}</dd>
            <dt>Institution</dt>
            <dd>
              {node.institutionName(account.institution)} <Addr value={account.institution} />
            </dd>
            <dt>Sequence</dt>
            <dd>{String(account.sequence)}</dd>
            <dt>As of height</dt>
            <dd>{account.height}</dd>
          </dl>
          <div>
            <h3>Balances</h3>
            <table class="data compact" data-testid="balances">
              <thead>
                <tr>
                  <th>Asset</th>
                  <th class="num">Balance</th>
                  <th class="num">Sent today</th>
                  <th class="num">Left today</th>
                </tr>
              </thead>
              <tbody>
                {Object.keys(account.balances).length === 0 && (
                  <tr>
                    <td colSpan={4} class="muted">
                      no balances
                    </td>
                  </tr>
                )}
                {Object.keys(account.balances)
                  .sort()
                  .map((asset) => {
                    const limits = account.limits[asset];
                    const d = node.decimals(asset) ?? 0;
                    const decimal = account.balancesDecimal[asset] ?? formatAmount(account.balances[asset]!, d);
                    return (
                      <tr key={asset} data-asset={asset}>
                        <td>{asset}</td>
                        <td class="num">
                          <Money decimal={decimal} asset={asset} />
                        </td>
                        <td class="num">{limits ? money(formatAmount(limits.spentToday, d), asset) : '—'}</td>
                        <td class="num">{limits ? money(formatAmount(limits.remainingToday, d), asset) : '—'}</td>
                      </tr>
                    );
                  })}
              </tbody>
            </table>
          </div>
        </div>
        <FreezePanel account={account} onFinal={() => setVersion((v) => v + 1)} />
      </Card>
      <AccountMandates key={`mandates-${version}`} address={address} />
      <OwnerAccountsCard key={`owner-${version}`} address={address} />
      <AccountAlerts key={`alerts-${version}`} address={address} />
      <AccountHistory key={`history-${version}`} address={address} />
    </>
  );
}

type FreezeState =
  | { phase: 'idle' }
  | { phase: 'form' }
  | { phase: 'working'; progress: TxProgress }
  | { phase: 'done'; status: TxStatus }
  | { phase: 'failed'; error: unknown; hash?: string };

/**
 * Freezing (with a reason) or unfreezing: a transaction signed with the
 * regulator key, submitted, and followed until final; its receipt is
 * shown (success, or the failure's code).
 */
function FreezePanel({ account, onFinal }: { account: Account; onFinal: () => void }) {
  const { session } = useApp();
  const [state, setState] = useState<FreezeState>({ phase: 'idle' });
  const [reason, setReason] = useState<FreezeReason>('fraud');
  const frozen = account.frozen !== null;
  const action = frozen ? 'Unfreeze' : 'Freeze';

  const run = async () => {
    let hash: string | undefined;
    try {
      const kind = frozen ? ({ type: 'unfreeze', account: account.address } as const) : ({ type: 'freeze', account: account.address, reason } as const);
      const status = await sendAsRegulator(session, kind, (progress) => {
        if ('hash' in progress) hash = progress.hash;
        setState({ phase: 'working', progress });
      });
      setState({ phase: 'done', status });
      onFinal();
    } catch (error) {
      setState({ phase: 'failed', error, hash });
    }
  };

  return (
    <div class="freeze" data-testid="freeze-panel">
      {state.phase === 'idle' && (
        <button type="button" class={frozen ? 'secondary' : 'danger'} data-testid={frozen ? 'unfreeze-open' : 'freeze-open'} onClick={() => setState({ phase: 'form' })}>
          {action} this account…
        </button>
      )}
      {state.phase === 'form' && (
        <div class="freeze-form">
          {frozen ? (
            <p>Lift the freeze of this account? A transaction signed with your regulator key is submitted.</p>
          ) : (
            <label>
              Reason
              <select value={reason} data-testid="freeze-reason" onChange={(e) => setReason((e.currentTarget as HTMLSelectElement).value as FreezeReason)}>
                {FREEZE_REASONS.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
          )}
          <button type="button" class={frozen ? '' : 'danger'} data-testid={frozen ? 'unfreeze-submit' : 'freeze-submit'} onClick={run}>
            Sign and submit: {action.toLowerCase()}
            {frozen ? '' : ` (${reason})`}
          </button>
          <button type="button" class="secondary" onClick={() => setState({ phase: 'idle' })}>
            Cancel
          </button>
        </div>
      )}
      {state.phase === 'working' && (
        <div class="loading" data-testid="tx-progress">
          <span class="spinner" />{' '}
          {state.progress.phase === 'preparing'
            ? 'Preparing the transaction'
            : state.progress.phase === 'submitting'
              ? 'Submitting'
              : 'Waiting for the transaction to be committed'}
          {'hash' in state.progress && (
            <>
              {' '}
              <TxHash hash={state.progress.hash} />
            </>
          )}
        </div>
      )}
      {state.phase === 'done' && (
        <>
          <TxResult status={state.status} />
          <button type="button" class="secondary" data-testid="tx-close" onClick={() => setState({ phase: 'idle' })}>
            Close
          </button>
        </>
      )}
      {state.phase === 'failed' && (
        <>
          <div class="error" data-testid="tx-result" data-outcome={state.error instanceof RejectedError ? 'rejected' : 'error'}>
            {state.error instanceof RejectedError ? `Not admitted (${state.error.code}): ${state.error.reason}` : describeError(state.error)}
            {state.hash && (
              <>
                {' '}
                <TxHash hash={state.hash} />
              </>
            )}
          </div>
          <button type="button" class="secondary" onClick={() => setState({ phase: 'idle' })}>
            Close
          </button>
        </>
      )}
    </div>
  );
}

/** A final transaction status: the receipt's success and effects, or its failure. */
function TxResult({ status }: { status: TxStatus }) {
  if (status.status === 'committed') {
    const r = status.receipt;
    const ok = r?.success === true;
    return (
      <div class={ok ? 'success' : 'error'} data-testid="tx-result" data-outcome={ok ? 'success' : 'failed'} data-code={r?.code ?? ''}>
        <p>
          {ok ? 'Committed' : 'Committed, but it failed'} at height {status.height} <TxHash hash={status.hash} />
          {!ok && r && (
            <>
              : <b>{r.code}</b>
            </>
          )}
        </p>
        {ok && r?.effects && (
          <ul class="plain">
            {r.effects.map((e, i) => (
              <li key={i}>
                {e.type} {e.account && <Addr value={e.account} />} {typeof e['reason'] === 'string' && `(${e['reason']})`}
              </li>
            ))}
          </ul>
        )}
        {!ok && r?.failure && (
          <dl class="facts">
            {Object.entries(r.failure)
              .filter(([k]) => k !== 'code')
              .map(([k, v]) => (
                <Fragment key={k}>
                  <dt>{k}</dt>
                  <dd>{String(v)}</dd>
                </Fragment>
              ))}
          </dl>
        )}
      </div>
    );
  }
  const what = status.status === 'rejected' ? 'Rejected' : status.status === 'dropped' ? 'Dropped' : 'Not final';
  return (
    <div class="error" data-testid="tx-result" data-outcome={status.status} data-code={'code' in status ? status.code : ''}>
      {what}
      {'code' in status && ` (${status.code}): ${status.message}`} <TxHash hash={status.hash} />
    </div>
  );
}

/**
 * The mandates this account granted (`hutong_getMandates`, a public
 * method): who may pay from it or read it, within which limits. Each
 * grantee and payee links to its account view.
 */
function AccountMandates({ address }: { address: string }) {
  const { node } = useApp();
  const [mandates, setMandates] = useState<Mandate[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    call<Record<string, unknown>>('hutong_getMandates', [{ account: address }]).then((j) => setMandates(mandatesOf(j)), setError);
  }, [address]);
  return (
    <Card title={`Mandates this account granted${mandates ? ` (${mandates.length})` : ''}`} testid="account-mandates">
      <ErrorBox error={error} />
      {!mandates && !error && <Loading what="Reading the mandates" />}
      {mandates && mandates.length === 0 && (
        <p class="empty" data-testid="no-mandates">
          No mandates.
        </p>
      )}
      {mandates && mandates.length > 0 && (
        <div class="table-wrap">
          <table class="data compact" data-testid="mandates">
            <thead>
              <tr>
                <th class="num">Id</th>
                <th>Grantee</th>
                <th>Scope</th>
                <th>Asset</th>
                <th class="num">Per payment</th>
                <th class="num">Per period</th>
                <th class="num">Spent this period</th>
                <th>Payees</th>
                <th>From – to</th>
                <th>In force</th>
              </tr>
            </thead>
            <tbody>
              {mandates.map((m) => {
                const r = mandateRow(m, node.decimals(m.asset) ?? 0, node.status.timestamp_ms);
                return (
                  <tr key={r.id} data-testid="mandate" data-mandate={r.id} data-grantee={r.grantee} data-state={r.state}>
                    <td class="num">{r.id}</td>
                    <td>
                      <Addr value={r.grantee} name={node.nameOf(r.grantee)} />
                    </td>
                    <td>{r.scope}</td>
                    <td>{r.asset}</td>
                    <td class="num">
                      <span class="money">{r.perPayment}</span>
                    </td>
                    <td class="num">
                      <span class="money">{r.perPeriod}</span>
                    </td>
                    <td class="num">
                      <span class="money">{r.spentInPeriod}</span>
                    </td>
                    <td>
                      {r.payees.length === 0 ? (
                        <span class="muted">any payee</span>
                      ) : (
                        <ul class="plain">
                          {r.payees.map((p) => (
                            <li key={p}>
                              <Addr value={p} name={node.nameOf(p)} />
                            </li>
                          ))}
                        </ul>
                      )}
                    </td>
                    <td>
                      <Time ms={r.startMs} /> – <Time ms={r.endMs} />
                    </td>
                    <td>
                      <span class={`status ${r.state === 'in force' ? 'status-active' : 'status-inactive'}`}>{r.state}</span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** Most accounts of one owner listed (the node's page limit). */
const OWNER_PAGE = 1000;

/**
 * The owner's accounts at every institution (`hutong_auditOwner`): the
 * owner is the identity commitment the institutions put in
 * `OpenAccount`. Each row links to its account view.
 */
function OwnerAccountsCard({ address }: { address: string }) {
  const { session } = useApp();
  const [owned, setOwned] = useState<OwnerAccounts | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    session.audit<OwnerAccounts>('hutong_auditOwner', { account: address, limit: OWNER_PAGE }).then(setOwned, setError);
  }, [address]);
  const others = owned ? owned.accounts.filter((a) => a.address !== address) : [];
  return (
    <Card title={`The owner's other accounts${owned?.owner ? ` (${others.length}${owned.next_cursor ? '+' : ''})` : ''}`} testid="owner-accounts">
      <ErrorBox error={error} />
      {!owned && !error && <Loading what="Reading the owner's accounts" />}
      {owned && !owned.owner && <p class="empty">No owner on record: an institution's or a regulator's account, or one opened with the zero identity commitment.</p>}
      {owned?.owner && (
        <p class="muted">
          Owner (identity commitment) <code data-testid="owner-commitment">{owned.owner}</code>
        </p>
      )}
      {owned?.owner && others.length === 0 && <p class="empty">This owner holds no other account.</p>}
      {others.length > 0 && (
        <table class="data">
          <thead>
            <tr>
              <th>Account</th>
              <th>Institution</th>
              <th>Tier</th>
              <th class="num">Opened at height</th>
              <th>Status</th>
              <th>Balances</th>
            </tr>
          </thead>
          <tbody>
            {others.map((a) => (
              <tr key={a.address} data-testid="owner-account" data-address={a.address}>
                <td>
                  <Addr value={a.address} />
                </td>
                <td>{a.institution}</td>
                <td class="num">{a.tier}</td>
                <td class="num">{a.opened_height}</td>
                <td>{a.frozen ? <span class="status status-frozen">frozen ({a.frozen})</span> : 'active'}</td>
                <td>
                  {a.balances.length === 0
                    ? '—'
                    : a.balances.map((b, i) => (
                        <Fragment key={b.asset}>
                          {i > 0 && ', '}
                          <Money decimal={b.amount_display} asset={b.asset} />
                        </Fragment>
                      ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {owned?.next_cursor && <p class="muted">More than {OWNER_PAGE} accounts: the first {OWNER_PAGE} are shown.</p>}
    </Card>
  );
}

function AccountAlerts({ address }: { address: string }) {
  const { session } = useApp();
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    fetchAlerts(session, { account: address }).then(
      (r) => setAlerts(r.alerts.sort((a, b) => b.timestamp_ms - a.timestamp_ms || b.id - a.id)),
      setError,
    );
  }, [address]);
  return (
    <Card title={`Alerts naming this account${alerts ? ` (${alerts.length})` : ''}`} testid="account-alerts">
      <ErrorBox error={error} />
      {!alerts && !error && <Loading what="Reading alerts" />}
      {alerts && alerts.length === 0 && <p class="empty">No alert names this account.</p>}
      {alerts && alerts.length > 0 && (
        <table class="data">
          <thead>
            <tr>
              <th>Id</th>
              <th>Time</th>
              <th>Kind</th>
              <th>Score</th>
              <th>About</th>
              <th class="num">Amount</th>
              <th>Detail</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {alerts.map((a) => (
              <tr key={a.id} data-testid="account-alert" data-kind={a.kind}>
                <td class="num">{a.id}</td>
                <td>
                  <Time ms={a.timestamp_ms} />
                </td>
                <td>
                  <KindBadge kind={a.kind} />
                </td>
                <td>
                  <ScoreBar score={a.score} />
                </td>
                <td>{a.account === address ? 'this account' : <Addr value={a.account} />}</td>
                <td class="num">
                  <Money decimal={a.amount_decimal ?? null} asset={a.asset} />
                </td>
                <td class="detail" title={a.detail}>
                  {a.detail}
                </td>
                <td>
                  <a href={alertGraphHref(a)}>graph</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function AccountHistory({ address }: { address: string }) {
  const { node, session } = useApp();
  const [direction, setDirection] = useState('any');
  const [asset, setAsset] = useState('');
  const [whole, setWhole] = useState(false);
  const [rows, setRows] = useState<HistoryRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [state, setState] = useState<{ loading: boolean; loaded: boolean; error: unknown }>({ loading: false, loaded: false, error: null });

  const load = async (from: string | null, append: boolean) => {
    setState((s) => ({ ...s, loading: true, error: null }));
    try {
      const q: JsonObject = { account: address, limit: HISTORY_PAGE };
      if (direction !== 'any') q['direction'] = direction;
      if (asset) q['asset'] = asset;
      if (from) q['cursor'] = from;
      if (whole) q['whole_owner'] = true;
      const page = await session.audit<HistoryPage>('hutong_auditHistory', q);
      setRows((old) => (append ? [...old, ...page.rows] : page.rows));
      setCursor(page.next_cursor);
      setState({ loading: false, loaded: true, error: null });
    } catch (e) {
      setState((s) => ({ ...s, loading: false, error: e }));
    }
  };

  useEffect(() => {
    load(null, false);
  }, [address, direction, asset, whole]);

  return (
    <Card
      title="History (oldest first)"
      testid="history"
      actions={
        <>
          <select value={whole ? 'owner' : 'account'} onChange={(e) => setWhole((e.currentTarget as HTMLSelectElement).value === 'owner')} aria-label="whose history" data-testid="history-whose">
            <option value="account">this account</option>
            <option value="owner">every account of its owner</option>
          </select>
          <select value={direction} onChange={(e) => setDirection((e.currentTarget as HTMLSelectElement).value)} aria-label="direction">
            <option value="any">in and out</option>
            <option value="in">money in</option>
            <option value="out">money out</option>
          </select>
          <select value={asset} onChange={(e) => setAsset((e.currentTarget as HTMLSelectElement).value)} aria-label="asset">
            <option value="">every asset</option>
            {node.assets.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </>
      }
    >
      <ErrorBox error={state.error} />
      {!state.loaded && state.loading && <Loading what="Reading the history" />}
      {state.loaded && rows.length === 0 && <p class="empty">No legs touch this account{direction !== 'any' || asset ? ' with these filters' : ''}.</p>}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="data" data-testid="history-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Height</th>
                <th>Way</th>
                {whole && <th>Owner's account</th>}
                <th>Kind</th>
                <th>Counterparty</th>
                <th>Its institution</th>
                <th class="num">Amount</th>
                <th>Outcome</th>
                <th>Transaction</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const other = r.direction === 'in' ? r.from : r.to;
                const otherInstitution = r.direction === 'in' ? r.from_institution : r.to_institution;
                const own = r.direction === 'in' ? r.to : r.from;
                return (
                  <tr key={`${r.tx_hash}:${r.leg}`} class={r.success ? '' : 'failed'} data-testid="history-row" data-way={r.direction} data-other={other} data-own={own}>
                    <td>
                      <Time ms={r.timestamp_ms} />
                    </td>
                    <td class="num">{r.height}</td>
                    <td>
                      <span class={`way way-${r.direction}`}>{r.direction}</span>
                    </td>
                    {whole && <td>{own === address ? <span class="muted">this account</span> : <Addr value={own} name={node.nameOf(own)} />}</td>}
                    <td>{r.kind.replace(/_/g, ' ')}</td>
                    <td>{other === address && !whole ? <span class="muted">itself</span> : <Addr value={other} name={node.nameOf(other)} />}</td>
                    <td>{node.institutionName(otherInstitution)}</td>
                    <td class="num">{r.asset ? <Money decimal={r.amount_display ?? r.amount} asset={r.asset} /> : '—'}</td>
                    <td>{r.success ? 'ok' : <span class="failure">{r.failure ?? 'failed'}</span>}</td>
                    <td>
                      <TxHash hash={r.tx_hash} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" class="secondary more" disabled={state.loading} onClick={() => load(cursor, true)} data-testid="history-more">
          {state.loading ? 'Loading…' : `Later legs (next ${HISTORY_PAGE})`}
        </button>
      )}
    </Card>
  );
}
