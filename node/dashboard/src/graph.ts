/**
 * A trace (`hutong_auditTrace`) as a graph: accounts, the legs between
 * them, the cycles money made, and a layout in swimlanes (one lane per
 * institution, one column per hop).
 *
 * A cycle is money that comes back to an account it already passed
 * through. Every leg whose two accounts lie in the same strongly
 * connected component is on some cycle (there is a way back from its
 * target to its source); such a leg is drawn red. The legs that *close* a
 * cycle are those going back to an account met at the same or an earlier
 * hop (the start account, typically); for each of them the shortest way
 * round is listed.
 *
 * Accounts of one owner (the same identity commitment, at one institution
 * or several) are one party: money that leaves A and comes back to
 * another account of A's owner went round too. Cycles are found between
 * parties; such a cycle is marked `viaOwner`.
 */

import type { Trace, TraceLeg } from './api';

export interface FlowNode {
  id: string;
  institution: string;
  /** The hop at which the trace first reached the account (0: a start). */
  hop: number;
  start: boolean;
  /** The owner's identity commitment, or null. */
  owner: string | null;
  /** Another account of the same owner is in the graph too (drawn with a purple ring, unless a start). */
  sharedOwner: boolean;
}

export interface FlowEdge {
  /** `<tx hash>:<leg>`. */
  id: string;
  leg: TraceLeg;
  from: string;
  to: string;
  /** On a cycle. */
  cycle: boolean;
  /** Closes a cycle: goes back to an account met no later than its source. */
  closing: boolean;
}

export interface Cycle {
  /**
   * The accounts in order, from the first leg's sender to the last leg's
   * recipient (A, B, C, A; or A, B, C, A' when A' is another account of
   * A's owner).
   */
  accounts: string[];
  /** The legs in order. */
  edges: FlowEdge[];
  /** The money came back to the same owner, not (only) the same account. */
  viaOwner: boolean;
}

export interface FlowGraph {
  nodes: FlowNode[];
  edges: FlowEdge[];
  cycles: Cycle[];
  /** More cycles than listed (see CYCLES_LISTED_MAX). */
  moreCycles: boolean;
  /** Institutions in lane order: the start's first, then by name. */
  institutions: string[];
}

/** At most this many cycles are listed (each costs a search of the graph). */
export const CYCLES_LISTED_MAX = 50;

export function buildFlowGraph(trace: Trace): FlowGraph {
  const nodes = new Map<string, FlowNode>();
  for (const n of trace.nodes) {
    nodes.set(n.account, { id: n.account, institution: n.institution, hop: n.hop, start: n.hop === 0, owner: n.owner ?? null, sharedOwner: false });
  }
  if (trace.start.account) {
    const s = nodes.get(trace.start.account);
    if (s) s.start = true;
    else nodes.set(trace.start.account, { id: trace.start.account, institution: '', hop: 0, start: true, owner: null, sharedOwner: false });
  }
  // Legs in time order (then by block position), so every choice below is stable.
  const legs = [...trace.edges].sort(
    (a, b) => a.timestamp_ms - b.timestamp_ms || a.height - b.height || a.index - b.index || a.leg - b.leg,
  );
  for (const l of legs) {
    // An account a leg names but the node list does not: at that leg's hop.
    for (const [account, institution, hop] of [
      [l.from, l.from_institution, Math.max(0, l.hop - 1)],
      [l.to, l.to_institution, l.hop],
    ] as const) {
      const n = nodes.get(account);
      if (!n) nodes.set(account, { id: account, institution, hop, start: false, owner: null, sharedOwner: false });
      else if (!n.institution) n.institution = institution;
    }
  }
  const edges: FlowEdge[] = legs.map((leg) => ({
    id: `${leg.tx_hash}:${leg.leg}`,
    leg,
    from: leg.from,
    to: leg.to,
    cycle: false,
    closing: false,
  }));

  // Parties: an owner's accounts are one; an account without an owner is its own.
  const accountsOf = new Map<string, number>();
  for (const n of nodes.values()) if (n.owner) accountsOf.set(n.owner, (accountsOf.get(n.owner) ?? 0) + 1);
  for (const n of nodes.values()) n.sharedOwner = n.owner !== null && (accountsOf.get(n.owner) ?? 0) > 1;
  const party = (a: string) => {
    const n = nodes.get(a);
    return n?.sharedOwner ? `owner:${n.owner}` : a;
  };
  // A party's hop: the earliest at which the trace met any of its accounts.
  const partyHop = new Map<string, number>();
  for (const n of nodes.values()) {
    const p = party(n.id);
    partyHop.set(p, Math.min(partyHop.get(p) ?? n.hop, n.hop));
  }
  const hop = (p: string) => partyHop.get(p) ?? 0;
  const parties = [...new Set([...nodes.keys()].map(party))];
  const component = stronglyConnected(parties, edges.map((e) => [party(e.from), party(e.to)]));
  for (const e of edges) {
    const [from, to] = [party(e.from), party(e.to)];
    e.cycle = from === to || component.get(from) === component.get(to);
    e.closing = e.cycle && hop(to) <= hop(from);
  }

  // The shortest way round for each closing leg, within its component.
  const out = new Map<string, FlowEdge[]>();
  for (const e of edges) if (e.cycle) (out.get(party(e.from)) ?? out.set(party(e.from), []).get(party(e.from))!).push(e);
  const cycles: Cycle[] = [];
  const seen = new Set<string>();
  let moreCycles = false;
  const startParties = new Set([...nodes.values()].filter((n) => n.start).map((n) => party(n.id)));
  for (const closing of edges) {
    if (!closing.closing) continue;
    if (cycles.length >= CYCLES_LISTED_MAX) {
      moreCycles = true;
      break;
    }
    const path = shortestPath(party(closing.to), party(closing.from), out, party);
    if (!path) continue;
    const ring = [...path, closing];
    const c = rotate(ring, startParties, hop, party);
    const key = c.accounts.join(' ');
    if (seen.has(key)) continue;
    seen.add(key);
    cycles.push(c);
  }
  const byText = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  cycles.sort((a, b) => a.edges.length - b.edges.length || byText(a.accounts.join(' '), b.accounts.join(' ')));

  const institutions = [...new Set([...nodes.values()].map((n) => n.institution))].sort();
  const first = [...nodes.values()].find((n) => n.start)?.institution;
  if (first !== undefined) institutions.sort((a, b) => Number(b === first) - Number(a === first));
  return { nodes: [...nodes.values()], edges, cycles, moreCycles, institutions };
}

/** Tarjan's strongly connected components, iteratively: vertex → component number. */
function stronglyConnected(ids: string[], edges: [string, string][]): Map<string, number> {
  const succ = new Map<string, string[]>();
  for (const id of ids) succ.set(id, []);
  for (const [from, to] of edges) succ.get(from)?.push(to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, number>();
  let counter = 0;
  let components = 0;
  for (const root of ids) {
    if (index.has(root)) continue;
    // Each frame: a node and how many of its successors were visited.
    const frames: [string, number][] = [[root, 0]];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const [v, i] = frame;
      const next = succ.get(v)!;
      if (i < next.length) {
        frame[1]++;
        const w = next[i]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          frames.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        continue;
      }
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1]![0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        for (;;) {
          const w = stack.pop()!;
          onStack.delete(w);
          component.set(w, components);
          if (w === v) break;
        }
        components++;
      }
    }
  }
  return component;
}

/** The legs of a shortest way from party `from` to party `to` (breadth first), or null. */
function shortestPath(from: string, to: string, out: Map<string, FlowEdge[]>, party: (a: string) => string): FlowEdge[] | null {
  if (from === to) return [];
  const via = new Map<string, FlowEdge>();
  const queue = [from];
  const visited = new Set([from]);
  for (let i = 0; i < queue.length; i++) {
    for (const e of out.get(queue[i]!) ?? []) {
      const next = party(e.to);
      if (visited.has(next)) continue;
      visited.add(next);
      via.set(next, e);
      if (next === to) {
        const path: FlowEdge[] = [];
        for (let at = to; at !== from; ) {
          const step = via.get(at)!;
          path.unshift(step);
          at = party(step.from);
        }
        return path;
      }
      queue.push(next);
    }
  }
  return null;
}

/** A ring of legs, turned to begin at a start party (else the earliest-met, then smallest, account). */
function rotate(ring: FlowEdge[], starts: Set<string>, hop: (p: string) => number, party: (a: string) => string): Cycle {
  let best = 0;
  const rank = (a: string): [number, number, string] => [starts.has(party(a)) ? 0 : 1, hop(party(a)), a];
  for (let i = 1; i < ring.length; i++) {
    const [s1, h1, a1] = rank(ring[i]!.from);
    const [s0, h0, a0] = rank(ring[best]!.from);
    if (s1 < s0 || (s1 === s0 && (h1 < h0 || (h1 === h0 && a1 < a0)))) best = i;
  }
  const edges = [...ring.slice(best), ...ring.slice(0, best)];
  // Money that arrives at one of an owner's accounts and leaves from another.
  const viaOwner = edges.some((e, i) => e.to !== edges[(i + 1) % edges.length]!.from);
  return { accounts: [...edges.map((e) => e.from), edges[edges.length - 1]!.to], edges, viaOwner };
}

export interface Position {
  x: number;
  y: number;
}

export const COLUMN_WIDTH = 240;
export const ROW_HEIGHT = 84;
export const LANE_GAP = 70;

/**
 * Swimlanes: each institution a horizontal lane (in `graph.institutions`
 * order), each hop a column (money flows left to right: a backward trace
 * puts earlier hops on the left), accounts of one lane and hop stacked.
 */
export function layoutSwimlanes(graph: FlowGraph, direction: 'forward' | 'backward'): Map<string, Position> {
  const positions = new Map<string, Position>();
  const maxHop = Math.max(0, ...graph.nodes.map((n) => n.hop));
  let top = 0;
  for (const institution of graph.institutions) {
    const columns = new Map<number, string[]>();
    for (const n of graph.nodes) {
      if (n.institution !== institution) continue;
      (columns.get(n.hop) ?? columns.set(n.hop, []).get(n.hop)!).push(n.id);
    }
    let rows = 1;
    for (const [h, ids] of columns) {
      ids.sort();
      rows = Math.max(rows, ids.length);
      const column = direction === 'backward' ? maxHop - h : h;
      ids.forEach((id, i) => positions.set(id, { x: column * COLUMN_WIDTH, y: top + i * ROW_HEIGHT }));
    }
    top += rows * ROW_HEIGHT + LANE_GAP;
  }
  return positions;
}
