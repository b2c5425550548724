/**
 * The audit-query log's hash chain, re-checked in the browser, so the
 * analyst need not take the node's `chain_ok` on trust.
 *
 * The rule (node/audit/src/auth.rs, `LogEntry::compute_hash` and
 * `verify_log`):
 *
 *     query_hash = SHA-256("hutong/audit/query/v1" || 0x00 || compact sorted JSON of query)
 *     hash       = SHA-256("hutong/audit/log/v1" || 0x00 ||
 *                          borsh((seq: u64, time_ms: u64, key: string, method: string,
 *                                 query_hash: string, prev: string)))
 *
 * and, for an entry that records a refused request (`refused`: its
 * refusal code), the code is a seventh member of the tuple, a borsh
 * string. `prev` is the previous entry's hash (64 zeros before the first)
 * and sequence numbers follow each other.
 */

import { canonicalJson, RawNumber, type Json } from './json';
import { tagged, toHex, utf8, Writer } from './sdk';

export const LOG_TAG = 'hutong/audit/log/v1';
export const QUERY_TAG = 'hutong/audit/query/v1';
export const ZERO_HASH = '0'.repeat(64);

/** One log entry, its numbers exact. */
export interface LogEntry {
  seq: bigint;
  timeMs: bigint;
  key: string;
  method: string;
  /** The query as logged (numbers as their text). */
  query: Json;
  queryHash: string;
  prev: string;
  hash: string;
  /** The refusal code of a refused request, else null. */
  refused: string | null;
}

function integer(v: Json | undefined, what: string): bigint {
  if (v instanceof RawNumber) return v.toBigInt();
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new Error(`log entry: ${what} is not an integer`);
}

function text(v: Json | undefined, what: string): string {
  if (typeof v !== 'string') throw new Error(`log entry: ${what} is not a string`);
  return v;
}

/** A log entry from the JSON the node answers (parsed with parseJsonRaw). */
export function logEntryFromJson(j: Json): LogEntry {
  if (!j || typeof j !== 'object' || Array.isArray(j) || j instanceof RawNumber) throw new Error('log entry: not an object');
  const refused = j['refused'];
  return {
    seq: integer(j['seq'], 'seq'),
    timeMs: integer(j['time_ms'], 'time_ms'),
    key: text(j['key'], 'key'),
    method: text(j['method'], 'method'),
    query: j['query'] === undefined ? null : j['query'],
    queryHash: text(j['query_hash'], 'query_hash'),
    prev: text(j['prev'], 'prev'),
    hash: text(j['hash'], 'hash'),
    refused: refused === undefined || refused === null ? null : text(refused, 'refused'),
  };
}

/** The hash of a logged query. */
export function queryHashOf(query: Json): string {
  return toHex(tagged(QUERY_TAG, utf8.encode(canonicalJson(query))));
}

/** The hash an entry must carry. */
export function entryHashOf(e: LogEntry): string {
  const w = new Writer();
  w.u64(e.seq).u64(e.timeMs).string(e.key).string(e.method).string(e.queryHash).string(e.prev);
  if (e.refused !== null) w.string(e.refused);
  return toHex(tagged(LOG_TAG, w.toBytes()));
}

/** What is wrong with one entry given the entry before it, or null. */
export function checkEntry(e: LogEntry, expectedSeq: bigint, prevHash: string): string | null {
  if (e.seq !== expectedSeq) {
    return expectedSeq === 0n ? `the log starts at entry ${e.seq}, not 0` : `entry ${e.seq} does not follow entry ${expectedSeq - 1n}`;
  }
  if (e.prev !== prevHash) return `entry ${e.seq} does not name the previous entry's hash`;
  if (queryHashOf(e.query) !== e.queryHash) return `entry ${e.seq}'s query does not match its hash`;
  if (entryHashOf(e) !== e.hash) return `entry ${e.seq}'s hash is wrong: it was edited`;
  return null;
}

/**
 * Walks the chain page by page: feed it consecutive runs of entries; it
 * stops at the first break and says where.
 */
export class ChainWalker {
  nextSeq: bigint;
  prevHash: string;
  checked = 0;
  error: string | null = null;

  /** From the start of the log, or from an entry whose hash is known. */
  constructor(fromSeq = 0n, prevHash = ZERO_HASH) {
    this.nextSeq = fromSeq;
    this.prevHash = prevHash;
  }

  /** Checks the entries; false once the chain is broken. */
  push(entries: LogEntry[]): boolean {
    for (const e of entries) {
      if (this.error) return false;
      const problem = checkEntry(e, this.nextSeq, this.prevHash);
      if (problem) {
        this.error = problem;
        return false;
      }
      this.prevHash = e.hash;
      this.nextSeq = e.seq + 1n;
      this.checked++;
    }
    return this.error === null;
  }
}
