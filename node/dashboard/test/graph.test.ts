// Cycles in a trace: legs inside a strongly connected component are on a
// cycle; legs back to an account met no later close one, and each closing
// leg's way round is listed once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Trace, TraceLeg } from '../src/api';
import { buildFlowGraph, layoutSwimlanes } from '../src/graph';

let n = 0;
function leg(from: string, to: string, hop: number, amount = '100'): TraceLeg {
  n++;
  return {
    height: n, index: 0, leg: 0, timestamp_ms: 1000 * n, tx_hash: n.toString(16).padStart(64, '0'), kind: 'transfer',
    from, from_institution: `inst-${from}`, to, to_institution: `inst-${to}`, asset: 'CNY', amount, amount_display: amount, success: true, failure: null, hop,
  };
}

function trace(start: string, edges: TraceLeg[], direction: 'forward' | 'backward' = 'forward'): Trace {
  const hops = new Map<string, number>([[start, 0]]);
  for (const e of edges) {
    const reached = direction === 'forward' ? e.to : e.from;
    if (!hops.has(reached)) hops.set(reached, e.hop);
  }
  return {
    start: { account: start }, direction, hops: 4, truncated: false,
    nodes: [...hops].map(([account, hop]) => ({ account, institution: `inst-${account}`, hop })),
    edges,
  };
}

test('money that comes back to the start is a cycle, listed from the start', () => {
  const g = buildFlowGraph(trace('A', [leg('A', 'B', 1), leg('B', 'C', 2), leg('C', 'A', 3), leg('C', 'D', 3)]));
  assert.equal(g.cycles.length, 1);
  assert.deepEqual(g.cycles[0]!.accounts, ['A', 'B', 'C', 'A']);
  assert.deepEqual(g.edges.map((e) => [e.from + e.to, e.cycle, e.closing]), [['AB', true, false], ['BC', true, false], ['CA', true, true], ['CD', false, false]]);
});

test('paths that merge are not a cycle', () => {
  const g = buildFlowGraph(trace('A', [leg('A', 'B', 1), leg('A', 'C', 1), leg('B', 'C', 2), leg('C', 'D', 2)]));
  assert.equal(g.cycles.length, 0);
  assert.ok(g.edges.every((e) => !e.cycle));
});

test('a backward trace finds the same cycle', () => {
  const g = buildFlowGraph(trace('A', [leg('C', 'A', 1), leg('B', 'C', 2), leg('A', 'B', 3)], 'backward'));
  assert.equal(g.cycles.length, 1);
  assert.deepEqual(g.cycles[0]!.accounts, ['A', 'B', 'C', 'A']);
});

test('a cycle away from the start, and two cycles through one account', () => {
  const g = buildFlowGraph(trace('S', [leg('S', 'X', 1), leg('X', 'Y', 2), leg('Y', 'X', 3), leg('X', 'Z', 2), leg('Z', 'X', 3)]));
  assert.deepEqual(g.cycles.map((c) => c.accounts.join('')).sort(), ['XYX', 'XZX']);
  assert.equal(g.edges.find((e) => e.from === 'S')!.cycle, false);
});

test("money back at another account of the start's owner is a cycle, marked as such", () => {
  // A → B → C → A2, where A2 is another account of A's owner; and C → D,
  // where D is another account of B's owner: money back at B's owner.
  const t = trace('A', [leg('A', 'B', 1), leg('B', 'C', 2), leg('C', 'A2', 3), leg('C', 'D', 3), leg('C', 'E', 3)]);
  const owners: Record<string, string> = { A: 'o1', A2: 'o1', B: 'o2', D: 'o2', E: 'o3' };
  t.nodes = t.nodes.map((n) => ({ ...n, owner: owners[n.account] ?? null }));
  const g = buildFlowGraph(t);
  assert.deepEqual(g.cycles.map((c) => [c.accounts.join(' '), c.viaOwner]), [['B C D', true], ['A B C A2', true]]);
  assert.deepEqual(g.edges.map((e) => [e.from + e.to, e.cycle, e.closing]), [['AB', true, false], ['BC', true, false], ['CA2', true, true], ['CD', true, true], ['CE', false, false]]);
  assert.deepEqual(g.nodes.filter((n) => n.sharedOwner).map((n) => n.id).sort(), ['A', 'A2', 'B', 'D']);
  // Without owners the same legs make no cycle; an ordinary cycle is not via an owner.
  assert.equal(buildFlowGraph(trace('A', [leg('A', 'B', 1), leg('B', 'C', 2), leg('C', 'A2', 3)])).cycles.length, 0);
  const plain = buildFlowGraph(trace('A', [leg('A', 'B', 1), leg('B', 'A', 2)]));
  assert.equal(plain.cycles[0]!.viaOwner, false);
});

test('swimlanes: one lane per institution, one column per hop', () => {
  const g = buildFlowGraph(trace('A', [leg('A', 'B', 1), leg('B', 'C', 2)]));
  const p = layoutSwimlanes(g, 'forward');
  assert.deepEqual([p.get('A')!.x, p.get('B')!.x, p.get('C')!.x], [0, 240, 480]);
  assert.ok(p.get('A')!.y < p.get('B')!.y && p.get('B')!.y < p.get('C')!.y);
  const back = layoutSwimlanes(g, 'backward');
  assert.ok(back.get('A')!.x > back.get('C')!.x);
});
