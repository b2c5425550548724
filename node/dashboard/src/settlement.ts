/**
 * The settlement cycles of a flows answer (`hutong_auditFlows`
 * `settlement`): the cycles starting in the period, newest first, each
 * institution's position per asset from the ledger's certified clearing
 * record (a closed cycle) or the open cycle's so far. `net` is received −
 * paid: negative, the institution owes; positive, it is owed. Older nodes
 * answer no `settlement`.
 */

import type { CycleSettlement, Flows, SettlementPosition } from './api';
import { formatAmount } from './sdk';

/** The answer's settlement cycles, newest first; null from a node that sends none (older). */
export function settlementOf(flows: Flows | null | undefined): CycleSettlement[] | null {
  const list = flows?.settlement;
  if (!Array.isArray(list)) return null;
  return [...list].sort((a, b) => b.cycle - a.cycle);
}

export type Position = 'owes' | 'is owed' | 'even';

/** One institution's position in one asset, in the asset's decimal units. */
export interface PositionRow {
  institution: string;
  asset: string;
  paid: string;
  received: string;
  /** Signed, "+" when positive (as the flows view's net column). */
  net: string;
  position: Position;
}

/** Minor units (signed) in decimal units; the text as sent if it is not an integer. */
function decimal(minor: string, decimals: number): { text: string; sign: number } {
  let v: bigint;
  try {
    v = BigInt(minor.trim());
  } catch {
    return { text: minor, sign: minor.trim().startsWith('-') ? -1 : 0 };
  }
  return { text: formatAmount(v, decimals), sign: v < 0n ? -1 : v > 0n ? 1 : 0 };
}

function positionRow(p: SettlementPosition, decimals: number): PositionRow {
  const net = decimal(p.net, decimals);
  return {
    institution: p.institution,
    asset: p.asset,
    paid: decimal(p.paid, decimals).text,
    received: decimal(p.received, decimals).text,
    net: net.sign > 0 ? `+${net.text}` : net.text,
    position: net.sign < 0 ? 'owes' : net.sign > 0 ? 'is owed' : 'even',
  };
}

/**
 * A cycle's positions as rows: by asset, then institution (those of
 * `order` first, in its order: the members in genesis order; then any
 * other by name).
 */
export function cyclePositions(cycle: CycleSettlement, decimalsOf: (asset: string) => number | undefined, order: string[] = []): PositionRow[] {
  const rank = (name: string) => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  return [...(cycle.positions ?? [])]
    .sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : rank(a.institution) - rank(b.institution) || (a.institution < b.institution ? -1 : a.institution > b.institution ? 1 : 0)))
    .map((p) => positionRow(p, decimalsOf(p.asset) ?? 0));
}
