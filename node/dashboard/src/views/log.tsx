/**
 * The audit-query log (`hutong_auditLog`): every audit request the node
 * answered or refused, hash-chained. Its chain is walked here from the
 * first entry to the last and every hash recomputed in the browser
 * (auditlog.ts), so an edited or removed entry shows without trusting the
 * node's own `chain_ok`. The entries are shown newest first, a page at a
 * time, each with its own check.
 *
 * Reading the log is an audit request too: each page read adds an entry.
 */

import { useEffect, useState } from 'preact/hooks';
import { ChainWalker, checkEntry, logEntryFromJson, ZERO_HASH, type LogEntry } from '../auditlog';
import { canonicalJson, RawNumber, type Json } from '../json';
import { shorten } from '../format';
import type { AuditSession } from '../rpc';
import { Addr, Card, ErrorBox, Loading, Time, useApp } from '../ui';

/** Entries per request while walking the chain. */
const WALK_PAGE = 1_000;
/** Entries per page shown. */
const SHOW_PAGE = 50;

interface LogAnswer {
  entries: LogEntry[];
  chainOk: boolean;
  chainError: string | null;
  nextSeq: bigint;
}

async function readLog(session: AuditSession, fromSeq: bigint, limit: number): Promise<LogAnswer> {
  // Numbers stay text: a logged query is re-hashed exactly as the node wrote it.
  const j = await session.audit<Json>('hutong_auditLog', { from_seq: Number(fromSeq), limit }, { rawNumbers: true });
  if (!j || typeof j !== 'object' || Array.isArray(j) || j instanceof RawNumber) throw new Error('hutong_auditLog: the answer is not an object');
  const entries = j['entries'];
  if (!Array.isArray(entries)) throw new Error('hutong_auditLog: the answer has no entries');
  const next = j['next_seq'];
  return {
    entries: entries.map(logEntryFromJson),
    chainOk: j['chain_ok'] === true,
    chainError: typeof j['chain_error'] === 'string' ? j['chain_error'] : null,
    nextSeq: next instanceof RawNumber ? next.toBigInt() : 0n,
  };
}

type Check =
  | { state: 'checking'; checked: number }
  | { state: 'intact'; checked: number; lastSeq: bigint; nodeOk: boolean; nodeError: string | null }
  | { state: 'broken'; checked: number; error: string; nodeOk: boolean }
  | { state: 'error'; error: unknown };

/** Walks the whole chain from entry 0, re-hashing every entry. */
async function walkLog(session: AuditSession, progress: (checked: number) => void): Promise<Check> {
  const walker = new ChainWalker(0n, ZERO_HASH);
  let nodeOk = true;
  let nodeError: string | null = null;
  for (;;) {
    const page = await readLog(session, walker.nextSeq, WALK_PAGE);
    if (!page.chainOk) {
      nodeOk = false;
      nodeError ??= page.chainError;
    }
    if (!walker.push(page.entries)) return { state: 'broken', checked: walker.checked, error: walker.error!, nodeOk };
    progress(walker.checked);
    // A short page is the end of the log (as of that request).
    if (page.entries.length < WALK_PAGE) return { state: 'intact', checked: walker.checked, lastSeq: walker.nextSeq - 1n, nodeOk, nodeError };
  }
}

interface Shown {
  /** Newest first, each with what is wrong with it (null: it checks out). */
  rows: { entry: LogEntry; problem: string | null }[];
  from: bigint;
  nextSeq: bigint;
}

/**
 * A page of entries from `from`, each checked against the one before it:
 * the entry before the page is read too, as the anchor of the first.
 */
async function readPage(session: AuditSession, from: bigint): Promise<Shown> {
  const anchorSeq = from > 0n ? from - 1n : 0n;
  const page = await readLog(session, anchorSeq, SHOW_PAGE + (from > 0n ? 1 : 0));
  let entries = page.entries;
  let prev = ZERO_HASH;
  if (from > 0n) {
    const anchor = entries[0];
    entries = entries.slice(1);
    prev = anchor ? anchor.hash : ZERO_HASH;
  }
  const rows: Shown['rows'] = [];
  let expected = from;
  for (const entry of entries) {
    rows.push({ entry, problem: checkEntry(entry, expected, prev) });
    expected = entry.seq + 1n;
    prev = entry.hash;
  }
  return { rows: rows.reverse(), from, nextSeq: page.nextSeq };
}

export function LogPage() {
  const { session } = useApp();
  const [check, setCheck] = useState<Check>({ state: 'checking', checked: 0 });
  const [run, setRun] = useState(0);
  const [shown, setShown] = useState<Shown | null>(null);
  const [pageError, setPageError] = useState<unknown>(null);
  const [loadingPage, setLoadingPage] = useState(false);

  const showFrom = async (from: bigint | 'newest') => {
    setLoadingPage(true);
    setPageError(null);
    try {
      let start = from;
      if (start === 'newest') {
        // The next sequence number, then the last page before it.
        const head = await readLog(session, 0n, 1);
        start = head.nextSeq > BigInt(SHOW_PAGE) ? head.nextSeq - BigInt(SHOW_PAGE) : 0n;
      }
      setShown(await readPage(session, start));
    } catch (e) {
      setPageError(e);
    } finally {
      setLoadingPage(false);
    }
  };

  useEffect(() => {
    let live = true;
    setCheck({ state: 'checking', checked: 0 });
    walkLog(session, (checked) => live && setCheck({ state: 'checking', checked }))
      .then((c) => live && setCheck(c))
      .catch((error) => live && setCheck({ state: 'error', error }))
      .then(() => {
        if (live) showFrom('newest');
      });
    return () => {
      live = false;
    };
  }, [run]);

  return (
    <div class="stack">
      <Card
        title="Audit-query log"
        testid="log"
        actions={
          <button type="button" onClick={() => setRun((r) => r + 1)} disabled={check.state === 'checking'} data-testid="log-recheck">
            Check the chain again
          </button>
        }
      >
        <ChainStatus check={check} />
      </Card>
      <Card
        title="Entries (newest first)"
        testid="log-entries"
        actions={
          shown && (
            <>
              <button type="button" class="secondary" disabled={loadingPage} onClick={() => showFrom('newest')}>
                Newest
              </button>
              <button
                type="button"
                class="secondary"
                disabled={loadingPage || shown.from + BigInt(SHOW_PAGE) >= shown.nextSeq}
                onClick={() => showFrom(shown.from + BigInt(SHOW_PAGE))}
              >
                Newer
              </button>
              <button type="button" class="secondary" disabled={loadingPage || shown.from === 0n} onClick={() => showFrom(shown.from > BigInt(SHOW_PAGE) ? shown.from - BigInt(SHOW_PAGE) : 0n)}>
                Older
              </button>
            </>
          )
        }
      >
        <ErrorBox error={pageError} />
        {!shown && loadingPage && <Loading what="Reading entries" />}
        {shown && <LogTable rows={shown.rows} />}
      </Card>
    </div>
  );
}

function ChainStatus({ check }: { check: Check }) {
  switch (check.state) {
    case 'checking':
      return (
        <div class="chain chain-checking" data-testid="chain-status" data-chain="checking">
          <span class="spinner" /> Re-hashing the chain in this browser: {check.checked.toLocaleString('en')} entries so far…
        </div>
      );
    case 'intact':
      return (
        <div class="chain chain-intact" data-testid="chain-status" data-chain="intact" data-checked={check.checked}>
          <b>✓ The hash chain is intact.</b> All {check.checked.toLocaleString('en')} entries (#0 to #{String(check.lastSeq)}) were re-hashed in this browser and each names the one before it.
          {!check.nodeOk && <span class="warning-text"> Yet the node reported a break: {check.nodeError ?? 'no reason given'}.</span>}
        </div>
      );
    case 'broken':
      return (
        <div class="chain chain-broken" data-testid="chain-status" data-chain="broken" role="alert">
          <b>✗ The hash chain is broken</b> after {check.checked.toLocaleString('en')} good entries: {check.error}. The log was edited or entries were removed from there on.
          {check.nodeOk && <span> (The node itself reported its chain as intact.)</span>}
        </div>
      );
    case 'error':
      return (
        <div class="chain" data-testid="chain-status" data-chain="error">
          <ErrorBox error={check.error} />
        </div>
      );
  }
}

function LogTable({ rows }: { rows: Shown['rows'] }) {
  const { node } = useApp();
  return (
    <div class="table-wrap">
      <table class="data log-table">
        <thead>
          <tr>
            <th class="num">Seq</th>
            <th>Time</th>
            <th>Key</th>
            <th>Method</th>
            <th>Query</th>
            <th>Outcome</th>
            <th>Hash</th>
            <th>Check</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ entry: e, problem }) => {
            const query = canonicalJson(e.query);
            const regulator = node.regulatorOfKey(e.key);
            return (
              <tr key={String(e.seq)} class={problem ? 'bad' : ''} data-testid="log-entry" data-seq={String(e.seq)} data-ok={problem ? 'false' : 'true'}>
                <td class="num">{String(e.seq)}</td>
                <td>
                  <Time ms={Number(e.timeMs)} />
                </td>
                <td title={e.key}>{regulator ? <Addr value={regulator.account} name={regulator.name} /> : <span class="mono">{e.key ? shorten(e.key) : '(none)'}</span>}</td>
                <td class="mono">{e.method}</td>
                <td class="mono query" title={query}>
                  {query.length > 120 ? `${query.slice(0, 120)}…` : query}
                </td>
                <td>{e.refused ? <span class="failure">refused: {e.refused}</span> : 'answered'}</td>
                <td class="mono" title={e.hash}>
                  {shorten(e.hash, 8, 4)}
                </td>
                <td>{problem ? <span class="failure">✗ {problem}</span> : <span class="ok">✓</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
