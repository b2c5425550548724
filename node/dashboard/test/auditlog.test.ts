// The audit log's chain, re-checked as the browser does, against a page a
// real node answered (fixtures/log-page.json) and a refused entry's
// vector computed independently from node/audit/src/auth.rs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ChainWalker, entryHashOf, logEntryFromJson, queryHashOf, ZERO_HASH, type LogEntry } from '../src/auditlog';
import { parseJsonRaw, type Json } from '../src/json';

function page(): LogEntry[] {
  const text = readFileSync(new URL('./fixtures/log-page.json', import.meta.url), 'utf8');
  const j = parseJsonRaw(text) as { entries: Json[] };
  return j.entries.map(logEntryFromJson);
}

test("a node's log page checks out from the start", () => {
  const entries = page();
  const w = new ChainWalker(0n, ZERO_HASH);
  assert.equal(w.push(entries), true, w.error ?? '');
  assert.equal(w.checked, entries.length);
  // Paged: the same walk in two runs.
  const w2 = new ChainWalker();
  assert.ok(w2.push(entries.slice(0, 2)) && w2.push(entries.slice(2)));
});

test('an edited query, an edited field or a removed entry breaks the chain there', () => {
  const edited = page();
  edited[2] = { ...edited[2]!, query: { limit: 2 } };
  const w = new ChainWalker();
  assert.equal(w.push(edited), false);
  assert.equal(w.checked, 2);
  assert.match(w.error!, /entry 2's query does not match its hash/);

  const retimed = page();
  retimed[1] = { ...retimed[1]!, timeMs: retimed[1]!.timeMs + 1n };
  const w2 = new ChainWalker();
  assert.equal(w2.push(retimed), false);
  assert.match(w2.error!, /entry 1's hash is wrong/);

  const removed = page();
  removed.splice(3, 1);
  const w3 = new ChainWalker();
  assert.equal(w3.push(removed), false);
  assert.match(w3.error!, /entry 4 does not follow entry 2/);
});

test("a refused request's code is a seventh member of the hashed tuple", () => {
  // Computed with Python's hashlib from the rule in node/audit/src/auth.rs.
  const query = parseJsonRaw(
    '{"refused":"unknown_key","message":"key abc is not a regulator key of this chain\'s genesis","query_bytes":12,"unlogged_refusals_before":0}',
  );
  const queryHash = queryHashOf(query);
  assert.equal(queryHash, 'd0907a6bb43beae7e436a0682a874c03a4e3e6b70fd33c409b8332f9319ade38');
  const entry: LogEntry = {
    seq: 7n,
    timeMs: 1796578673418n,
    key: 'abc',
    method: 'hutong_auditTrace',
    query,
    queryHash,
    prev: 'ab'.repeat(32),
    hash: '',
    refused: 'unknown_key',
  };
  assert.equal(entryHashOf(entry), '7f44926c9a05171c751391dc8346331719e39b11cef2eefe6b90e8be56ccd467');
  assert.equal(entryHashOf({ ...entry, refused: null }), '5cf010d3b5d96e7646da41f90e6b189986046fecf92188829ffe1b6f4b78e2fd');
});
