/**
 * Transactions (SPEC.md sections 2 and 3): their fields, borsh encoding,
 * id, signature and co-signature.
 */

import { Reader, Writer, U64_MAX, U128_MAX } from './borsh.js';
import { bytesOf, concatBytes, equalBytes, fromHex, toHex, utf8, type BytesLike } from './bytes.js';
import { tagged, TAG_COSIGN, TAG_MANDATE_READ, TAG_QUOTE, TAG_TX, ed25519Verify } from './crypto.js';
import { addressBytes, addressBytesOf, encodeAddress, type AddressLike } from './address.js';
import { checkAssetCode, decodeAssetCode, encodeAssetCode } from './amount.js';
import { ValidationError } from './errors.js';
import type { Keypair } from './keys.js';

/** Most bytes of a `SignedTransaction` encoding. */
export const TX_BYTES_MAX = 16_384;
/**
 * Longest memo, in bytes. On a chain with an identity service a memo is
 * sealed to its readers (`sealMemo`): with three readers that leaves 254
 * bytes of text.
 */
export const MEMO_BYTES_MAX = 512;
export const BATCH_RECIPIENTS_MAX = 256;
/** Longest `reference` of a `freeze_amount` or `set_account_state` (a court order's number), in bytes. */
export const REFERENCE_BYTES_MAX = 64;
/** Most payees a device key (`register_device`) may be limited to. */
export const DEVICE_PAYEES_MAX = 16;
/** Most legs of a `linked` transaction (at least one). */
export const LINKED_LEGS_MAX = 8;
/** Most payees a mandate (`grant_mandate`) may be limited to. */
export const MANDATE_PAYEES_MAX = 16;
/**
 * Bytes of an `open_account`'s identity envelope when it has one: the
 * HPKE encapsulated key (32), the sealed identity tag (64) and salt (32),
 * and the AEAD tag (16). It is empty otherwise.
 */
export const IDENTITY_ENVELOPE_BYTES = 144;

export type U64Like = bigint | number;
/** A transfer id: a u128 as a bigint, or 32 hex digits (big-endian, as shown everywhere). */
export type TransferIdLike = bigint | string;

/** The last block a transaction may execute in: by height, or by block time (ms since the epoch). */
export type Expiry = { height: U64Like } | { timeMs: U64Like };

export const FREEZE_REASONS = ['fraud', 'legal-order', 'regulatory', 'customer-request', 'other'] as const;
export type FreezeReason = (typeof FREEZE_REASONS)[number];

/** What `set_account_state` sets: both ways (lifts a restriction), receive only, send only. */
export const ACCOUNT_STATES = ['normal', 'receive-only', 'send-only'] as const;
export type AccountState = (typeof ACCOUNT_STATES)[number];

export interface Payout {
  to: AddressLike;
  /** Minor units. */
  amount: bigint;
}

/**
 * One leg of a `linked` transaction: the sender's transfer, hold, capture
 * or void, with the fields (and rules) of the kind of the same name. Its
 * own borsh enum: `0` transfer, `1` hold, `2` capture, `3` void.
 */
export type LinkedOp =
  | { type: 'transfer'; to: AddressLike; asset: string; amount: bigint; transferId: TransferIdLike }
  | { type: 'hold'; to: AddressLike; asset: string; amount: bigint; holdId: TransferIdLike; expiresAtMs: U64Like }
  | { type: 'capture'; payer: AddressLike; holdId: TransferIdLike; amount: bigint }
  | { type: 'void'; payer: AddressLike; holdId: TransferIdLike };

/** The kinds a `linked` leg may be, by leg tag. */
export const LINKED_OPS = ['transfer', 'hold', 'capture', 'void'] as const;

/**
 * An FX provider's offer to settle one `pvp`, signed off the ledger
 * ({@link signQuote}): the payer pays between `minSell` and `maxSell` of
 * `sell` (minor units) to `provider`, and the payee receives
 * `floor(pay × rateNum / rateDen)` minor units of `buy`, until the block
 * time `expiresAtMs`. `payer`: the one payer it is for, or null/absent
 * (any). `quoteId` (a u64 the provider picks): a quote settles once.
 */
export interface Quote {
  provider: AddressLike;
  quoteId: U64Like;
  sell: string;
  buy: string;
  rateNum: U64Like;
  rateDen: U64Like;
  minSell: bigint;
  maxSell: bigint;
  expiresAtMs: U64Like;
  payer?: AddressLike | null;
}

/** What a mandate lets its grantee do: pay from the account, read it through the RPC, or both. */
export interface MandateScope {
  pay: boolean;
  read: boolean;
}

export type TxKind =
  | { type: 'transfer'; to: AddressLike; asset: string; amount: bigint; transferId: TransferIdLike }
  | { type: 'batch_transfer'; asset: string; payouts: Payout[]; transferId: TransferIdLike }
  /**
   * `identityCommitment`: 32 bytes. On a chain with an identity service
   * (`parameters().identity`), the binding commitment of the customer's
   * identity tag, whose opening `identityEnvelope` (144 bytes) seals to
   * the regulator: build both with `HutongClient.openAccountKind`
   * (SPEC.md section 9). Otherwise `identityCommitment(idType, idNumber,
   * salt)` (section 7) and no envelope (absent or empty). The salt never
   * goes on chain.
   */
  | { type: 'open_account'; owner: BytesLike; tier: number; identityCommitment: BytesLike; identityEnvelope?: BytesLike }
  | { type: 'set_tier'; account: AddressLike; tier: number }
  | { type: 'freeze'; account: AddressLike; reason: FreezeReason }
  | { type: 'unfreeze'; account: AddressLike }
  | { type: 'mint'; to: AddressLike; asset: string; amount: bigint }
  | { type: 'burn'; asset: string; amount: bigint }
  /** `actions`: each governance `Action` already borsh-encoded (their encoding is not in SPEC.md yet). */
  | { type: 'propose'; actions: BytesLike[]; votingPeriodMs: U64Like }
  | { type: 'vote'; proposal: U64Like; approve: boolean }
  | { type: 'withdraw'; proposal: U64Like }
  /**
   * A regulator publishes the head of its audit-query log: `entries`, how many
   * entries it holds, and `head`, the last entry's 32-byte hash. Only a
   * regulator's account may send it (else the receipt fails `unauthorised`).
   */
  | { type: 'anchor_audit_log'; entries: U64Like; head: BytesLike }
  /**
   * The payer (the sender) reserves `amount` of `asset` for `to` until the
   * block time `expiresAtMs`: its available balance falls, its balance does
   * not. `holdId` is one of the payer's transfer ids (e.g. `newTransferId()`);
   * the payee names the hold by the payer's address and this id.
   */
  | { type: 'hold'; to: AddressLike; asset: string; amount: bigint; holdId: TransferIdLike; expiresAtMs: U64Like }
  /** The payee (or the payer) moves `amount` (at most the amount held) of `payer`'s hold to the payee; the rest is released. */
  | { type: 'capture'; payer: AddressLike; holdId: TransferIdLike; amount: bigint }
  /** The payee releases `payer`'s hold without moving anything. */
  | { type: 'void'; payer: AddressLike; holdId: TransferIdLike }
  /**
   * Freeze `amount` of `account`'s `asset` (the account's institution, or a
   * regulator). `freezeId` (a u64 the sender picks) names it to
   * `release_freeze`; `reference` names the order (a court case number):
   * bytes, or a string as UTF-8, at most 64 bytes; `expiresAtMs`: the block
   * time it lapses, or null/absent (until released).
   */
  | {
      type: 'freeze_amount';
      account: AddressLike;
      asset: string;
      amount: bigint;
      freezeId: U64Like;
      reason: FreezeReason;
      reference?: Uint8Array | string;
      expiresAtMs?: U64Like | null;
    }
  /** Lift an amount freeze; the same authority as `freeze_amount` (a regulator's only by a regulator). */
  | { type: 'release_freeze'; account: AddressLike; freezeId: U64Like }
  /**
   * Make `account` receive-only or send-only, or lift that (`normal`): the
   * account's institution, or a regulator (a regulator's restriction is
   * lifted only by a regulator). `reason`, `reference`, `expiresAtMs` as in
   * `freeze_amount`.
   */
  | {
      type: 'set_account_state';
      account: AddressLike;
      state: AccountState;
      reason: FreezeReason;
      reference?: Uint8Array | string;
      expiresAtMs?: U64Like | null;
    }
  /**
   * The account's owner lets a device key (an EV, a meter) sign `hold` and
   * `capture` for its account, within a scope: one `asset`, at most
   * `maxPerHold` per hold and `dailyMax` per day, to `payees` (at most 16;
   * none or absent: any payee). The device has its own sequence numbers.
   */
  | { type: 'register_device'; key: BytesLike; asset: string; maxPerHold: bigint; dailyMax: bigint; payees?: AddressLike[] }
  /** The account's owner revokes a device key. */
  | { type: 'revoke_device'; key: BytesLike }
  /**
   * The sender's transfers, holds, captures and voids (1 to 8 `legs`), in
   * order, all or none: if one fails nothing of any leg stays (the
   * receipt's `failedLeg` names it).
   */
  | { type: 'linked'; legs: LinkedOp[] }
  /**
   * Payment versus payment: the sender pays `pay` of the quote's `sell` to
   * its provider, and the provider pays `to` `floor(pay × rateNum /
   * rateDen)` of its `buy`, at least `minReceive`, both or neither.
   * `quoteSignature`: the provider's, 64 bytes ({@link signQuote}).
   */
  | {
      type: 'pvp';
      quote: Quote;
      quoteSignature: BytesLike;
      pay: bigint;
      minReceive: bigint;
      to: AddressLike;
      transferId: TransferIdLike;
    }
  /**
   * The account's owner lets `grantee` (another account: a bill-paying
   * app) pay from it (`mandate_pay`) or read it (`readAccount`), within
   * `scope`: one `asset`, to `payees` (at most 16; none or absent: any), at
   * most `perPayment` a payment and `perPeriod` a period of
   * `periodSeconds` (a u32) counted from `startMs`, from `startMs` to
   * `endMs` (block time). `mandateId`: a u64 the owner picks.
   */
  | {
      type: 'grant_mandate';
      mandateId: U64Like;
      grantee: AddressLike;
      scope: MandateScope;
      asset: string;
      payees?: AddressLike[];
      perPayment: bigint;
      perPeriod: bigint;
      periodSeconds: number;
      startMs: U64Like;
      endMs: U64Like;
    }
  /** The account's owner ends a mandate, from this transaction on. */
  | { type: 'revoke_mandate'; mandateId: U64Like }
  /**
   * The grantee of `payer`'s mandate `mandateId` (the sender, with its own
   * key and sequence numbers) pays `amount` of `asset` from `payer`'s
   * account to `to`; `transferId` is one of the payer's.
   */
  | { type: 'mandate_pay'; payer: AddressLike; mandateId: U64Like; to: AddressLike; asset: string; amount: bigint; transferId: TransferIdLike }
  /**
   * A member institution or a regulator puts an identity on the shared
   * blacklist by its listing key (`listingKey(tag)`, 32 bytes); `reason`
   * and `reference` (the order's number: bytes, or a string as UTF-8, at
   * most 64 bytes) as in `freeze_amount`.
   */
  | { type: 'list_identity'; listingKey: BytesLike; reason: FreezeReason; reference?: Uint8Array | string }
  /** The lister, or a regulator, takes a listing key off the blacklist (a regulator's listing only a regulator). */
  | { type: 'delist_identity'; listingKey: BytesLike }
  /** A member institution publishes the X25519 public key (32 bytes) its customers' memos are sealed to. */
  | { type: 'set_memo_key'; key: BytesLike };

export type TxKindName = TxKind['type'];

export const TX_KIND_INDEX: Record<TxKindName, number> = {
  transfer: 0,
  batch_transfer: 1,
  open_account: 2,
  set_tier: 3,
  freeze: 4,
  unfreeze: 5,
  mint: 6,
  burn: 7,
  propose: 8,
  vote: 9,
  withdraw: 10,
  anchor_audit_log: 11,
  hold: 12,
  capture: 13,
  void: 14,
  freeze_amount: 15,
  release_freeze: 16,
  set_account_state: 17,
  register_device: 18,
  revoke_device: 19,
  linked: 20,
  pvp: 21,
  grant_mandate: 22,
  revoke_mandate: 23,
  mandate_pay: 24,
  list_identity: 25,
  delist_identity: 26,
  set_memo_key: 27,
};
const KIND_NAMES = Object.keys(TX_KIND_INDEX) as TxKindName[];

/** The signed body of a transaction. */
export interface Transaction {
  /** 32 bytes; `hutong_status` → `chain_id`. */
  chainId: BytesLike;
  /** The signer's 32-byte public key. */
  sender: BytesLike;
  /** The sender account's next sequence number. */
  sequence: U64Like;
  expiry: Expiry;
  kind: TxKind;
  /** The institution key that co-signs (step-up), or none. */
  cosigner?: BytesLike | null;
  /**
   * At most {@link MEMO_BYTES_MAX} bytes; a string is encoded as UTF-8. On
   * a chain with an identity service a non-empty memo must be sealed
   * (`sealMemo`; `HutongClient.prepare` seals it).
   */
  memo?: Uint8Array | string;
}

function u64(v: U64Like, what: string): bigint {
  const x = typeof v === 'number' ? (Number.isSafeInteger(v) ? BigInt(v) : NaN) : v;
  if (typeof x !== 'bigint' || x < 0n || x > U64_MAX) throw new ValidationError(`${what} ${String(v)} is not a u64`);
  return x;
}

function amount(v: bigint, what: string): bigint {
  if (typeof v !== 'bigint') throw new ValidationError(`${what} must be a bigint of minor units (use parseAmount for decimals)`);
  if (v < 0n || v > U128_MAX) throw new ValidationError(`${what} ${v} is out of range`);
  return v;
}

function tier(v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new ValidationError(`tier ${v} is not a u8`);
  return v;
}

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ValidationError(`${what} ${v} is not a u32`);
  return v;
}

/** A transfer id as a bigint. */
export function transferIdOf(id: TransferIdLike): bigint {
  if (typeof id === 'bigint') {
    if (id < 0n || id > U128_MAX) throw new ValidationError(`transfer id ${id} is not a u128`);
    return id;
  }
  if (typeof id === 'string' && /^[0-9a-fA-F]{32}$/.test(id)) return BigInt('0x' + id);
  throw new ValidationError(`transfer id ${JSON.stringify(id)} must be a bigint or 32 hex digits`);
}

/** A transfer id as 32 lowercase hex digits. */
export function transferIdHex(id: TransferIdLike): string {
  return transferIdOf(id).toString(16).padStart(32, '0');
}

/** A random transfer id (128 bits from the platform's CSPRNG). */
export function newTransferId(): bigint {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return BigInt('0x' + toHex(b));
}

function memoBytes(memo: Uint8Array | string | undefined): Uint8Array {
  if (memo === undefined) return new Uint8Array();
  return typeof memo === 'string' ? utf8.encode(memo) : memo;
}

/** A freeze's or restriction's reference as bytes (a string as UTF-8); at most {@link REFERENCE_BYTES_MAX}. */
function referenceBytes(reference: Uint8Array | string | undefined): Uint8Array {
  const b = memoBytes(reference);
  if (!(b instanceof Uint8Array)) throw new ValidationError('a reference is bytes or a string');
  if (b.length > REFERENCE_BYTES_MAX) throw new ValidationError(`reference is ${b.length} bytes; at most ${REFERENCE_BYTES_MAX}`);
  return b;
}

function freezeReasonTag(reason: FreezeReason): number {
  const r = FREEZE_REASONS.indexOf(reason);
  if (r < 0) throw new ValidationError(`freeze reason ${JSON.stringify(reason)} is not one of ${FREEZE_REASONS.join(', ')}`);
  return r;
}

function readFreezeReason(r: Reader): FreezeReason {
  const reason = FREEZE_REASONS[r.u8('freeze reason')];
  if (!reason) throw new ValidationError('freeze reason is out of range');
  return reason;
}

/** borsh(Transaction). */
export function encodeTransaction(tx: Transaction): Uint8Array {
  const w = new Writer();
  writeTransaction(w, tx);
  return w.toBytes();
}

function writeTransaction(w: Writer, tx: Transaction): void {
  w.fixed(bytesOf(tx.chainId, 32, 'chain id'), 32, 'chain id');
  w.fixed(bytesOf(tx.sender, 32, 'sender'), 32, 'sender');
  w.u64(u64(tx.sequence, 'sequence'));
  if ('height' in tx.expiry) w.u8(0).u64(u64(tx.expiry.height, 'expiry height'));
  else if ('timeMs' in tx.expiry) w.u8(1).u64(u64(tx.expiry.timeMs, 'expiry time'));
  else throw new ValidationError('expiry must be {height} or {timeMs}');
  writeKind(w, tx.kind);
  w.option(tx.cosigner ?? null, (w, c) => w.fixed(bytesOf(c, 32, 'cosigner'), 32));
  w.bytes(memoBytes(tx.memo));
}

function writeKind(w: Writer, k: TxKind): void {
  const index = TX_KIND_INDEX[k.type];
  if (index === undefined) throw new ValidationError(`unknown transaction kind ${JSON.stringify((k as { type: unknown }).type)}`);
  w.u8(index);
  writeKindFields(w, k);
}

function writePayees(w: Writer, payees: AddressLike[] | undefined): void {
  w.vec(payees ?? [], (w, p) => w.fixed(addressBytes(p), 20, 'payee'));
}

/** borsh(Quote). */
function writeQuote(w: Writer, q: Quote): void {
  if (!q || typeof q !== 'object') throw new ValidationError('a quote is an object');
  w.fixed(addressBytes(q.provider), 20, 'provider');
  w.u64(u64(q.quoteId, 'quoteId'));
  w.fixed(encodeAssetCode(q.sell), 8);
  w.fixed(encodeAssetCode(q.buy), 8);
  w.u64(u64(q.rateNum, 'rateNum'));
  w.u64(u64(q.rateDen, 'rateDen'));
  w.u128(amount(q.minSell, 'minSell'));
  w.u128(amount(q.maxSell, 'maxSell'));
  w.u64(u64(q.expiresAtMs, 'expiresAtMs'));
  w.option(q.payer ?? null, (w, p) => w.fixed(addressBytes(p), 20, 'payer'));
}

/** A kind's fields, without its tag (a `linked` leg's too). */
function writeKindFields(w: Writer, k: TxKind): void {
  const addr = (a: AddressLike) => w.fixed(addressBytes(a), 20, 'address');
  switch (k.type) {
    case 'transfer':
      addr(k.to);
      w.fixed(encodeAssetCode(k.asset), 8);
      w.u128(amount(k.amount, 'amount'));
      w.u128(transferIdOf(k.transferId));
      break;
    case 'batch_transfer':
      w.fixed(encodeAssetCode(k.asset), 8);
      w.vec(k.payouts, (w, p) => {
        w.fixed(addressBytes(p.to), 20, 'address');
        w.u128(amount(p.amount, 'payout amount'));
      });
      w.u128(transferIdOf(k.transferId));
      break;
    case 'open_account':
      w.fixed(bytesOf(k.owner, 32, 'owner'), 32);
      w.u8(tier(k.tier));
      w.fixed(bytesOf(k.identityCommitment, 32, 'identity commitment'), 32);
      w.bytes(k.identityEnvelope === undefined ? new Uint8Array() : bytesOf(k.identityEnvelope, undefined, 'identity envelope'));
      break;
    case 'set_tier':
      addr(k.account);
      w.u8(tier(k.tier));
      break;
    case 'freeze':
      addr(k.account);
      w.u8(freezeReasonTag(k.reason));
      break;
    case 'unfreeze':
      addr(k.account);
      break;
    case 'mint':
      addr(k.to);
      w.fixed(encodeAssetCode(k.asset), 8);
      w.u128(amount(k.amount, 'amount'));
      break;
    case 'burn':
      w.fixed(encodeAssetCode(k.asset), 8);
      w.u128(amount(k.amount, 'amount'));
      break;
    case 'propose': {
      w.u32(k.actions.length);
      for (const a of k.actions) {
        const b = bytesOf(a, undefined, 'action');
        w.fixed(b, b.length);
      }
      w.u64(u64(k.votingPeriodMs, 'voting period'));
      break;
    }
    case 'vote':
      w.u64(u64(k.proposal, 'proposal'));
      w.bool(k.approve);
      break;
    case 'withdraw':
      w.u64(u64(k.proposal, 'proposal'));
      break;
    case 'anchor_audit_log':
      w.u64(u64(k.entries, 'entries'));
      w.fixed(bytesOf(k.head, 32, 'head'), 32);
      break;
    case 'hold':
      addr(k.to);
      w.fixed(encodeAssetCode(k.asset), 8);
      w.u128(amount(k.amount, 'amount'));
      w.u128(transferIdOf(k.holdId));
      w.u64(u64(k.expiresAtMs, 'expiresAtMs'));
      break;
    case 'capture':
      addr(k.payer);
      w.u128(transferIdOf(k.holdId));
      w.u128(amount(k.amount, 'amount'));
      break;
    case 'void':
      addr(k.payer);
      w.u128(transferIdOf(k.holdId));
      break;
    case 'freeze_amount':
      addr(k.account);
      w.fixed(encodeAssetCode(k.asset), 8);
      w.u128(amount(k.amount, 'amount'));
      w.u64(u64(k.freezeId, 'freezeId'));
      w.u8(freezeReasonTag(k.reason));
      w.bytes(referenceBytes(k.reference));
      w.option(k.expiresAtMs ?? null, (w, t) => w.u64(u64(t, 'expiresAtMs')));
      break;
    case 'release_freeze':
      addr(k.account);
      w.u64(u64(k.freezeId, 'freezeId'));
      break;
    case 'set_account_state': {
      addr(k.account);
      const state = ACCOUNT_STATES.indexOf(k.state);
      if (state < 0) throw new ValidationError(`account state ${JSON.stringify(k.state)} is not one of ${ACCOUNT_STATES.join(', ')}`);
      w.u8(state);
      w.u8(freezeReasonTag(k.reason));
      w.bytes(referenceBytes(k.reference));
      w.option(k.expiresAtMs ?? null, (w, t) => w.u64(u64(t, 'expiresAtMs')));
      break;
    }
    case 'register_device':
      w.fixed(bytesOf(k.key, 32, 'device key'), 32);
      w.fixed(encodeAssetCode(k.asset), 8);
      w.u128(amount(k.maxPerHold, 'maxPerHold'));
      w.u128(amount(k.dailyMax, 'dailyMax'));
      writePayees(w, k.payees);
      break;
    case 'revoke_device':
      w.fixed(bytesOf(k.key, 32, 'device key'), 32);
      break;
    case 'linked':
      if (!Array.isArray(k.legs)) throw new ValidationError('legs must be an array');
      w.vec(k.legs, (w, leg) => {
        const tag = LINKED_OPS.indexOf(leg?.type as (typeof LINKED_OPS)[number]);
        if (tag < 0) throw new ValidationError(`a linked leg is a transfer, hold, capture or void, not ${JSON.stringify(leg?.type)}`);
        w.u8(tag);
        writeKindFields(w, leg);
      });
      break;
    case 'pvp':
      writeQuote(w, k.quote);
      w.fixed(bytesOf(k.quoteSignature, 64, 'quote signature'), 64);
      w.u128(amount(k.pay, 'pay'));
      w.u128(amount(k.minReceive, 'minReceive'));
      addr(k.to);
      w.u128(transferIdOf(k.transferId));
      break;
    case 'grant_mandate':
      w.u64(u64(k.mandateId, 'mandateId'));
      addr(k.grantee);
      if (!k.scope || typeof k.scope.pay !== 'boolean' || typeof k.scope.read !== 'boolean') {
        throw new ValidationError('a mandate scope is {pay: boolean, read: boolean}');
      }
      w.bool(k.scope.pay);
      w.bool(k.scope.read);
      w.fixed(encodeAssetCode(k.asset), 8);
      writePayees(w, k.payees);
      w.u128(amount(k.perPayment, 'perPayment'));
      w.u128(amount(k.perPeriod, 'perPeriod'));
      w.u32(u32(k.periodSeconds, 'periodSeconds'));
      w.u64(u64(k.startMs, 'startMs'));
      w.u64(u64(k.endMs, 'endMs'));
      break;
    case 'revoke_mandate':
      w.u64(u64(k.mandateId, 'mandateId'));
      break;
    case 'mandate_pay':
      addr(k.payer);
      w.u64(u64(k.mandateId, 'mandateId'));
      addr(k.to);
      w.fixed(encodeAssetCode(k.asset), 8);
      w.u128(amount(k.amount, 'amount'));
      w.u128(transferIdOf(k.transferId));
      break;
    case 'list_identity':
      w.fixed(bytesOf(k.listingKey, 32, 'listing key'), 32);
      w.u8(freezeReasonTag(k.reason));
      w.bytes(referenceBytes(k.reference));
      break;
    case 'delist_identity':
      w.fixed(bytesOf(k.listingKey, 32, 'listing key'), 32);
      break;
    case 'set_memo_key':
      w.fixed(bytesOf(k.key, 32, 'memo key'), 32);
      break;
  }
}

/** A decoded transaction: every field in its canonical form. */
export interface DecodedTransaction extends Transaction {
  chainId: Uint8Array;
  sender: Uint8Array;
  sequence: bigint;
  expiry: { height: bigint } | { timeMs: bigint };
  cosigner: Uint8Array | null;
  memo: Uint8Array;
}

function readTransaction(r: Reader): DecodedTransaction {
  const chainId = r.fixed(32, 'chain id');
  const sender = r.fixed(32, 'sender');
  const sequence = r.u64('sequence');
  const et = r.u8('expiry tag');
  let expiry: DecodedTransaction['expiry'];
  if (et === 0) expiry = { height: r.u64('expiry') };
  else if (et === 1) expiry = { timeMs: r.u64('expiry') };
  else throw new ValidationError(`expiry tag ${et} is out of range`);
  const kind = readKind(r);
  const cosigner = r.option((r) => r.fixed(32, 'cosigner'), 'cosigner');
  const memo = r.bytes('memo');
  return { chainId, sender, sequence, expiry, kind, cosigner, memo };
}

function readKind(r: Reader): TxKind {
  const index = r.u8('kind tag');
  return readKindFields(r, KIND_NAMES[index], `kind tag ${index}`);
}

function readLeg(r: Reader): LinkedOp {
  const tag = r.u8('leg tag');
  const name = LINKED_OPS[tag];
  if (name === undefined) throw new ValidationError(`linked leg tag ${tag} is out of range`);
  return readKindFields(r, name, `linked leg tag ${tag}`) as LinkedOp;
}

function readPayees(r: Reader, most: number, what: string): string[] {
  const payees = r.vec((r) => encodeAddress(r.fixed(20, 'payee')), 'payees');
  if (payees.length > most) throw new ValidationError(`${what} names ${payees.length} payees; at most ${most}`);
  return payees;
}

function readQuote(r: Reader): Quote & { provider: string; quoteId: bigint; rateNum: bigint; rateDen: bigint; expiresAtMs: bigint; payer: string | null } {
  const provider = encodeAddress(r.fixed(20, 'provider'));
  const quoteId = r.u64('quote id');
  const sell = decodeAssetCode(r.fixed(8, 'sell'));
  const buy = decodeAssetCode(r.fixed(8, 'buy'));
  const rateNum = r.u64('rate num');
  const rateDen = r.u64('rate den');
  const minSell = r.u128('min sell');
  const maxSell = r.u128('max sell');
  const expiresAtMs = r.u64('quote expiry');
  const payer = r.option((r) => encodeAddress(r.fixed(20, 'payer')), 'payer');
  return { provider, quoteId, sell, buy, rateNum, rateDen, minSell, maxSell, expiresAtMs, payer };
}

/** A kind's fields (`name`'s), after its tag (`tag` names it in errors). */
function readKindFields(r: Reader, name: TxKindName | undefined, tag: string): TxKind {
  const addr = () => encodeAddress(r.fixed(20, 'address'));
  const asset = () => decodeAssetCode(r.fixed(8, 'asset'));
  switch (name) {
    case 'transfer':
      return { type: 'transfer', to: addr(), asset: asset(), amount: r.u128(), transferId: r.u128() };
    case 'batch_transfer': {
      const a = asset();
      const payouts = r.vec((r) => ({ to: encodeAddress(r.fixed(20, 'address')), amount: r.u128() }), 'payouts');
      return { type: 'batch_transfer', asset: a, payouts, transferId: r.u128() };
    }
    case 'open_account': {
      const owner = r.fixed(32, 'owner');
      const t = r.u8('tier');
      const identityCommitment = r.fixed(32, 'identity commitment');
      const identityEnvelope = r.bytes('identity envelope');
      checkEnvelopeLength(identityEnvelope.length);
      return { type: 'open_account', owner, tier: t, identityCommitment, identityEnvelope };
    }
    case 'set_tier':
      return { type: 'set_tier', account: addr(), tier: r.u8() };
    case 'freeze': {
      const account = addr();
      return { type: 'freeze', account, reason: readFreezeReason(r) };
    }
    case 'unfreeze':
      return { type: 'unfreeze', account: addr() };
    case 'mint':
      return { type: 'mint', to: addr(), asset: asset(), amount: r.u128() };
    case 'burn':
      return { type: 'burn', asset: asset(), amount: r.u128() };
    case 'vote':
      return { type: 'vote', proposal: r.u64(), approve: r.bool() };
    case 'withdraw':
      return { type: 'withdraw', proposal: r.u64() };
    case 'anchor_audit_log':
      return { type: 'anchor_audit_log', entries: r.u64('entries'), head: r.fixed(32, 'head') };
    case 'hold':
      return { type: 'hold', to: addr(), asset: asset(), amount: r.u128(), holdId: r.u128(), expiresAtMs: r.u64('expires_at') };
    case 'capture':
      return { type: 'capture', payer: addr(), holdId: r.u128(), amount: r.u128() };
    case 'void':
      return { type: 'void', payer: addr(), holdId: r.u128() };
    case 'freeze_amount': {
      const account = addr();
      const a = asset();
      const amt = r.u128();
      const freezeId = r.u64('freeze id');
      const reason = readFreezeReason(r);
      const reference = readReference(r);
      const expiresAtMs = r.option((r) => r.u64('expires_at'), 'expires_at');
      return { type: 'freeze_amount', account, asset: a, amount: amt, freezeId, reason, reference, expiresAtMs };
    }
    case 'release_freeze':
      return { type: 'release_freeze', account: addr(), freezeId: r.u64('freeze id') };
    case 'set_account_state': {
      const account = addr();
      const state = ACCOUNT_STATES[r.u8('account state')];
      if (!state) throw new ValidationError('account state is out of range');
      const reason = readFreezeReason(r);
      const reference = readReference(r);
      const expiresAtMs = r.option((r) => r.u64('expires_at'), 'expires_at');
      return { type: 'set_account_state', account, state, reason, reference, expiresAtMs };
    }
    case 'register_device': {
      const key = r.fixed(32, 'device key');
      const a = asset();
      const maxPerHold = r.u128();
      const dailyMax = r.u128();
      return { type: 'register_device', key, asset: a, maxPerHold, dailyMax, payees: readPayees(r, DEVICE_PAYEES_MAX, 'a device scope') };
    }
    case 'revoke_device':
      return { type: 'revoke_device', key: r.fixed(32, 'device key') };
    case 'linked': {
      const legs = r.vec(readLeg, 'legs');
      if (legs.length === 0 || legs.length > LINKED_LEGS_MAX) {
        throw new ValidationError(`a linked transaction has 1 to ${LINKED_LEGS_MAX} legs, got ${legs.length}`);
      }
      return { type: 'linked', legs };
    }
    case 'pvp': {
      const quote = readQuote(r);
      const quoteSignature = r.fixed(64, 'quote signature');
      const pay = r.u128();
      const minReceive = r.u128();
      return { type: 'pvp', quote, quoteSignature, pay, minReceive, to: addr(), transferId: r.u128() };
    }
    case 'grant_mandate': {
      const mandateId = r.u64('mandate id');
      const grantee = addr();
      const scope = { pay: r.bool('scope.pay'), read: r.bool('scope.read') };
      const a = asset();
      const payees = readPayees(r, MANDATE_PAYEES_MAX, 'a mandate');
      const perPayment = r.u128();
      const perPeriod = r.u128();
      const periodSeconds = r.u32('period seconds');
      const startMs = r.u64('start');
      const endMs = r.u64('end');
      return { type: 'grant_mandate', mandateId, grantee, scope, asset: a, payees, perPayment, perPeriod, periodSeconds, startMs, endMs };
    }
    case 'revoke_mandate':
      return { type: 'revoke_mandate', mandateId: r.u64('mandate id') };
    case 'mandate_pay':
      return { type: 'mandate_pay', payer: addr(), mandateId: r.u64('mandate id'), to: addr(), asset: asset(), amount: r.u128(), transferId: r.u128() };
    case 'list_identity': {
      const listingKey = r.fixed(32, 'listing key');
      const reason = readFreezeReason(r);
      return { type: 'list_identity', listingKey, reason, reference: readReference(r) };
    }
    case 'delist_identity':
      return { type: 'delist_identity', listingKey: r.fixed(32, 'listing key') };
    case 'set_memo_key':
      return { type: 'set_memo_key', key: r.fixed(32, 'memo key') };
    case 'propose':
      throw new ValidationError('decoding a Propose transaction is not supported (governance actions are not in SPEC.md)');
    default:
      throw new ValidationError(`${tag} is out of range`);
  }
}

/** An identity envelope is empty or exactly {@link IDENTITY_ENVELOPE_BYTES}; a node refuses any other length (`malformed`). */
function checkEnvelopeLength(len: number): void {
  if (len !== 0 && len !== IDENTITY_ENVELOPE_BYTES) {
    throw new ValidationError(`identity envelope is ${len} bytes; it is empty or ${IDENTITY_ENVELOPE_BYTES}`);
  }
}

function readReference(r: Reader): Uint8Array {
  const reference = r.bytes('reference');
  if (reference.length > REFERENCE_BYTES_MAX) throw new ValidationError(`reference is ${reference.length} bytes; at most ${REFERENCE_BYTES_MAX}`);
  return reference;
}

/** The transaction id: `tagged("hutong/tx/v1", borsh(tx))`, 32 bytes. */
export function transactionId(tx: Transaction): Uint8Array {
  return tagged(TAG_TX, encodeTransaction(tx));
}

/** The transaction id in hex, as the node names it. */
export function transactionHash(tx: Transaction): string {
  return toHex(transactionId(tx));
}

/** What the co-signer signs: `tagged("hutong/cosign/v1", tx_id)`. */
export function cosignMessage(txId: Uint8Array): Uint8Array {
  return tagged(TAG_COSIGN, txId);
}

/** The address of a transaction's sender. */
export function senderAddress(tx: Transaction): string {
  return encodeAddress(addressBytesOf(tx.sender));
}

/** borsh(Quote). */
export function encodeQuote(quote: Quote): Uint8Array {
  const w = new Writer();
  writeQuote(w, quote);
  return w.toBytes();
}

/**
 * What an FX provider signs: `SHA-256("hutong/quote/v1" ‖ 0x00 ‖
 * chain_id ‖ borsh(quote))`, 32 bytes.
 */
export function quoteSigningHash(chainId: BytesLike, quote: Quote): Uint8Array {
  return tagged(TAG_QUOTE, concatBytes(bytesOf(chainId, 32, 'chain id'), encodeQuote(quote)));
}

/** The FX provider's ed25519 signature (64 bytes) of `quote` on the chain `chainId`: a `pvp`'s `quoteSignature`. */
export function signQuote(chainId: BytesLike, quote: Quote, provider: Keypair): Uint8Array {
  return provider.sign(quoteSigningHash(chainId, quote));
}

/**
 * What a read mandate's grantee signs to read `account`
 * (`hutong_readAccount`): `SHA-256("hutong/mandate-read/v1" ‖ 0x00 ‖
 * chain_id ‖ account (20 bytes) ‖ u64 mandate_id ‖ u64 timestamp_ms)`.
 */
export function mandateReadHash(chainId: BytesLike, account: AddressLike, mandateId: U64Like, timestampMs: U64Like): Uint8Array {
  const w = new Writer();
  w.fixed(bytesOf(chainId, 32, 'chain id'), 32);
  w.fixed(addressBytes(account), 20, 'account');
  w.u64(u64(mandateId, 'mandateId'));
  w.u64(u64(timestampMs, 'timestampMs'));
  return tagged(TAG_MANDATE_READ, w.toBytes());
}

/** The grantee's signature of a read request, in hex (`hutong_readAccount`'s `signature`). */
export function signMandateRead(chainId: BytesLike, account: AddressLike, mandateId: U64Like, timestampMs: U64Like, grantee: Keypair): string {
  return toHex(grantee.sign(mandateReadHash(chainId, account, mandateId, timestampMs)));
}

/**
 * Checks what the node would refuse without looking at the ledger: field
 * ranges, memo length, batch size, zero amounts, a transfer (or hold) to
 * its own sender, asset codes, a reference past 64 bytes, an identity
 * envelope neither empty nor 144 bytes, the encoded size; and what the ledger would fail before looking at it: a linked
 * transaction's leg count (1 to 8) and each leg by the same rules, more
 * than 16 payees of a device or a mandate, a mandate granted to its own
 * sender. Throws {@link ValidationError}.
 */
export function validateTransaction(tx: Transaction): void {
  const bytes = encodeTransaction(tx); // checks ranges, lengths, codes
  const memo = memoBytes(tx.memo);
  if (memo.length > MEMO_BYTES_MAX) throw new ValidationError(`memo is ${memo.length} bytes; at most ${MEMO_BYTES_MAX}`);
  validateKind(tx.kind, addressBytesOf(tx.sender));
  // signature (64) + cosignature option (1 or 65)
  const signedLen = bytes.length + 64 + (tx.cosigner ? 65 : 1);
  if (signedLen > TX_BYTES_MAX) throw new ValidationError(`signed transaction is ${signedLen} bytes; at most ${TX_BYTES_MAX}`);
}

/** {@link validateTransaction}'s checks of one kind (and of each leg of a `linked`); `me`: the sender's address. */
function validateKind(k: TxKind, me: Uint8Array): void {
  const payouts: Payout[] =
    k.type === 'transfer' || k.type === 'hold'
      ? [{ to: k.to, amount: k.amount }]
      : k.type === 'batch_transfer'
        ? k.payouts
        : [];
  if (k.type === 'batch_transfer' && (k.payouts.length === 0 || k.payouts.length > BATCH_RECIPIENTS_MAX)) {
    throw new ValidationError(`a batch transfer has 1 to ${BATCH_RECIPIENTS_MAX} payouts, got ${k.payouts.length}`);
  }
  if ((k.type === 'mint' || k.type === 'burn' || k.type === 'capture' || k.type === 'freeze_amount' || k.type === 'mandate_pay') && k.amount === 0n) {
    throw new ValidationError('amount is zero');
  }
  if (k.type === 'pvp' && k.pay === 0n) throw new ValidationError('the amount paid is zero');
  for (const p of payouts) {
    if (p.amount === 0n) throw new ValidationError('an amount is zero');
    if (equalBytes(addressBytes(p.to), me)) throw new ValidationError(`a ${k.type === 'hold' ? 'hold' : 'transfer'} pays its own sender`);
  }
  if (k.type === 'transfer' || k.type === 'batch_transfer' || k.type === 'mint' || k.type === 'burn' || k.type === 'hold' || k.type === 'freeze_amount' || k.type === 'register_device' || k.type === 'grant_mandate' || k.type === 'mandate_pay') {
    checkAssetCode(k.asset);
  }
  if (k.type === 'open_account' && k.identityEnvelope !== undefined) {
    checkEnvelopeLength(bytesOf(k.identityEnvelope, undefined, 'identity envelope').length);
  }
  if (k.type === 'register_device' && (k.payees ?? []).length > DEVICE_PAYEES_MAX) {
    throw new ValidationError(`a device scope names ${k.payees!.length} payees; at most ${DEVICE_PAYEES_MAX}`);
  }
  if (k.type === 'grant_mandate') {
    if ((k.payees ?? []).length > MANDATE_PAYEES_MAX) throw new ValidationError(`a mandate names ${k.payees!.length} payees; at most ${MANDATE_PAYEES_MAX}`);
    if (equalBytes(addressBytes(k.grantee), me)) throw new ValidationError('a mandate grants its own sender');
  }
  if (k.type === 'linked') {
    if (k.legs.length === 0 || k.legs.length > LINKED_LEGS_MAX) {
      throw new ValidationError(`a linked transaction has 1 to ${LINKED_LEGS_MAX} legs, got ${k.legs.length}`);
    }
    k.legs.forEach((leg, i) => {
      try {
        validateKind(leg, me);
      } catch (e) {
        if (e instanceof ValidationError) throw new ValidationError(`leg ${i}: ${e.message}`);
        throw e;
      }
    });
  }
}

/** A transaction with the sender's signature and, for a step-up, the co-signature. */
export class SignedTransaction {
  readonly tx: Transaction;
  readonly signature: Uint8Array;
  readonly cosignature: Uint8Array | null;
  #id: Uint8Array | undefined;

  constructor(tx: Transaction, signature: BytesLike, cosignature: BytesLike | null = null) {
    this.tx = tx;
    this.signature = bytesOf(signature, 64, 'signature');
    this.cosignature = cosignature === null ? null : bytesOf(cosignature, 64, 'cosignature');
  }

  /** The transaction id (32 bytes); signatures are not part of it. */
  get id(): Uint8Array {
    return (this.#id ??= transactionId(this.tx));
  }

  /** The transaction id in hex. */
  get hash(): string {
    return toHex(this.id);
  }

  /** borsh(SignedTransaction): what is sent. */
  encode(): Uint8Array {
    return concatBytes(
      encodeTransaction(this.tx),
      this.signature,
      this.cosignature === null ? new Uint8Array([0]) : concatBytes(new Uint8Array([1]), this.cosignature),
    );
  }

  /** The encoding in hex, the parameter of `hutong_submitTransaction`. */
  toHex(): string {
    return toHex(this.encode());
  }

  /** The message the co-signer signs. */
  get cosignMessage(): Uint8Array {
    return cosignMessage(this.id);
  }

  /**
   * Adds the institution's co-signature. The body must already name
   * `institution`'s public key as `cosigner` (it is signed by the sender).
   */
  cosign(institution: Keypair): SignedTransaction {
    const named = this.tx.cosigner ? bytesOf(this.tx.cosigner, 32, 'cosigner') : null;
    if (!named) throw new ValidationError('the transaction names no cosigner; set tx.cosigner before the sender signs');
    if (!equalBytes(named, institution.publicKey)) {
      throw new ValidationError(`the transaction names cosigner ${toHex(named)}, not ${institution.publicKeyHex}`);
    }
    return new SignedTransaction(this.tx, this.signature, institution.sign(this.cosignMessage));
  }

  /** Adds a co-signature made elsewhere (by the institution's backend). */
  withCosignature(cosignature: BytesLike): SignedTransaction {
    return new SignedTransaction(this.tx, this.signature, cosignature);
  }

  /** Checks the signatures (RFC 8032) against the sender and cosigner keys. */
  verify(): boolean {
    const sender = bytesOf(this.tx.sender, 32);
    if (!ed25519Verify(this.signature, this.id, sender)) return false;
    const cosigner = this.tx.cosigner ? bytesOf(this.tx.cosigner, 32) : null;
    if ((cosigner === null) !== (this.cosignature === null)) return false;
    if (cosigner && this.cosignature) return ed25519Verify(this.cosignature, this.cosignMessage, cosigner);
    return true;
  }

  /** Decodes a `SignedTransaction` strictly (no trailing bytes, canonical tags, bounds). */
  static decode(bytes: BytesLike): SignedTransaction {
    const raw = bytesOf(bytes, undefined, 'transaction');
    if (raw.length > TX_BYTES_MAX) throw new ValidationError(`transaction is ${raw.length} bytes; at most ${TX_BYTES_MAX}`);
    const r = new Reader(raw);
    const tx = readTransaction(r);
    const signature = r.fixed(64, 'signature');
    const cosignature = r.option((r) => r.fixed(64, 'cosignature'), 'cosignature');
    r.finish();
    if (tx.memo.length > MEMO_BYTES_MAX) throw new ValidationError(`memo is ${tx.memo.length} bytes; at most ${MEMO_BYTES_MAX}`);
    if (tx.kind.type === 'batch_transfer' && (tx.kind.payouts.length === 0 || tx.kind.payouts.length > BATCH_RECIPIENTS_MAX)) {
      throw new ValidationError(`a batch transfer has 1 to ${BATCH_RECIPIENTS_MAX} payouts`);
    }
    return new SignedTransaction(tx, signature, cosignature);
  }
}

export interface SignOptions {
  /** Skip {@link validateTransaction} (to build a transaction a node must refuse, in tests). */
  skipChecks?: boolean;
}

/**
 * Signs `tx` with the sender's key (which must be `tx.sender`). For a
 * step-up transfer set `tx.cosigner` first, then call
 * {@link SignedTransaction.cosign} with the institution's key.
 */
export function signTransaction(tx: Transaction, sender: Keypair, options: SignOptions = {}): SignedTransaction {
  if (!options.skipChecks) {
    validateTransaction(tx);
    if (!equalBytes(bytesOf(tx.sender, 32, 'sender'), sender.publicKey)) {
      throw new ValidationError(`tx.sender is not the signing key's public key (${sender.publicKeyHex})`);
    }
  }
  return new SignedTransaction(tx, sender.sign(transactionId(tx)));
}

// ---------------------------------------------------------------------
// The JSON form of SPEC.md's vectors.

type Json = Record<string, unknown>;

function jhex(v: unknown, len: number | undefined, what: string): Uint8Array {
  if (typeof v !== 'string') throw new ValidationError(`${what} must be a hex string`);
  return fromHex(v, len, what);
}

function jnum(v: unknown, what: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'bigint') return v;
  throw new ValidationError(`${what} must be a non-negative integer`);
}

/** A transaction from the JSON form of `sdk/vectors/transactions.json`. */
export function transactionFromJson(j: Json): DecodedTransaction {
  const e = j['expiry'] as Json;
  const expiry = 'height' in e ? { height: jnum(e['height'], 'expiry.height') } : { timeMs: jnum(e['time_ms'], 'expiry.time_ms') };
  const kindObj = j['kind'] as Json;
  const names = Object.keys(kindObj);
  if (names.length !== 1) throw new ValidationError('kind must have exactly one key');
  const name = names[0] as TxKindName;
  return {
    chainId: jhex(j['chain_id'], 32, 'chain_id'),
    sender: jhex(j['sender'], 32, 'sender'),
    sequence: jnum(j['sequence'], 'sequence'),
    expiry,
    kind: kindFromJson(name, kindObj[name] as Json),
    cosigner: j['cosigner'] == null ? null : jhex(j['cosigner'], 32, 'cosigner'),
    memo: j['memo'] == null ? new Uint8Array() : jhex(j['memo'], undefined, 'memo'),
  };
}

function legFromJson(j: Json): LinkedOp {
  const names = Object.keys(j ?? {});
  const name = names[0] as (typeof LINKED_OPS)[number];
  if (names.length !== 1 || !LINKED_OPS.includes(name)) {
    throw new ValidationError(`a linked leg is {"transfer" | "hold" | "capture" | "void": {…}}, not ${JSON.stringify(names)}`);
  }
  return kindFromJson(name, j[name] as Json) as LinkedOp;
}

function payeesFromJson(v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((p) => typeof p === 'string')) throw new ValidationError('payees must be an array of addresses');
  return v as string[];
}

/** A quote from its JSON form (`{provider, quote_id, sell, buy, rate_num, rate_den, min_sell, max_sell, expires_at_ms, payer}`, as in the vectors). */
export function quoteFromJson(q: Json): Quote {
  if (!q || typeof q !== 'object') throw new ValidationError('a quote is an object');
  return {
    provider: q['provider'] as string,
    quoteId: jnum(q['quote_id'], 'quote_id'),
    sell: q['sell'] as string,
    buy: q['buy'] as string,
    rateNum: jnum(q['rate_num'], 'rate_num'),
    rateDen: jnum(q['rate_den'], 'rate_den'),
    minSell: jnum(q['min_sell'], 'min_sell'),
    maxSell: jnum(q['max_sell'], 'max_sell'),
    expiresAtMs: jnum(q['expires_at_ms'], 'expires_at_ms'),
    payer: q['payer'] == null ? null : (q['payer'] as string),
  };
}

function kindFromJson(name: TxKindName, f: Json): TxKind {
  let kind: TxKind;
  switch (name) {
    case 'transfer':
      kind = { type: name, to: f['to'] as string, asset: f['asset'] as string, amount: jnum(f['amount'], 'amount'), transferId: transferIdOf(f['transfer_id'] as string) };
      break;
    case 'batch_transfer':
      kind = {
        type: name,
        asset: f['asset'] as string,
        payouts: (f['payouts'] as Json[]).map((p) => ({ to: p['to'] as string, amount: jnum(p['amount'], 'amount') })),
        transferId: transferIdOf(f['transfer_id'] as string),
      };
      break;
    case 'open_account':
      kind = {
        type: name,
        owner: jhex(f['owner'], 32, 'owner'),
        tier: Number(f['tier']),
        identityCommitment: jhex(f['identity_commitment'], 32, 'identity_commitment'),
        identityEnvelope: f['identity_envelope'] == null ? new Uint8Array() : jhex(f['identity_envelope'], undefined, 'identity_envelope'),
      };
      break;
    case 'set_tier':
      kind = { type: name, account: f['account'] as string, tier: Number(f['tier']) };
      break;
    case 'freeze':
      kind = { type: name, account: f['account'] as string, reason: f['reason'] as FreezeReason };
      break;
    case 'unfreeze':
      kind = { type: name, account: f['account'] as string };
      break;
    case 'mint':
      kind = { type: name, to: f['to'] as string, asset: f['asset'] as string, amount: jnum(f['amount'], 'amount') };
      break;
    case 'burn':
      kind = { type: name, asset: f['asset'] as string, amount: jnum(f['amount'], 'amount') };
      break;
    case 'vote':
      kind = { type: name, proposal: jnum(f['proposal'], 'proposal'), approve: Boolean(f['approve']) };
      break;
    case 'withdraw':
      kind = { type: name, proposal: jnum(f['proposal'], 'proposal') };
      break;
    case 'anchor_audit_log':
      kind = { type: name, entries: jnum(f['entries'], 'entries'), head: jhex(f['head'], 32, 'head') };
      break;
    case 'hold':
      kind = {
        type: name,
        to: f['to'] as string,
        asset: f['asset'] as string,
        amount: jnum(f['amount'], 'amount'),
        holdId: transferIdOf(f['hold_id'] as string),
        expiresAtMs: jnum(f['expires_at_ms'], 'expires_at_ms'),
      };
      break;
    case 'capture':
      kind = { type: name, payer: f['payer'] as string, holdId: transferIdOf(f['hold_id'] as string), amount: jnum(f['amount'], 'amount') };
      break;
    case 'void':
      kind = { type: name, payer: f['payer'] as string, holdId: transferIdOf(f['hold_id'] as string) };
      break;
    case 'freeze_amount':
      kind = {
        type: name,
        account: f['account'] as string,
        asset: f['asset'] as string,
        amount: jnum(f['amount'], 'amount'),
        freezeId: jnum(f['freeze_id'], 'freeze_id'),
        reason: f['reason'] as FreezeReason,
        reference: f['reference'] == null ? new Uint8Array() : jhex(f['reference'], undefined, 'reference'),
        expiresAtMs: f['expires_at_ms'] == null ? null : jnum(f['expires_at_ms'], 'expires_at_ms'),
      };
      break;
    case 'release_freeze':
      kind = { type: name, account: f['account'] as string, freezeId: jnum(f['freeze_id'], 'freeze_id') };
      break;
    case 'set_account_state':
      kind = {
        type: name,
        account: f['account'] as string,
        state: f['state'] as AccountState,
        reason: f['reason'] as FreezeReason,
        reference: f['reference'] == null ? new Uint8Array() : jhex(f['reference'], undefined, 'reference'),
        expiresAtMs: f['expires_at_ms'] == null ? null : jnum(f['expires_at_ms'], 'expires_at_ms'),
      };
      break;
    case 'register_device':
      kind = {
        type: name,
        key: jhex(f['key'], 32, 'key'),
        asset: f['asset'] as string,
        maxPerHold: jnum(f['max_per_hold'], 'max_per_hold'),
        dailyMax: jnum(f['daily_max'], 'daily_max'),
        payees: payeesFromJson(f['payees'] ?? []),
      };
      break;
    case 'revoke_device':
      kind = { type: name, key: jhex(f['key'], 32, 'key') };
      break;
    case 'linked':
      if (!Array.isArray(f['legs'])) throw new ValidationError('legs must be an array');
      kind = { type: name, legs: (f['legs'] as Json[]).map(legFromJson) };
      break;
    case 'pvp':
      kind = {
        type: name,
        quote: quoteFromJson(f['quote'] as Json),
        quoteSignature: jhex(f['quote_signature'], 64, 'quote_signature'),
        pay: jnum(f['pay'], 'pay'),
        minReceive: jnum(f['min_receive'], 'min_receive'),
        to: f['to'] as string,
        transferId: transferIdOf(f['transfer_id'] as string),
      };
      break;
    case 'grant_mandate': {
      const scope = (f['scope'] ?? {}) as Json;
      kind = {
        type: name,
        mandateId: jnum(f['mandate_id'], 'mandate_id'),
        grantee: f['grantee'] as string,
        scope: { pay: scope['pay'] === true, read: scope['read'] === true },
        asset: f['asset'] as string,
        payees: payeesFromJson(f['payees'] ?? []),
        perPayment: jnum(f['per_payment'], 'per_payment'),
        perPeriod: jnum(f['per_period'], 'per_period'),
        periodSeconds: Number(f['period_seconds']),
        startMs: jnum(f['start_ms'], 'start_ms'),
        endMs: jnum(f['end_ms'], 'end_ms'),
      };
      break;
    }
    case 'revoke_mandate':
      kind = { type: name, mandateId: jnum(f['mandate_id'], 'mandate_id') };
      break;
    case 'mandate_pay':
      kind = {
        type: name,
        payer: f['payer'] as string,
        mandateId: jnum(f['mandate_id'], 'mandate_id'),
        to: f['to'] as string,
        asset: f['asset'] as string,
        amount: jnum(f['amount'], 'amount'),
        transferId: transferIdOf(f['transfer_id'] as string),
      };
      break;
    case 'list_identity':
      kind = {
        type: name,
        listingKey: jhex(f['listing_key'], 32, 'listing_key'),
        reason: f['reason'] as FreezeReason,
        reference: f['reference'] == null ? new Uint8Array() : jhex(f['reference'], undefined, 'reference'),
      };
      break;
    case 'delist_identity':
      kind = { type: name, listingKey: jhex(f['listing_key'], 32, 'listing_key') };
      break;
    case 'set_memo_key':
      kind = { type: name, key: jhex(f['key'], 32, 'key') };
      break;
    case 'propose':
      kind = { type: name, actions: (f['actions'] as string[]).map((a) => jhex(a, undefined, 'action')), votingPeriodMs: jnum(f['voting_period_ms'], 'voting_period_ms') };
      break;
    default:
      throw new ValidationError(`unknown kind ${JSON.stringify(name)}`);
  }
  return kind;
}
