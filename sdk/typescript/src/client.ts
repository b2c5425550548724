/**
 * The JSON-RPC client: reads (status, parameters, accounts,
 * transactions, blocks), submission (one, or many with one verdict each),
 * waiting for finality by polling or by WebSocket subscription, and the
 * identity layer (identity tags from the regulator's node, accounts opened
 * with an identity envelope, the shared blacklist, sealed memos).
 */

import { bytesOf, toHex, type BytesLike } from './bytes.js';
import { PrivacyError, RejectedError, RpcCode, RpcError, TimeoutError, TransactionFailedError, TransportError, ValidationError } from './errors.js';
import { addressOf, decodeAddress } from './address.js';
import { Keypair } from './keys.js';
import { SignedTransaction, signMandateRead, transferIdHex, type Expiry, type Transaction, type TransferIdLike, type TxKind, type U64Like } from './tx.js';
import { blind, finalize, identityInput, IDENTITY_EVALUATE_BATCH_MAX, OPRF_ELEMENT_BYTES, OPRF_PROOF_BYTES } from './oprf.js';
import { listingKey, memoContext, memoCounterparties, memoReaderKeys, sealIdentity, sealMemo } from './privacy.js';
import { identityEvaluateQuery, signAuditRequest, signReadMemo } from './signed.js';
import {
  isFinal,
  toAccount,
  toBlock,
  toHold,
  toListing,
  toMandate,
  toMemoKeys,
  toMemoText,
  toParameters,
  toStatus,
  toTxStatus,
  toVerdict,
  type Account,
  type Block,
  type Hold,
  type IdentityKeys,
  type Listing,
  type Mandate,
  type MemoKeys,
  type MemoText,
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
  /** The regulator's node only: OPRF evaluation of blinded identities (a signed request). */
  IDENTITY_EVALUATE: 'hutong_identityEvaluate',
  CHECK_LISTING: 'hutong_checkListing',
  GET_MEMO_KEYS: 'hutong_getMemoKeys',
  /** A node holding its institution's memo key: a memo's text, to the transaction's parties (a signed request). */
  READ_MEMO: 'hutong_readMemo',
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
  /**
   * The memo's text (bytes, or a string as UTF-8). On a chain with an
   * identity service it is sealed to its readers (see
   * {@link HutongClient.prepare}); the transaction then carries the sealed
   * memo, bound to its chain, sender and sequence.
   */
  memo?: Uint8Array | string;
  /**
   * `false` leaves the memo in clear even on a chain with an identity
   * service (which fails it, `memo_not_sealed`: for tests). Default true.
   */
  sealMemo?: boolean;
}

/** The regulator's answer to `hutong_identityEvaluate`. */
export interface Evaluation {
  /** One evaluated element (32 bytes) per blinded one, in order. */
  elements: Uint8Array[];
  /** One proof (64 bytes) for all of them. */
  proof: Uint8Array;
  /** Evaluations the key may still ask for this minute. */
  remainingThisMinute: number;
}

/** What {@link HutongClient.openAccountWithIdentity} builds. */
export interface IdentityOpening {
  /** The `open_account` kind: the binding commitment and the identity envelope. */
  kind: Extract<TxKind, { type: 'open_account' }>;
  /** The salt sealed in the envelope (32 bytes): keep it with the KYC record. */
  salt: Uint8Array;
  /** The identity's listing key on the shared blacklist (32 bytes). */
  listingKey: Uint8Array;
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

/** Most accounts one `hutong_getMemoKeys` call names. */
export const MEMO_KEYS_ACCOUNTS_MAX = 16;

/** Default expiry: this much block time past the node's last block. */
export const DEFAULT_EXPIRY_MS = 5 * 60 * 1000;

export class HutongClient {
  readonly url: string;
  readonly wsUrl: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #ws: WebSocketConstructor | undefined;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #options: ClientOptions;
  #nextId = 1;
  #chainId: string | undefined;
  /** The identity keys and the memo limit: set at genesis (a new key would change every tag), read once. */
  #identity: Promise<{ identity: IdentityKeys | null; memoBytesMax: number }> | undefined;
  /** The regulator's node clock minus ours, learnt from a `stale` refusal. */
  #clockOffsetMs = 0;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.wsUrl = options.wsUrl ?? url.replace(/^http(s?):\/\//i, 'ws$1://');
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new ValidationError('no fetch implementation: pass options.fetch');
    this.#fetch = f.bind(globalThis);
    this.#ws = options.WebSocket;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#headers = options.headers ?? {};
    this.#options = options;
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

  // ------------------------------------------------------------ identity layer

  async #identityParameters(): Promise<{ identity: IdentityKeys | null; memoBytesMax: number }> {
    this.#identity ??= this.parameters().then(
      (p) => ({ identity: p.identity, memoBytesMax: p.sizes.memoBytesMax }),
      (e) => {
        this.#identity = undefined; // a failed read is retried next time
        throw e;
      },
    );
    return this.#identity;
  }

  /** The identity keys of the ledger's parameters, or a {@link ValidationError} naming the chain's lack of them. */
  async #identityKeys(): Promise<IdentityKeys> {
    const { identity } = await this.#identityParameters();
    if (!identity) throw new ValidationError(`the chain of ${this.url} has no identity service (its parameters name no identity keys)`);
    return identity;
  }

  /**
   * Asks this node, the regulator's, to evaluate `blinded` (1 to 64
   * blinded identities from {@link blind}) with its OPRF key
   * (`hutong_identityEvaluate`): a request signed by `key`, a member
   * institution's key (or a regulator's), like an audit request. Each
   * element counts against the key's limit per minute, and the request is
   * in the regulator's audit log. The answer is not checked here: pass it
   * to {@link finalize} with the ledger's OPRF key, or use
   * {@link identityTags}, which does.
   *
   * Throws {@link RpcError}: 1010 with `data.code` `rate_limited`,
   * `unknown_key`, `bad_signature`, `stale`, `replayed`; 1011 on a node
   * that is not a regulator's; 1003 when it runs no identity service. A
   * `stale` refusal (this computer's clock a minute off the node's) is
   * signed again once with the node's time.
   */
  async identityEvaluate(key: Keypair, blinded: BytesLike[]): Promise<Evaluation> {
    if (!Array.isArray(blinded) || blinded.length === 0 || blinded.length > IDENTITY_EVALUATE_BATCH_MAX) {
      throw new ValidationError(`an evaluation request has 1 to ${IDENTITY_EVALUATE_BATCH_MAX} blinded identities, not ${Array.isArray(blinded) ? blinded.length : 0}`);
    }
    const chainId = await this.chainId();
    const { query, text } = identityEvaluateQuery(blinded);
    for (let attempt = 0; ; attempt++) {
      const auth = signAuditRequest(chainId, Method.IDENTITY_EVALUATE, text, key, { timestampMs: Date.now() + this.#clockOffsetMs });
      let answer: Json;
      try {
        answer = await this.call<Json>(Method.IDENTITY_EVALUATE, { query, auth });
      } catch (e) {
        const data = e instanceof RpcError && e.code === RpcCode.AUTH ? (e.data as Json | undefined) : undefined;
        const nodeNow = data?.['code'] === 'stale' ? /node's clock (\d+)/.exec(String(data['message'] ?? (e as Error).message)) : null;
        if (attempt === 0 && nodeNow) {
          this.#clockOffsetMs = Number(nodeNow[1]) - Date.now();
          continue;
        }
        throw e;
      }
      const hex = (v: unknown, n: number, what: string): Uint8Array => {
        try {
          return bytesOf(String(v), n, what);
        } catch (e) {
          throw new PrivacyError('malformed', `${Method.IDENTITY_EVALUATE} answered ${what} that is not ${n} bytes of hex`, { what }, { cause: e });
        }
      };
      const elements = Array.isArray(answer?.['elements']) ? answer['elements'] : [];
      return {
        elements: elements.map((e: unknown, i: number) => hex(e, OPRF_ELEMENT_BYTES, `element ${i}`)),
        proof: hex(answer?.['proof'], OPRF_PROOF_BYTES, 'proof'),
        remainingThisMinute: typeof answer?.['remaining_this_minute'] === 'number' ? answer['remaining_this_minute'] : 0,
      };
    }
  }

  /**
   * The identity tags (64 bytes each, in order) of `identities`, each
   * written `TYPE:NUMBER` (SPEC.md section 9): blinded here, evaluated by
   * the regulator's node at `regulator` (its RPC URL, or a client of it)
   * under `key`'s signature, 64 to a request, and each answer's proof
   * checked against the OPRF key of this node's parameters (the ledger's,
   * never the evaluating node's) before it is unblinded. Throws
   * {@link PrivacyError} `bad_identity` (before anything is sent) or
   * `unverified_evaluation`; {@link ValidationError} if this chain has no
   * identity service or the regulator's node is on another chain.
   */
  async identityTags(key: Keypair, identities: string[], regulator: string | HutongClient): Promise<Uint8Array[]> {
    const inputs = identities.map(identityInput);
    const { oprfKey } = await this.#identityKeys();
    const node = typeof regulator === 'string' ? new HutongClient(regulator, { ...this.#options, wsUrl: undefined }) : regulator;
    const [ours, theirs] = await Promise.all([this.chainId(), node.chainId()]);
    if (ours !== theirs) throw new ValidationError(`the regulator's node ${node.url} is on chain ${theirs}, not ${ours}`);
    const tags: Uint8Array[] = [];
    for (let at = 0; at < inputs.length; at += IDENTITY_EVALUATE_BATCH_MAX) {
      const chunk = inputs.slice(at, at + IDENTITY_EVALUATE_BATCH_MAX);
      const blinded = chunk.map((x) => blind(x));
      const answer = await node.identityEvaluate(key, blinded.map((b) => b.blinded));
      tags.push(...finalize(blinded.map((b) => b.state), chunk, answer.elements, answer.proof, oprfKey));
    }
    return tags;
  }

  /**
   * The `open_account` kind for the customer whose identity tag is `tag`
   * ({@link identityTags}), on a chain with an identity service: a fresh
   * salt, the binding commitment, and the envelope sealed to the
   * regulator's HPKE key of the ledger's parameters, bound to this chain
   * and to `owner` (the new account's public key). Prepare and sign it
   * with the institution's key; keep `salt` with the KYC record.
   */
  async openAccountWithIdentity(owner: Keypair | BytesLike, tier: number, tag: BytesLike): Promise<IdentityOpening> {
    const ownerKey = owner instanceof Keypair ? owner.publicKey : bytesOf(owner, 32, 'owner');
    const [chainId, { hpkeKey }] = await Promise.all([this.chainId(), this.#identityKeys()]);
    const sealed = sealIdentity(hpkeKey, chainId, ownerKey, tag);
    return {
      kind: { type: 'open_account', owner: ownerKey, tier, identityCommitment: sealed.commitment, identityEnvelope: sealed.envelope },
      salt: sealed.salt,
      listingKey: listingKey(tag),
    };
  }

  /**
   * Whether `listingKey` (32 bytes: `listingKey(tag)`) is on the shared
   * blacklist (`hutong_checkListing`), by whom, why and since when.
   */
  async checkListing(key: BytesLike): Promise<Listing> {
    return toListing(await this.call<Json>(Method.CHECK_LISTING, { listing_key: toHex(bytesOf(key, 32, 'listing key')) }));
  }

  /**
   * The memo readers' keys for a memo between `accounts` (1 to 16
   * addresses, `ht1…`, each with an account): each account's institution
   * and its memo key (null when it published none), and the regulator's
   * key (`hutong_getMemoKeys`; {@link RpcError} 1003 for an address with
   * no account).
   */
  async getMemoKeys(accounts: string[]): Promise<MemoKeys> {
    if (!Array.isArray(accounts) || accounts.length === 0 || accounts.length > MEMO_KEYS_ACCOUNTS_MAX) {
      throw new ValidationError(`getMemoKeys names 1 to ${MEMO_KEYS_ACCOUNTS_MAX} accounts, not ${Array.isArray(accounts) ? accounts.length : 0}`);
    }
    for (const a of accounts) decodeAddress(a);
    return toMemoKeys(await this.call<Json>(Method.GET_MEMO_KEYS, { accounts }));
  }

  /**
   * The text of transaction `txHash`'s memo, opened by this node with its
   * institution's memo key (`hutong_readMemo`): a request signed now by
   * `key`, the transaction's sender's or recipient's account key (or its
   * institution's key). Throws {@link RpcError} 1010 when `key` is not a
   * party's, 1003 when this node cannot open the memo.
   */
  async readMemo(txHash: string, key: Keypair): Promise<MemoText> {
    const hash = toHex(bytesOf(txHash, 32, 'transaction hash'));
    const timestampMs = Date.now();
    const signature = signReadMemo(await this.chainId(), hash, timestampMs, key);
    return toMemoText(await this.call<Json>(Method.READ_MEMO, [{ tx_hash: hash, key: key.publicKeyHex, timestamp_ms: timestampMs, signature }]));
  }

  // ------------------------------------------------------------ building

  /**
   * A transaction of `sender` with the chain id, the next sequence and a
   * near expiry filled in from the node; sign it with
   * {@link signTransaction}.
   *
   * On a chain with an identity service (`parameters().identity`), a
   * non-empty `options.memo` is sealed (SPEC.md, "Sealed memos") to the
   * readers `hutong_getMemoKeys` names for the sender and the
   * transaction's counterparties ({@link memoCounterparties}): their
   * institutions that published a memo key, and the regulator, each once;
   * under `memoContext(chainId, sender, sequence)`. Change the sequence
   * afterwards and the memo no longer opens: prepare again instead.
   * Throws {@link PrivacyError} `memo_too_long` when the sealed memo would
   * pass the chain's limit, `bad_readers` past four readers.
   */
  async prepare(sender: Keypair | BytesLike, kind: TxKind, options: PrepareOptions = {}): Promise<Transaction> {
    const senderKey = sender instanceof Keypair ? sender.publicKey : bytesOf(sender, 32, 'sender');
    const [chainId, sequence, expiry] = await Promise.all([
      this.chainId(),
      options.sequence !== undefined ? BigInt(options.sequence) : this.nextSequence(addressOf(senderKey)),
      options.expiry ?? this.status().then((s) => ({ timeMs: BigInt(s.timestampMs) + BigInt(DEFAULT_EXPIRY_MS) })),
    ]);
    const cosigner = options.cosigner instanceof Keypair ? options.cosigner.publicKey : options.cosigner ?? null;
    let memo: Uint8Array | string = options.memo ?? new Uint8Array();
    if (memo.length > 0 && options.sealMemo !== false) {
      const { identity, memoBytesMax } = await this.#identityParameters();
      if (identity) {
        // A memo has at most four readers, so more counterparties than the
        // node names in one call could never all read it anyway.
        const counterparties = memoCounterparties(kind).slice(0, MEMO_KEYS_ACCOUNTS_MAX - 1);
        const readers = memoReaderKeys(await this.getMemoKeys([addressOf(senderKey), ...counterparties]), identity.hpkeKey);
        memo = sealMemo(readers, memoContext(chainId, senderKey, sequence), memo, memoBytesMax);
      }
    }
    return { chainId, sender: senderKey, sequence, expiry, kind, cosigner, memo };
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
