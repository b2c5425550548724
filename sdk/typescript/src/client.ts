/**
 * The JSON-RPC client: reads (status, parameters, accounts,
 * transactions, blocks), submission (one, or many with one verdict each),
 * and waiting for finality by polling or by WebSocket subscription.
 */

import { bytesOf, toHex, type BytesLike } from './bytes.js';
import { RejectedError, RpcCode, RpcError, TimeoutError, TransactionFailedError, TransportError, ValidationError } from './errors.js';
import { addressOf, decodeAddress } from './address.js';
import { Keypair } from './keys.js';
import { SignedTransaction, signMandateRead, transferIdHex, type Expiry, type Transaction, type TransferIdLike, type TxKind, type U64Like } from './tx.js';
import {
  isFinal,
  toAccount,
  toBlock,
  toHold,
  toMandate,
  toParameters,
  toStatus,
  toTxStatus,
  toVerdict,
  type Account,
  type Block,
  type Hold,
  type Mandate,
  type Parameters,
  type Receipt,
  type Status,
  type SubmitVerdict,
  type TxStatus,
} from './views.js';

/** The JSON-RPC method names. */
export const Method = {
  SUBMIT_TRANSACTION: 'hutong_submitTransaction',
  SUBMIT_TRANSACTIONS: 'hutong_submitTransactions',
  GET_TRANSACTION: 'hutong_getTransaction',
  GET_ACCOUNT: 'hutong_getAccount',
  GET_BLOCK: 'hutong_getBlock',
  GET_HOLD: 'hutong_getHold',
  GET_MANDATES: 'hutong_getMandates',
  READ_ACCOUNT: 'hutong_readAccount',
  STATUS: 'hutong_status',
  GET_PARAMETERS: 'hutong_getParameters',
  SUBSCRIBE_TRANSACTION: 'hutong_subscribeTransaction',
  TRANSACTION_NOTIFICATION: 'hutong_transaction',
  UNSUBSCRIBE_TRANSACTION: 'hutong_unsubscribeTransaction',
} as const;

/** The browser WebSocket API subset the client uses (`ws` implements it too). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** A `fetch` implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** A WebSocket constructor (default: the global `WebSocket`, else the `ws` package). */
  WebSocket?: WebSocketConstructor;
  /** The WebSocket URL (default: the RPC URL with `http` → `ws`; same port). */
  wsUrl?: string;
  /** Timeout of one HTTP call, ms (default 30 000). */
  requestTimeoutMs?: number;
  /** Extra HTTP headers. */
  headers?: Record<string, string>;
}

export interface WaitOptions {
  /** Give up after this long, ms (default 60 000): throws {@link TimeoutError}. */
  timeoutMs?: number;
  /** Polling interval, ms (default 250). */
  pollIntervalMs?: number;
  /** `subscription` (WebSocket; falls back to polling if the socket fails) or `poll` (default `subscription`). */
  via?: 'subscription' | 'poll';
  signal?: AbortSignal;
}

export interface PrepareOptions {
  /** Default: the account's next sequence as the node reports it ({@link HutongClient.nextSequence}). */
  sequence?: bigint | number;
  /** Default: 5 minutes of block time past the node's last block. */
  expiry?: Expiry;
  /** The institution key that will co-sign (step-up). */
  cosigner?: BytesLike | Keypair | null;
  memo?: Uint8Array | string;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Submittable = SignedTransaction | Uint8Array | string;

function rawHex(tx: Submittable): { hex: string; hash: string | undefined } {
  if (tx instanceof SignedTransaction) return { hex: tx.toHex(), hash: tx.hash };
  const bytes = bytesOf(tx, undefined, 'transaction');
  let hash: string | undefined;
  try {
    hash = SignedTransaction.decode(bytes).hash;
  } catch {
    hash = undefined;
  }
  return { hex: toHex(bytes), hash };
}

function errorOf(method: string, e: Json, hash?: string): Error {
  const code = typeof e['code'] === 'number' ? e['code'] : 0;
  const data = e['data'];
  if ((code === RpcCode.REJECTED || code === RpcCode.BUSY) && data && typeof data === 'object' && typeof data['code'] === 'string') {
    return new RejectedError(data['code'], data['retryable'] === true, String(data['message'] ?? e['message'] ?? ''), code, hash, data);
  }
  return new RpcError(method, code, String(e['message'] ?? ''), data);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

/** Default expiry: this much block time past the node's last block. */
export const DEFAULT_EXPIRY_MS = 5 * 60 * 1000;

export class HutongClient {
  readonly url: string;
  readonly wsUrl: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #ws: WebSocketConstructor | undefined;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  #nextId = 1;
  #chainId: string | undefined;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.wsUrl = options.wsUrl ?? url.replace(/^http(s?):\/\//i, 'ws$1://');
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new ValidationError('no fetch implementation: pass options.fetch');
    this.#fetch = f.bind(globalThis);
    this.#ws = options.WebSocket;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#headers = options.headers ?? {};
  }

  /** One JSON-RPC call with positional params; answers `result` or throws. */
  async call<T = unknown>(method: string, params: unknown[] | Json = [], hash?: string): Promise<T> {
    const id = this.#nextId++;
    const body = JSON.stringify({ jsonrpc: '2.0', id, method, params });
    let res: Response;
    try {
      res = await this.#fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.#headers },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      throw new TransportError(`${method}: cannot reach ${this.url}: ${(e as Error).message}`, { cause: e });
    }
    const text = await res.text().catch((e) => {
      throw new TransportError(`${method}: reading the answer failed: ${(e as Error).message}`, { cause: e, status: res.status });
    });
    let msg: Json;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      throw new TransportError(`${method}: HTTP ${res.status}, not JSON-RPC: ${text.slice(0, 200)}`, { cause: e, status: res.status });
    }
    if (msg && typeof msg === 'object' && msg['error']) throw errorOf(method, msg['error'], hash);
    if (!res.ok || !msg || typeof msg !== 'object' || !('result' in msg)) {
      throw new TransportError(`${method}: HTTP ${res.status}: ${text.slice(0, 200)}`, { status: res.status });
    }
    return msg['result'] as T;
  }

  // ------------------------------------------------------------ reads

  async status(): Promise<Status> {
    const s = toStatus(await this.call<Json>(Method.STATUS, []));
    this.#chainId ??= s.chainId;
    return s;
  }

  async parameters(): Promise<Parameters> {
    return toParameters(await this.call<Json>(Method.GET_PARAMETERS, []));
  }

  /** The chain id (hex), fetched once. */
  async chainId(): Promise<string> {
    if (this.#chainId === undefined) await this.status();
    return this.#chainId!;
  }

  /** An account; throws {@link RpcError} with `isNotFound` if it has none. */
  async getAccount(address: string): Promise<Account> {
    decodeAddress(address);
    return toAccount(await this.call<Json>(Method.GET_ACCOUNT, [address]));
  }

  /** An account, or null if there is none. */
  async findAccount(address: string): Promise<Account | null> {
    try {
      return await this.getAccount(address);
    } catch (e) {
      if (e instanceof RpcError && e.isNotFound) return null;
      throw e;
    }
  }

  /** The balance of one asset in minor units (0 if none). */
  async balance(address: string, asset: string): Promise<bigint> {
    return (await this.getAccount(address)).balances[asset] ?? 0n;
  }

  /**
   * The sequence a new transaction of `address` carries:
   * max(account.sequence, account.next_sequence) as the node reports it.
   */
  async nextSequence(address: string): Promise<bigint> {
    const a = await this.getAccount(address);
    return a.nextSequence > a.sequence ? a.nextSequence : a.sequence;
  }

  /**
   * The hold `holdId` (a bigint or 32 hex digits) of `payer`: open, or
   * ended (how) while its id is remembered (seven days); throws
   * {@link RpcError} with `isNotFound` if there is none (never placed, or
   * its id is forgotten).
   */
  async getHold(payer: string, holdId: TransferIdLike): Promise<Hold> {
    decodeAddress(payer);
    return toHold(await this.call<Json>(Method.GET_HOLD, [{ payer, hold_id: transferIdHex(holdId) }]));
  }

  /**
   * The mandates `account` granted (`hutong_getMandates`), in force or not
   * yet ended; throws {@link RpcError} with `isNotFound` if there is no
   * such account.
   */
  async getMandates(account: string): Promise<Mandate[]> {
    decodeAddress(account);
    const answer = await this.call<Json>(Method.GET_MANDATES, [{ account }]);
    return Array.isArray(answer?.['mandates']) ? answer['mandates'].map(toMandate) : [];
  }

  /**
   * `account` read by the grantee of its read mandate `mandateId`
   * (`hutong_readAccount`): a request signed by `grantee` now (SPEC.md,
   * "Mandates"); the same view as {@link getAccount}.
   */
  async readAccount(account: string, mandateId: U64Like, grantee: Keypair): Promise<Account> {
    decodeAddress(account);
    const id = typeof mandateId === 'bigint' ? Number(mandateId) : mandateId;
    if (!Number.isSafeInteger(id) || id < 0 || BigInt(id) !== BigInt(mandateId)) {
      throw new ValidationError(`mandate id ${String(mandateId)} must be a u64 within JSON's safe integers`);
    }
    const timestampMs = Date.now();
    const signature = signMandateRead(await this.chainId(), account, id, timestampMs, grantee);
    const request = { account, mandate_id: id, grantee_key: grantee.publicKeyHex, timestamp_ms: timestampMs, signature };
    return toAccount(await this.call<Json>(Method.READ_ACCOUNT, [request]));
  }

  async getTransaction(hash: string): Promise<TxStatus> {
    return toTxStatus(await this.call<Json>(Method.GET_TRANSACTION, [hash]));
  }

  async getBlock(query: { height: number } | { id: string }): Promise<Block> {
    return toBlock(await this.call<Json>(Method.GET_BLOCK, [query]));
  }

  // ------------------------------------------------------------ building

  /**
   * A transaction of `sender` with the chain id, the next sequence and a
   * near expiry filled in from the node; sign it with
   * {@link signTransaction}.
   */
  async prepare(sender: Keypair | BytesLike, kind: TxKind, options: PrepareOptions = {}): Promise<Transaction> {
    const senderKey = sender instanceof Keypair ? sender.publicKey : bytesOf(sender, 32, 'sender');
    const [chainId, sequence, expiry] = await Promise.all([
      this.chainId(),
      options.sequence !== undefined ? BigInt(options.sequence) : this.nextSequence(addressOf(senderKey)),
      options.expiry ?? this.status().then((s) => ({ timeMs: BigInt(s.timestampMs) + BigInt(DEFAULT_EXPIRY_MS) })),
    ]);
    const cosigner = options.cosigner instanceof Keypair ? options.cosigner.publicKey : options.cosigner ?? null;
    return { chainId, sender: senderKey, sequence, expiry, kind, cosigner, memo: options.memo ?? new Uint8Array() };
  }

  // ------------------------------------------------------------ sending

  /**
   * Submits one signed transaction. Answers `{status: "pending", hash}`,
   * or `{status: "committed", …}` when the exact bytes were committed
   * already (a retry); throws {@link RejectedError} when refused.
   */
  async submit(tx: Submittable): Promise<SubmitVerdict> {
    const { hex, hash } = rawHex(tx);
    return toVerdict(await this.call<Json>(Method.SUBMIT_TRANSACTION, [hex], hash), hash);
  }

  /**
   * Submits many (at most `sizes.submit_batch_max`, 1,000) in one call; one
   * verdict per item, in order: a rejected item does not stop the others.
   */
  async submitMany(txs: Submittable[]): Promise<SubmitVerdict[]> {
    const items = txs.map(rawHex);
    const answer = await this.call<Json[]>(Method.SUBMIT_TRANSACTIONS, [items.map((i) => i.hex)]);
    if (!Array.isArray(answer) || answer.length !== items.length) {
      throw new TransportError(`${Method.SUBMIT_TRANSACTIONS}: expected ${items.length} verdicts`);
    }
    return answer.map((v, i) => toVerdict(v, items[i]!.hash));
  }

  /** Submits, then waits until final (see {@link wait}). */
  async send(tx: SignedTransaction, options: WaitOptions = {}): Promise<TxStatus> {
    await this.submit(tx);
    return this.wait(tx.hash, options);
  }

  // ------------------------------------------------------------ waiting

  /**
   * Waits until the transaction is final (committed, rejected or
   * dropped), by WebSocket subscription (default; if the socket fails it
   * polls instead) or by polling.
   */
  async wait(hash: string, options: WaitOptions = {}): Promise<TxStatus> {
    if ((options.via ?? 'subscription') === 'subscription') {
      const started = Date.now();
      try {
        return await this.subscribeTransaction(hash, options);
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        const left = (options.timeoutMs ?? 60_000) - (Date.now() - started);
        return this.waitByPolling(hash, { ...options, timeoutMs: Math.max(left, 1) });
      }
    }
    return this.waitByPolling(hash, options);
  }

  /** Polls `hutong_getTransaction` until the transaction is final. */
  async waitByPolling(hash: string, options: WaitOptions = {}): Promise<TxStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const interval = options.pollIntervalMs ?? 250;
    let last: TxStatus | undefined;
    for (;;) {
      last = await this.getTransaction(hash);
      if (isFinal(last)) return last;
      if (Date.now() + interval > deadline) {
        throw new TimeoutError(`transaction ${hash} is still ${last.status} after ${options.timeoutMs ?? 60_000} ms`, last);
      }
      await sleep(interval, options.signal);
    }
  }

  async #webSocket(): Promise<WebSocketConstructor> {
    if (this.#ws) return this.#ws;
    const g = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (g) return g;
    try {
      const mod = await import('ws');
      return (mod.default ?? (mod as unknown as { WebSocket: unknown }).WebSocket) as unknown as WebSocketConstructor;
    } catch (e) {
      throw new TransportError('no WebSocket implementation: install `ws` or pass options.WebSocket', { cause: e });
    }
  }

  /**
   * Subscribes to the transaction (`hutong_subscribeTransaction`, one
   * WebSocket connection) and resolves with its final status.
   */
  async subscribeTransaction(hash: string, options: Pick<WaitOptions, 'timeoutMs' | 'signal'> = {}): Promise<TxStatus> {
    const WS = await this.#webSocket();
    const timeoutMs = options.timeoutMs ?? 60_000;
    return new Promise<TxStatus>((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new WS(this.wsUrl);
      } catch (e) {
        reject(new TransportError(`cannot open ${this.wsUrl}: ${(e as Error).message}`, { cause: e }));
        return;
      }
      let done = false;
      let subscription: unknown;
      const finish = (error: Error | null, status?: TxStatus) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        try {
          ws.close();
        } catch {
          /* already closed */
        }
        if (error) reject(error);
        else resolve(status!);
      };
      const onAbort = () => finish(options.signal!.reason instanceof Error ? options.signal!.reason : new TimeoutError('aborted'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => finish(new TimeoutError(`no final status of ${hash} within ${timeoutMs} ms (subscription)`)), timeoutMs);
      ws.onopen = () => {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: Method.SUBSCRIBE_TRANSACTION, params: [hash] }));
      };
      ws.onmessage = (ev) => {
        let msg: Json;
        try {
          const text = typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer);
          msg = JSON.parse(text);
        } catch {
          return;
        }
        if (msg['id'] === 1) {
          if (msg['error']) finish(errorOf(Method.SUBSCRIBE_TRANSACTION, msg['error']));
          else subscription = msg['result'];
          return;
        }
        const params = msg['params'];
        if (msg['method'] === Method.TRANSACTION_NOTIFICATION && params && (subscription === undefined || params['subscription'] === subscription)) {
          const status = toTxStatus(params['result'] ?? {});
          if (isFinal(status)) finish(null, status);
        }
      };
      ws.onerror = (ev) => finish(new TransportError(`WebSocket ${this.wsUrl} failed: ${ev?.message ?? ev?.error?.message ?? 'error'}`));
      ws.onclose = (ev) => finish(new TransportError(`WebSocket ${this.wsUrl} closed (${ev?.code ?? '?'}) before ${hash} was final`));
    });
  }
}

/**
 * The receipt of a transaction that committed successfully; otherwise
 * throws {@link TransactionFailedError} (a failed receipt, a rejection, a
 * drop) or {@link TimeoutError} (not final).
 */
export function expectSuccess(status: TxStatus): Receipt {
  switch (status.status) {
    case 'committed':
      if (status.receipt?.success) return status.receipt;
      if (!status.receipt) throw new TransactionFailedError(status.hash, 'committed', 'no_receipt', 'committed, but this node has no receipt for it yet');
      throw new TransactionFailedError(status.hash, 'committed', status.receipt.code ?? 'unknown', status.receipt.reason ?? '', status.receipt.failure ?? status.receipt);
    case 'rejected':
      throw new TransactionFailedError(status.hash, 'rejected', status.code, status.message, status.raw);
    case 'dropped':
      throw new TransactionFailedError(status.hash, 'dropped', status.code, status.message, status.raw);
    default:
      throw new TimeoutError(`transaction ${status.hash} is not final (${status.status})`, status);
  }
}
