/**
 * What the node's methods answer, as the dashboard reads them: the JSON
 * of sdk/openrpc.json (whose Rust source is node/audit/src/api.rs and
 * alerts.rs). Fields are snake_case, as sent; amounts are strings of
 * minor units with a decimal rendering beside them.
 */

export const ALERT_KINDS = [
  'velocity',
  'structuring',
  'structuring_in',
  'fan_out',
  'fan_in',
  'pass_through',
  'cycle',
  'frozen_counterparty',
  'frozen_attempt',
  'unfreeze_attempt',
  'listed_owner',
  'identity_unverified',
  'memo_unreadable',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** A risk alert at its latest revision (openrpc `Alert`). */
export interface Alert {
  id: number;
  /** 0 when raised; each update of the alert (same id) increments it. */
  revision: number;
  kind: AlertKind | string;
  account: string;
  /** The institution's address. */
  institution: string;
  /** Its name in the genesis (filled in by hutong_auditAlerts). */
  institution_name?: string;
  height: number;
  timestamp_ms: number;
  window_secs: number;
  /** 0–100. */
  score: number;
  asset: string | null;
  amount: string | null;
  amount_decimal?: string;
  count: number;
  detail: string;
  tx_hashes: string[];
  /** Other accounts; for `cycle` the path in order, root first and last. */
  related: string[];
}

export interface AlertsPage {
  alerts: Alert[];
  last_id: number | null;
}

/** One leg of one committed transaction. */
export interface LegView {
  height: number;
  index: number;
  leg: number;
  timestamp_ms: number;
  tx_hash: string;
  kind: string;
  from: string;
  from_institution: string;
  to: string;
  to_institution: string;
  asset: string | null;
  amount: string;
  amount_display: string | null;
  success: boolean;
  failure: string | null;
}

export interface HistoryRow extends LegView {
  direction: 'in' | 'out' | 'self';
}

export interface HistoryPage {
  account: string;
  /** With `whole_owner`: the owner's identity commitment and the accounts merged. */
  owner?: string;
  accounts?: string[];
  rows: HistoryRow[];
  next_cursor: string | null;
}

export interface TraceNode {
  account: string;
  institution: string;
  hop: number;
  /** The account's owner (identity commitment); null when none (absent from older nodes). */
  owner?: string | null;
}

export interface TraceLeg extends LegView {
  hop: number;
}

export interface Trace {
  start: { account?: string; tx?: string };
  direction: 'forward' | 'backward';
  hops: number;
  truncated: boolean;
  nodes: TraceNode[];
  edges: TraceLeg[];
}

export interface GrossFlow {
  from: string;
  to: string;
  asset: string;
  transfers: number;
  amount: string;
  amount_display: string;
}

export interface NetFlow {
  payer: string;
  payee: string;
  asset: string;
  net_amount: string;
  net_display: string;
}

/** An institution's position in one asset over a settlement cycle (minor units; `net` is received − paid, signed). */
export interface SettlementPosition {
  /** Its name in the genesis. */
  institution: string;
  asset: string;
  paid: string;
  received: string;
  /** "-10000": the institution owes. */
  net: string;
  net_display: string;
}

/** One settlement cycle's positions, from the ledger's clearing record. */
export interface CycleSettlement {
  cycle: number;
  start_ms: number;
  end_ms: number;
  /** Closed into a certified clearing record; false: the open cycle, so far. */
  closed: boolean;
  positions: SettlementPosition[];
}

export interface Flows {
  from_ms: number;
  to_ms: number | null;
  truncated: boolean;
  gross: GrossFlow[];
  net: NetFlow[];
  /** The settlement cycles starting in the period, newest first (at most 31); absent from older nodes. */
  settlement?: CycleSettlement[];
}

/** One balance now (`hutong_auditOwner`). */
export interface BalanceView {
  asset: string;
  amount: string;
  amount_display: string;
}

/** One account of an owner, as it stands now. */
export interface OwnedAccount {
  address: string;
  institution: string;
  institution_address: string;
  tier: number;
  opened_height: number;
  frozen: string | null;
  balances: BalanceView[];
}

/** `hutong_auditOwner`: every account of one owner, at every institution. */
export interface OwnerAccounts {
  account: string | null;
  owner: string | null;
  accounts: OwnedAccount[];
  next_cursor: string | null;
}

/** `hutong_status` (the fields the dashboard reads). */
export interface StatusView {
  chain_id: string;
  consortium: string;
  role: string;
  height: number;
  timestamp_ms: number;
  assets: { code: string; decimals: number; issuer: string }[];
  halted: string | null;
}

export interface MemberView {
  name: string;
  account: string;
  institution_key: string;
  role: string;
}

export interface RegulatorView {
  name: string;
  account: string;
  key: string;
}

/** `hutong_getParameters` (the fields the dashboard reads). */
export interface ParametersView {
  members: MemberView[];
  regulators: RegulatorView[];
  assets: string[];
  decimals: Record<string, number>;
  utc_offset_seconds: number;
  tiers: { tier: number; name: string }[];
}
