/**
 * What the node's JSON-RPC methods answer, as TypeScript types: camelCase
 * fields, amounts in minor units as bigint. Unknown fields are ignored;
 * every view keeps the node's JSON in `raw` for fields this SDK does not
 * know yet.
 */

import { toAmount } from './amount.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : 0);
const optStr = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const amt = (v: unknown): bigint => {
  try {
    return v === undefined || v === null ? 0n : toAmount(v as string);
  } catch {
    return 0n;
  }
};
const optAmt = (v: unknown): bigint | null => (v === undefined || v === null ? null : amt(v));

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** snake_case keys → camelCase, recursively (for views without a dedicated mapper). */
export function camelize(v: unknown): any {
  if (Array.isArray(v)) return v.map(camelize);
  if (v && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[camel(k)] = camelize(x);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------- receipts

/**
 * One effect of a successful transaction; `amount`, `totalSupply`,
 * `captured`, `released`, `paid`, `received` and `spentInPeriod` in minor
 * units as bigint, other fields camelCased as the node sends them. Holds
 * and amount freezes (newer nodes): `hold_placed` (`payer`, `holdId`,
 * `payee`, `asset`, `amount`, `expiresAtMs`), `hold_captured` (`payer`,
 * `holdId`, `captured`, `released`), `hold_voided` (`payer`, `holdId`,
 * `released`), `amount_frozen` (`account`, `asset`, `amount`, `freezeId`,
 * `reason`, `by`, `expiresAtMs`?), `amount_released` (`account`, `asset`,
 * `amount`, `freezeId`), `account_state_set` (`account`, `state`, `by`,
 * `expiresAtMs`?). Linked transactions and payments versus payment:
 * `leg` (`leg`: the effects after it, up to the next `leg`, are that
 * leg's), `exchanged` (`payer`, `provider`, `quoteId`, `payee`, `sell`,
 * `paid`, `buy`, `received`). Mandates: `mandate_granted` (`account`,
 * `mandateId`, `grantee`, `endMs`), `mandate_revoked` (`account`,
 * `mandateId`, `grantee`), `mandate_used` (`payer`, `mandateId`,
 * `grantee`, `spentInPeriod`). The identity layer: `identity_listed`
 * (`listingKey`, `by`, `reason`), `identity_delisted` (`listingKey`,
 * `by`), `memo_key_set` (`institution`, `key`: hex).
 */
export interface Effect {
  /**
   * `debit`, `credit`, `supply_changed`, `account_opened`, `tier_set`, `frozen`, `unfrozen`, `proposal_*`, `voted`,
   * `hold_placed`, `hold_captured`, `hold_voided`, `amount_frozen`, `amount_released`, `account_state_set`,
   * `leg`, `exchanged`, `mandate_granted`, `mandate_revoked`, `mandate_used`,
   * `identity_listed`, `identity_delisted`, `memo_key_set`, …
   */
  type: string;
  account?: string;
  asset?: string;
  amount?: bigint;
  totalSupply?: bigint;
  /** `hold_captured`: what moved to the payee. */
  captured?: bigint;
  /** `hold_captured`, `hold_voided`: what went back to the payer's available balance. */
  released?: bigint;
  /** `exchanged`: what the payer paid (of `sell`) and the payee received (of `buy`). */
  paid?: bigint;
  received?: bigint;
  /** `mandate_used`: what the mandate's period has spent, this payment included. */
  spentInPeriod?: bigint;
  [field: string]: unknown;
}

/**
 * A receipt's failure as data (newer nodes): `code` plus the values
 * involved by name, amounts as decimal strings in major units with their
 * `asset` (and the minor units beside them as `…_minor`), addresses
 * `ht1…`, keys and hashes hex.
 */
export interface Failure {
  code: string;
  [field: string]: unknown;
}

export interface Receipt {
  txHash: string;
  success: boolean;
  effects: Effect[] | null;
  /** The failure's stable code (see FAILURE_CODES), or null on success. */
  code: string | null;
  /** The failure in full, as text. */
  reason: string | null;
  /** The failure as an object, on nodes that send it. */
  failure: Failure | null;
  /** The leg (from 0) that failed a linked transaction or a payment versus payment (every leg was undone); else null. */
  failedLeg: number | null;
  raw: Json;
}

export function toEffect(j: Json): Effect {
  const e: Effect = { ...camelize(j), type: str(j['type']) };
  if ('amount' in j) e.amount = amt(j['amount']);
  if ('total_supply' in j) e.totalSupply = amt(j['total_supply']);
  if ('captured' in j) e.captured = amt(j['captured']);
  if ('released' in j) e.released = amt(j['released']);
  if ('paid' in j) e.paid = amt(j['paid']);
  if ('received' in j) e.received = amt(j['received']);
  if ('spent_in_period' in j) e.spentInPeriod = amt(j['spent_in_period']);
  return e;
}

export function toReceipt(j: Json): Receipt {
  const failure = j['failure'] && typeof j['failure'] === 'object' ? (j['failure'] as Failure) : null;
  return {
    txHash: str(j['tx_hash']),
    success: j['success'] === true,
    effects: Array.isArray(j['effects']) ? j['effects'].map(toEffect) : null,
    code: optStr(j['code']) ?? (failure ? str(failure.code) : null),
    reason: optStr(j['reason']),
    failure,
    failedLeg: typeof j['failed_leg'] === 'number' ? j['failed_leg'] : null,
    raw: j,
  };
}

// ---------------------------------------------------------------- statuses

export type TxStatus =
  | { status: 'unknown'; hash: string; raw: Json }
  | { status: 'pending'; hash: string; raw: Json }
  | {
      status: 'rejected';
      hash: string;
      code: string;
      retryable: boolean;
      message: string;
      /** For `sequence_used`: the committed transaction that used the sequence. */
      usedBy: string | null;
      raw: Json;
    }
  | {
      status: 'committed';
      hash: string;
      height: number;
      index: number;
      blockId: string | null;
      receipt: Receipt | null;
      raw: Json;
    }
  /** Admitted, then let go before a block took it (`code`: `expired`, …); final. */
  | { status: 'dropped'; hash: string; code: string; retryable: boolean; message: string; raw: Json };

export type TxStatusName = TxStatus['status'];

export function toTxStatus(j: Json): TxStatus {
  const hash = str(j['hash']);
  switch (j['status']) {
    case 'pending':
      return { status: 'pending', hash, raw: j };
    case 'rejected':
      return {
        status: 'rejected',
        hash,
        code: str(j['code']),
        retryable: j['retryable'] === true,
        message: str(j['message']),
        usedBy: optStr(j['used_by']),
        raw: j,
      };
    case 'committed':
      return {
        status: 'committed',
        hash,
        height: num(j['height']),
        index: num(j['index']),
        blockId: optStr(j['block_id']),
        receipt: j['receipt'] && typeof j['receipt'] === 'object' ? toReceipt(j['receipt']) : null,
        raw: j,
      };
    case 'dropped':
      return { status: 'dropped', hash, code: str(j['code']), retryable: j['retryable'] === true, message: str(j['message']), raw: j };
    default:
      // `unknown`, and any status a newer node adds: not final.
      return { status: 'unknown', hash, raw: j };
  }
}

/** Committed, rejected or dropped: it will not change any more. */
export function isFinal(s: TxStatus): boolean {
  return s.status === 'committed' || s.status === 'rejected' || s.status === 'dropped';
}

/** Committed with a successful receipt. */
export function succeeded(s: TxStatus): boolean {
  return s.status === 'committed' && s.receipt?.success === true;
}

/** One item's verdict in `submitMany` (and the answer of `submit`). */
export type SubmitVerdict =
  | { status: 'pending'; hash: string; raw: Json }
  | { status: 'committed'; hash: string; height: number; index: number; raw: Json }
  | { status: 'rejected'; hash: string | null; code: string; retryable: boolean; message: string; raw: Json };

export function toVerdict(j: Json, hash?: string): SubmitVerdict {
  switch (j['status']) {
    case 'committed':
      return { status: 'committed', hash: str(j['hash']), height: num(j['height']), index: num(j['index']), raw: j };
    case 'rejected':
      return {
        status: 'rejected',
        hash: optStr(j['hash']) ?? hash ?? null,
        code: str(j['code']),
        retryable: j['retryable'] === true,
        message: str(j['message']),
        raw: j,
      };
    default:
      return { status: 'pending', hash: str(j['hash']) || (hash ?? ''), raw: j };
  }
}

// ---------------------------------------------------------------- accounts

/** What a customer may still send of one asset today, in minor units. */
export interface Spending {
  spentToday: bigint;
  dailyMax: bigint;
  remainingToday: bigint;
  singleMax: bigint;
  /** Above this a transfer needs the institution's co-signature; null if the tier has none. */
  stepUpThreshold: bigint | null;
}

/** A receive-only or send-only state on an account. */
export interface Restriction {
  /** `receive-only` or `send-only`. */
  state: string;
  reason: string;
  /** Who set it (an institution's or a regulator's address). */
  by: string;
  /** Block time it lapses (ms since the epoch), or null: until lifted. */
  expiresAtMs: number | null;
}

/** An amount freeze on an account (a court order, a fraud hold on part of a balance). */
export interface AmountFreeze {
  id: bigint;
  asset: string;
  /** Minor units. */
  amount: bigint;
  reason: string;
  by: string;
  /** The order's reference, as text. */
  reference: string;
  expiresAtMs: number | null;
}

export interface Account {
  address: string;
  /** `customer`, `institution`, `regulator` or `retired`. */
  kind: string;
  tier: number | null;
  /** The address of the account's institution. */
  institution: string;
  /** The sequence the account's next transaction must carry to execute next. */
  sequence: bigint;
  /** `sequence` past this node's pending transactions for it: what a new transaction carries. */
  nextSequence: bigint;
  frozen: { reason: string; by: string } | null;
  /** `active`, `frozen`, `receive-only` or `send-only`. */
  status: string;
  /** Receive-only or send-only, by whom, until when (newer nodes); else null. */
  restriction: Restriction | null;
  /** Minor units by asset code. */
  balances: Record<string, bigint>;
  /** What holds and amount freezes reserve, minor units by asset code (only assets with something held; empty on older nodes). */
  held: Record<string, bigint>;
  /** What the account may send: the balance less what is held, minor units by asset code (newer nodes; else empty). */
  available: Record<string, bigint>;
  /** Amount freezes on the account (newer nodes; else empty). */
  amountFreezes: AmountFreeze[];
  /** The same balances as decimal strings in major units (`"100001.25"`), on nodes that send them; else empty. */
  balancesDecimal: Record<string, string>;
  /** A customer's limits today by asset code (empty for other accounts). */
  limits: Record<string, Spending>;
  /** The executed height this view is of. */
  height: number;
  raw: Json;
}

export function toAccount(j: Json): Account {
  const balances: Record<string, bigint> = {};
  for (const [k, v] of Object.entries((j['balances'] ?? {}) as Json)) balances[k] = amt(v);
  const limits: Record<string, Spending> = {};
  for (const [k, v] of Object.entries((j['limits'] ?? {}) as Json)) {
    limits[k] = {
      spentToday: amt(v['spent_today']),
      dailyMax: amt(v['daily_max']),
      remainingToday: amt(v['remaining_today']),
      singleMax: amt(v['single_max']),
      stepUpThreshold: optAmt(v['step_up_threshold']),
    };
  }
  const amounts = (m: unknown): Record<string, bigint> => {
    const out: Record<string, bigint> = {};
    for (const [k, v] of Object.entries((m ?? {}) as Json)) out[k] = amt(v);
    return out;
  };
  const optNum = (v: unknown): number | null => (v === undefined || v === null ? null : num(v));
  const r = j['restriction'];
  const sequence = BigInt(num(j['sequence']));
  const next = j['next_sequence'] === undefined ? sequence : BigInt(num(j['next_sequence']));
  return {
    address: str(j['address']),
    kind: str(j['kind']),
    tier: typeof j['tier'] === 'number' ? j['tier'] : null,
    institution: str(j['institution']),
    sequence,
    nextSequence: next,
    frozen: j['frozen'] ? { reason: str(j['frozen']['reason']), by: str(j['frozen']['by']) } : null,
    status: str(j['status']),
    restriction: r && typeof r === 'object' ? { state: str(r['state']), reason: str(r['reason']), by: str(r['by']), expiresAtMs: optNum(r['expires_at_ms']) } : null,
    balances,
    held: amounts(j['held']),
    available: amounts(j['available']),
    amountFreezes: Array.isArray(j['amount_freezes'])
      ? j['amount_freezes'].map((f: Json) => ({
          id: BigInt(num(f['id'])),
          asset: str(f['asset']),
          amount: amt(f['amount']),
          reason: str(f['reason']),
          by: str(f['by']),
          reference: str(f['reference']),
          expiresAtMs: optNum(f['expires_at_ms']),
        }))
      : [],
    balancesDecimal: { ...((j['balances_decimal'] ?? {}) as Record<string, string>) },
    limits,
    height: num(j['height']),
    raw: j,
  };
}

// ---------------------------------------------------------------- holds

/** A hold (`getHold`): `amount` and `captured` in minor units. */
export interface Hold {
  payer: string;
  /** 32 hex digits, as the payer's transfer ids. */
  holdId: string;
  payee: string;
  asset: string;
  amount: bigint;
  /** Block time the hold lapses (ms since the epoch). */
  expiresAtMs: number;
  state: 'open' | 'captured' | 'voided' | 'expired' | (string & {});
  /** What a capture moved; null unless captured. */
  captured: bigint | null;
  /** The executed height this view is of. */
  height: number;
  raw: Json;
}

export function toHold(j: Json): Hold {
  return {
    payer: str(j['payer']),
    holdId: str(j['hold_id']),
    payee: str(j['payee']),
    asset: str(j['asset']),
    amount: amt(j['amount']),
    expiresAtMs: num(j['expires_at_ms']),
    state: str(j['state']),
    captured: optAmt(j['captured']),
    height: num(j['height']),
    raw: j,
  };
}

// ---------------------------------------------------------------- mandates

/**
 * A mandate an account granted (`getMandates`): `perPayment`, `perPeriod`
 * and `spentInPeriod` in minor units; `startMs`, `endMs` in block time;
 * `active`: in force at the node's last block.
 */
export interface Mandate {
  mandateId: bigint;
  grantee: string;
  scope: { pay: boolean; read: boolean };
  asset: string;
  /** Empty: any payee. */
  payees: string[];
  perPayment: bigint;
  perPeriod: bigint;
  periodSeconds: number;
  startMs: number;
  endMs: number;
  spentInPeriod: bigint;
  active: boolean;
  raw: Json;
}

export function toMandate(j: Json): Mandate {
  const scope = (j['scope'] ?? {}) as Json;
  return {
    mandateId: BigInt(num(j['mandate_id'])),
    grantee: str(j['grantee']),
    scope: { pay: scope['pay'] === true, read: scope['read'] === true },
    asset: str(j['asset']),
    payees: Array.isArray(j['payees']) ? j['payees'].map(str) : [],
    perPayment: amt(j['per_payment']),
    perPeriod: amt(j['per_period']),
    periodSeconds: num(j['period_seconds']),
    startMs: num(j['start_ms']),
    endMs: num(j['end_ms']),
    spentInPeriod: amt(j['spent_in_period']),
    active: j['active'] === true,
    raw: j,
  };
}

// ---------------------------------------------------------------- node

export interface Asset {
  code: string;
  decimals: number;
  issuer: string;
}

export interface Status {
  chainId: string;
  consortium: string;
  role: string;
  /** The last executed block. */
  height: number;
  blockId: string;
  stateRoot: string;
  receiptsRoot: string;
  /** Block time of the last executed block (ms since the epoch). */
  timestampMs: number;
  validators: number;
  assets: Asset[];
  halted: string | null;
  /** Everything else the node sends (consensus, peers, mempool, history), camelCased. */
  [field: string]: unknown;
  raw: Json;
}

export function toStatus(j: Json): Status {
  return {
    ...camelize(j),
    chainId: str(j['chain_id']),
    consortium: str(j['consortium']),
    role: str(j['role']),
    height: num(j['height']),
    blockId: str(j['block_id']),
    stateRoot: str(j['state_root']),
    receiptsRoot: str(j['receipts_root']),
    timestampMs: num(j['timestamp_ms']),
    validators: num(j['validators']),
    assets: Array.isArray(j['assets']) ? j['assets'].map((a: Json) => ({ code: str(a['code']), decimals: num(a['decimals']), issuer: str(a['issuer']) })) : [],
    halted: optStr(j['halted']),
    raw: j,
  };
}

export interface TierLimit {
  asset: string;
  singleMax: bigint;
  dailyMax: bigint;
  stepUpThreshold: bigint | null;
}

export interface TierView {
  tier: number;
  name: string;
  limits: TierLimit[];
}

export interface Sizes {
  txBytesMax: number;
  memoBytesMax: number;
  batchRecipientsMax: number;
  submitBatchMax: number;
  sequenceWindow: number;
  perSenderMax: number;
}

/**
 * The regulator's identity keys on a chain with an identity service
 * (SPEC.md section 9), 64 hex digits each: `oprfKey` checks identity
 * evaluations (a ristretto255 element), `hpkeKey` seals identity
 * envelopes and memos to the regulator (X25519).
 */
export interface IdentityKeys {
  oprfKey: string;
  hpkeKey: string;
}

export interface Parameters {
  height: number;
  /** Asset code → decimals. */
  decimals: Record<string, number>;
  tiers: TierView[];
  utcOffsetSeconds: number;
  sizes: Sizes;
  /**
   * The regulator's identity keys when the chain has an identity service;
   * then every `open_account` carries an identity envelope and every
   * non-empty memo is sealed. Null otherwise.
   */
  identity: IdentityKeys | null;
  /** Everything else (members, regulators, voting, timing, …), camelCased. */
  [field: string]: unknown;
  raw: Json;
}

export function toParameters(j: Json): Parameters {
  const sizes = (j['sizes'] ?? {}) as Json;
  const identity = j['identity'] && typeof j['identity'] === 'object' ? (j['identity'] as Json) : null;
  return {
    ...camelize(j),
    height: num(j['height']),
    decimals: { ...((j['decimals'] ?? {}) as Record<string, number>) },
    tiers: Array.isArray(j['tiers'])
      ? j['tiers'].map((t: Json) => ({
          tier: num(t['tier']),
          name: str(t['name']),
          limits: Array.isArray(t['limits'])
            ? t['limits'].map((l: Json) => ({
                asset: str(l['asset']),
                singleMax: amt(l['single_max']),
                dailyMax: amt(l['daily_max']),
                stepUpThreshold: optAmt(l['step_up_threshold']),
              }))
            : [],
        }))
      : [],
    utcOffsetSeconds: num(j['utc_offset_seconds']),
    sizes: {
      txBytesMax: num(sizes['tx_bytes_max'] ?? 16384),
      memoBytesMax: num(sizes['memo_bytes_max'] ?? 512),
      batchRecipientsMax: num(sizes['batch_recipients_max'] ?? 256),
      submitBatchMax: num(sizes['submit_batch_max'] ?? 1000),
      sequenceWindow: num(sizes['sequence_window'] ?? 256),
      perSenderMax: num(sizes['per_sender_max'] ?? 256),
    },
    identity: identity && typeof identity['oprf_key'] === 'string' && typeof identity['hpke_key'] === 'string'
      ? { oprfKey: identity['oprf_key'], hpkeKey: identity['hpke_key'] }
      : null,
    raw: j,
  };
}

/** A block (`getBlock`), camelCased as the node sends it. */
export interface Block {
  height: number;
  id: string;
  committed: boolean;
  timestampMs: number;
  txCount: number;
  txs: string[];
  [field: string]: unknown;
  raw: Json;
}

export function toBlock(j: Json): Block {
  return { ...camelize(j), raw: j } as Block;
}

// ---------------------------------------------------------------- identity layer

/**
 * A listing key's entry on the shared blacklist (`checkListing`): whether
 * it is listed, and if so by whom (an address), why (a freeze reason),
 * under which reference (hex) and since when (block time).
 */
export interface Listing {
  listingKey: string;
  listed: boolean;
  listedBy: string | null;
  reason: string | null;
  reference: string | null;
  listedAtMs: number | null;
  /** The executed height this view is of. */
  height: number;
  raw: Json;
}

export function toListing(j: Json): Listing {
  return {
    listingKey: str(j['listing_key']),
    listed: j['listed'] === true,
    listedBy: optStr(j['listed_by']),
    reason: optStr(j['reason']),
    reference: optStr(j['reference']),
    listedAtMs: typeof j['listed_at_ms'] === 'number' ? j['listed_at_ms'] : null,
    height: num(j['height']),
    raw: j,
  };
}

/** One account's institution and that institution's memo key (hex; null when it published none). */
export interface AccountMemoKey {
  account: string;
  institution: string;
  memoKey: string | null;
}

/** The readers' keys of a memo between accounts (`getMemoKeys`): the regulator's (hex, or null) and each account's institution's. */
export interface MemoKeys {
  regulator: string | null;
  accounts: AccountMemoKey[];
  raw: Json;
}

export function toMemoKeys(j: Json): MemoKeys {
  return {
    regulator: optStr(j['regulator']),
    accounts: Array.isArray(j['accounts'])
      ? j['accounts'].map((a: Json) => ({ account: str(a['account']), institution: str(a['institution']), memoKey: optStr(a['memo_key']) }))
      : [],
    raw: j,
  };
}

/** A transaction's memo as its institution's node opened it (`readMemo`): the text (UTF-8, lossy) and its bytes in hex. */
export interface MemoText {
  txHash: string;
  text: string;
  textHex: string;
  raw: Json;
}

export function toMemoText(j: Json): MemoText {
  return { txHash: str(j['tx_hash']), text: str(j['text']), textHex: str(j['text_hex']), raw: j };
}
