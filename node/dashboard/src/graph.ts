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
 */

import type { Trace, TraceLeg } from './api';

export interface FlowNode {
  id: string;
  institution: string;
  /** The hop at which the trace first reached the account (0: a start). */
  hop: number;
  start: boolean;
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
  /** The accounts in order, the first repeated at the end (A, B, C, A). */
  accounts: string[];
  /** The legs in order: accounts[i] → accounts[i + 1]. */
  edges: FlowEdge[];
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
    nodes.set(n.account, { id: n.account, institution: n.institution, hop: n.hop, start: n.hop === 0 });
  }
  if (trace.start.account) {
    const s = nodes.get(trace.start.account);
    if (s) s.start = true;
    else nodes.set(trace.start.account, { id: trace.start.account, institution: '', hop: 0, start: true });
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
      if (!n) nodes.set(account, { id: account, institution, hop, start: false });
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

  const component = stronglyConnected([...nodes.keys()], edges);
  const hop = (a: string) => nodes.get(a)?.hop ?? 0;
  for (const e of edges) {
    e.cycle = e.from === e.to || component.get(e.from) === component.get(e.to);
    e.closing = e.cycle && hop(e.to) <= hop(e.from);
  }

  // The shortest way round for each closing leg, within its component.
  const out = new Map<string, FlowEdge[]>();
  for (const e of edges) if (e.cycle) (out.get(e.from) ?? out.set(e.from, []).get(e.from)!).push(e);
  const cycles: Cycle[] = [];
  const seen = new Set<string>();
  let moreCycles = false;
  const startIds = new Set([...nodes.values()].filter((n) => n.start).map((n) => n.id));
  for (const closing of edges) {
    if (!closing.closing) continue;
    if (cycles.length >= CYCLES_LISTED_MAX) {
      moreCycles = true;
      break;
    }
    const path = shortestPath(closing.to, closing.from, out);
    if (!path) continue;
    const ring = [...path, closing];
    const c = rotate(ring, startIds, hop);
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

/** Tarjan's strongly connected components, iteratively: account → component number. */
function stronglyConnected(ids: string[], edges: FlowEdge[]): Map<string, number> {
  const succ = new Map<string, string[]>();
  for (const id of ids) succ.set(id, []);
  for (const e of edges) succ.get(e.from)?.push(e.to);
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

/** The legs of a shortest way from `from` to `to` (breadth first), or null. */
function shortestPath(from: string, to: string, out: Map<string, FlowEdge[]>): FlowEdge[] | null {
  if (from === to) return [];
  const via = new Map<string, FlowEdge>();
  const queue = [from];
  const visited = new Set([from]);
  for (let i = 0; i < queue.length; i++) {
    for (const e of out.get(queue[i]!) ?? []) {
      if (visited.has(e.to)) continue;
      visited.add(e.to);
      via.set(e.to, e);
      if (e.to === to) {
        const path: FlowEdge[] = [];
        for (let at = to; at !== from; ) {
          const step = via.get(at)!;
          path.unshift(step);
          at = step.from;
        }
        return path;
      }
      queue.push(e.to);
    }
  }
  return null;
}

/** A ring of legs, turned to begin at a start account (else the earliest-met, then smallest, account). */
function rotate(ring: FlowEdge[], starts: Set<string>, hop: (a: string) => number): Cycle {
  let best = 0;
  const rank = (a: string): [number, number, string] => [starts.has(a) ? 0 : 1, hop(a), a];
  for (let i = 1; i < ring.length; i++) {
    const [s1, h1, a1] = rank(ring[i]!.from);
    const [s0, h0, a0] = rank(ring[best]!.from);
    if (s1 < s0 || (s1 === s0 && (h1 < h0 || (h1 === h0 && a1 < a0)))) best = i;
  }
  const edges = [...ring.slice(best), ...ring.slice(0, best)];
  return { accounts: [...edges.map((e) => e.from), edges[0]!.from], edges };
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
