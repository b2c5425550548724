/**
 * JSON-RPC to the node that serves this page (`POST rpc`, the same
 * methods as its RPC port), and audit requests signed in the browser.
 *
 * An audit request is `{"query": …, "auth": {key, timestamp_ms, nonce,
 * signature}}`, where the signature is the regulator key's ed25519
 * signature of
 *
 *     SHA-256("hutong/audit/request/v1" || 0x00 || borsh((chain_id: [u8; 32],
 *             method: string, query: string, timestamp_ms: u64, nonce: string)))
 *
 * and `query` is the query's compact JSON as the node re-serialises it
 * (json.ts). See node/audit/src/auth.rs (`signing_message`, `Gate::check`).
 * The request body is written from that same text, so what is signed is
 * byte for byte what the node reads.
 */

import { canonicalJson, cookJson, parseJsonRaw, type Json, type JsonObject } from './json';
import { fromHex, Keypair, RejectedError, RpcCode, RpcError, tagged, toHex, TransportError, Writer } from './sdk';

/** The page's JSON-RPC endpoint, relative to the page (the node serves both). */
const RPC_URL = 'rpc';
const REQUEST_TIMEOUT_MS = 30_000;
const AUDIT_REQUEST_TAG = 'hutong/audit/request/v1';

let nextId = 1;

export interface CallOptions {
  /** Parse the answer keeping numbers' text (for what is re-hashed). */
  rawNumbers?: boolean;
}

/** One JSON-RPC call whose `params` are already JSON text; answers `result` or throws. */
async function callText(method: string, paramsText: string, options: CallOptions = {}): Promise<unknown> {
  const id = nextId++;
  const body = `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${paramsText}}`;
  // (AbortSignal.timeout is newer than some browsers this targets.)
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  let res: Response;
  let text: string;
  try {
    res = await fetch(RPC_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: abort.signal,
      cache: 'no-store',
    });
    text = await res.text();
  } catch (e) {
    const why = abort.signal.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (e as Error).message;
    throw new TransportError(`${method}: the node did not answer: ${why}`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
  let msg: Record<string, unknown>;
  try {
    const parsed = options.rawNumbers ? parseJsonRaw(text) : (JSON.parse(text) as unknown);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    msg = parsed as Record<string, unknown>;
  } catch {
    throw new TransportError(`${method}: HTTP ${res.status}, not JSON-RPC: ${text.slice(0, 200)}`, { status: res.status });
  }
  const error = msg['error'];
  if (error && typeof error === 'object') {
    const e = (options.rawNumbers ? cookJson(error as Json) : error) as { code?: unknown; message?: unknown; data?: unknown };
    const code = typeof e.code === 'number' ? e.code : 0;
    const data = e.data as Record<string, unknown> | undefined;
    // An admission refusal of a transaction: its stable code is in data.
    if ((code === RpcCode.REJECTED || code === RpcCode.BUSY) && data && typeof data['code'] === 'string') {
      throw new RejectedError(data['code'], data['retryable'] === true, String(data['message'] ?? e.message ?? ''), code, undefined, data);
    }
    throw new RpcError(method, code, String(e.message ?? ''), e.data);
  }
  if (!('result' in msg)) throw new TransportError(`${method}: HTTP ${res.status}: ${text.slice(0, 200)}`, { status: res.status });
  return msg['result'];
}

/** A node method with positional params. */
export function call<T>(method: string, params: unknown[] = []): Promise<T> {
  return callText(method, JSON.stringify(params)) as Promise<T>;
}

/** The refusal of an audit request (error 1010): `unknown_key`, `bad_signature`, `stale`, … */
export function refusalOf(e: unknown): { code: string; message: string } | null {
  if (e instanceof RpcError && e.code === RpcCode.AUTH) {
    const d = e.data as { code?: unknown; message?: unknown } | undefined;
    return { code: typeof d?.code === 'string' ? d.code : 'unauthenticated', message: typeof d?.message === 'string' ? d.message : e.message };
  }
  return null;
}

/** Words for an error, for people. */
export function describeError(e: unknown): string {
  const refusal = refusalOf(e);
  if (refusal) return `the node refused the request (${refusal.code}): ${refusal.message}`;
  if (e instanceof RpcError && e.code === RpcCode.NOT_REGULATOR) return `this node serves no audit methods: ${e.message.replace(/^[^:]*: JSON-RPC error -?\d+: /, '')}`;
  if (e instanceof RpcError) return e.message.replace(/^([^:]*): JSON-RPC error (-?\d+): /, '$1 (error $2): ');
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The bytes a regulator signs for one audit request. */
export function auditSigningMessage(chainId: Uint8Array, method: string, queryText: string, timestampMs: bigint, nonce: string): Uint8Array {
  const w = new Writer();
  w.fixed(chainId, 32, 'chain id');
  w.string(method);
  w.string(queryText);
  w.u64(timestampMs);
  w.string(nonce);
  return tagged(AUDIT_REQUEST_TAG, w.toBytes());
}

/** 32 hex characters from the platform's CSPRNG: a fresh nonce for each request. */
function newNonce(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return toHex(b);
}

/**
 * A signed-in analyst: the regulator key, held in this object only (never
 * stored, never sent), and the chain id every request is bound to.
 */
export class AuditSession {
  readonly publicKeyHex: string;
  readonly address: string;
  readonly #chainId: Uint8Array;
  #key: Keypair | null;
  /** Node clock minus this machine's, learnt from a `stale` refusal. */
  #clockOffsetMs = 0;

  constructor(key: Keypair, chainIdHex: string) {
    this.#key = key;
    this.publicKeyHex = key.publicKeyHex;
    this.address = key.address;
    this.#chainId = fromHex(chainIdHex, 32, 'chain id');
  }

  get signedIn(): boolean {
    return this.#key !== null;
  }

  /** Drops the key: this session signs nothing more. */
  signOut(): void {
    this.#key = null;
  }

  /** The key, for signing a transaction (a freeze). */
  keypair(): Keypair {
    if (!this.#key) throw new Error('signed out: load the regulator key again');
    return this.#key;
  }

  /**
   * One audit method call: signs `query` with a fresh nonce and the
   * current time. If the node says the time is stale (this computer's
   * clock is more than a minute off the node's), the request is signed
   * again once with the node's time.
   */
  async audit<T>(method: string, query: JsonObject, options: CallOptions = {}): Promise<T> {
    const queryText = canonicalJson(query);
    for (let attempt = 0; ; attempt++) {
      const key = this.keypair();
      const timestampMs = Date.now() + this.#clockOffsetMs;
      const nonce = newNonce();
      const message = auditSigningMessage(this.#chainId, method, queryText, BigInt(timestampMs), nonce);
      const signature = toHex(key.sign(message));
      const auth = `{"key":"${this.publicKeyHex}","nonce":"${nonce}","signature":"${signature}","timestamp_ms":${timestampMs}}`;
      try {
        return (await callText(method, `{"auth":${auth},"query":${queryText}}`, options)) as T;
      } catch (e) {
        const refusal = refusalOf(e);
        const nodeNow = refusal?.code === 'stale' ? /node's clock (\d+)/.exec(refusal.message) : null;
        if (attempt === 0 && nodeNow) {
          this.#clockOffsetMs = Number(nodeNow[1]) - Date.now();
          continue;
        }
        throw e;
      }
    }
  }
}
