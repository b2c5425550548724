/**
 * Signed RPC requests of the identity layer (SPEC.md section 9): what a
 * key signs to ask the regulator's node for identity evaluations (signed
 * like an audit request), and to read a memo through its institution's
 * node.
 *
 * ```text
 * audit request:  tagged("hutong/audit/request/v1", borsh((chain_id: [u8; 32], method: String,
 *                                                         query: String, timestamp_ms: u64, nonce: String)))
 * read memo:      tagged("hutong/read-memo/v1", borsh((chain_id: [u8; 32], tx_hash: [u8; 32], timestamp_ms: u64)))
 * ```
 *
 * `query` is the query object's compact JSON exactly as the node
 * re-serialises it (serde_json: keys sorted, no white space). The one
 * query this SDK signs, `{"blinded":["<hex>",…]}`, has one key and only
 * lowercase hex strings, which `JSON.stringify` writes the same way.
 */

import { Writer } from './borsh.js';
import { bytesOf, toHex, type BytesLike } from './bytes.js';
import { tagged } from './crypto.js';
import { ValidationError } from './errors.js';
import type { Keypair } from './keys.js';

export const TAG_AUDIT_REQUEST = 'hutong/audit/request/v1';
export const TAG_READ_MEMO = 'hutong/read-memo/v1';

/** The `auth` member of a signed audit request (`hutong_identityEvaluate` among them). */
export interface AuditAuth {
  /** The signing key, hex. */
  key: string;
  timestamp_ms: number;
  /** 16 to 64 hex digits, never reused by the key. */
  nonce: string;
  /** ed25519 over {@link auditRequestHash}, hex. */
  signature: string;
}

function timestamp(v: number | bigint, what: string): bigint {
  const t = typeof v === 'number' ? (Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : -1n) : v;
  if (typeof t !== 'bigint' || t < 0n || t >= 1n << 64n) throw new ValidationError(`${what} ${String(v)} is not a u64`);
  return t;
}

/** The 32 bytes a key signs for one audit request. */
export function auditRequestHash(chainId: BytesLike, method: string, queryText: string, timestampMs: number | bigint, nonce: string): Uint8Array {
  const w = new Writer();
  w.fixed(bytesOf(chainId, 32, 'chain id'), 32, 'chain id');
  w.string(method);
  w.string(queryText);
  w.u64(timestamp(timestampMs, 'timestamp_ms'));
  w.string(nonce);
  return tagged(TAG_AUDIT_REQUEST, w.toBytes());
}

/** 32 hex digits from the platform's CSPRNG: a fresh nonce for one signed request. */
export function newRequestNonce(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return toHex(b);
}

/**
 * The `auth` of an audit request of `method` with the query's compact JSON
 * `queryText`, signed by `key` at `timestampMs` (default: now) with a
 * fresh nonce (unless given).
 */
export function signAuditRequest(
  chainId: BytesLike,
  method: string,
  queryText: string,
  key: Keypair,
  options: { timestampMs?: number; nonce?: string } = {},
): AuditAuth {
  const timestampMs = options.timestampMs ?? Date.now();
  const nonce = options.nonce ?? newRequestNonce();
  if (!/^[0-9a-fA-F]{16,64}$/.test(nonce)) throw new ValidationError(`a request nonce is 16 to 64 hex digits, not ${JSON.stringify(nonce)}`);
  const signature = toHex(key.sign(auditRequestHash(chainId, method, queryText, timestampMs, nonce)));
  return { key: key.publicKeyHex, timestamp_ms: timestampMs, nonce, signature };
}

/** The query of `hutong_identityEvaluate` for `blinded` (32-byte elements), and its compact JSON as signed. */
export function identityEvaluateQuery(blinded: BytesLike[]): { query: { blinded: string[] }; text: string } {
  const query = { blinded: blinded.map((b, i) => toHex(bytesOf(b, 32, `blinded element ${i}`))) };
  return { query, text: JSON.stringify(query) };
}

/** The 32 bytes a party's key signs to read a transaction's memo (`hutong_readMemo`). */
export function readMemoHash(chainId: BytesLike, txHash: BytesLike, timestampMs: number | bigint): Uint8Array {
  const w = new Writer();
  w.fixed(bytesOf(chainId, 32, 'chain id'), 32, 'chain id');
  w.fixed(bytesOf(txHash, 32, 'transaction hash'), 32, 'transaction hash');
  w.u64(timestamp(timestampMs, 'timestamp_ms'));
  return tagged(TAG_READ_MEMO, w.toBytes());
}

/** `key`'s signature of a memo read request, hex (`hutong_readMemo`'s `signature`). */
export function signReadMemo(chainId: BytesLike, txHash: BytesLike, timestampMs: number | bigint, key: Keypair): string {
  return toHex(key.sign(readMemoHash(chainId, txHash, timestampMs)));
}
