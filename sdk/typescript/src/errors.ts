/**
 * Errors. Everything the SDK throws is a {@link HutongError}:
 * - {@link RejectedError}: the node refused a transaction on admission
 *   (JSON-RPC error 1001, or 1002 "busy"), with a stable string `code`;
 * - {@link RpcError}: any other JSON-RPC error (numeric `code`, `data`);
 * - {@link TransportError}: the node could not be reached or answered
 *   something that is not JSON-RPC;
 * - {@link TimeoutError}: a wait gave up;
 * - {@link ValidationError}: a transaction or value the SDK refuses to
 *   build (before anything is sent); {@link IdentityError}, one of them,
 *   an identity document the commitment rule refuses;
 * - {@link TransactionFailedError}: a committed transaction whose receipt
 *   is a failure, or a final rejection/drop, from {@link expectSuccess};
 * - {@link PrivacyError}: a step of the identity layer (identity tags,
 *   envelopes, sealed memos) that failed, with a stable string `code`.
 */

export class HutongError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The admission rejection codes a node answers (`data.code` of error 1001).
 * A frozen sender is not among them: its transaction is admitted and fails
 * in its receipt (`sender_frozen`, a {@link FAILURE_CODES} code), its
 * sequence number used.
 */
export const REJECTION_CODES = [
  'too_large',
  'malformed',
  'wrong_chain',
  'bad_signature',
  'unknown_sender',
  'stale_sequence',
  'sequence_too_far',
  'retired_key',
  'expired',
  'sequence_taken',
  'busy',
  'sender_busy',
  'zero_amount',
  'self_transfer',
  // Newer nodes:
  'unknown_asset',
  'cosignature_missing',
  'cosignature_unexpected',
  'cosignature_invalid',
  // Only in a final status (`getTransaction`, subscriptions): another
  // transaction of the sender used the sequence first.
  'sequence_used',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** Execution failure codes of a committed receipt with `success: false`. */
export const FAILURE_CODES = [
  'out_of_bounds',
  'wrong_chain',
  'bad_signature',
  'unknown_sender',
  'bad_sequence',
  'expired',
  'zero_amount',
  'self_transfer',
  'unknown_asset',
  'unknown_account',
  'unknown_tier',
  'sender_frozen',
  'recipient_frozen',
  'unauthorised',
  'account_exists',
  'weak_key',
  'already_frozen',
  'not_frozen',
  'asset_not_allowed',
  'single_limit_exceeded',
  'daily_limit_exceeded',
  'step_up_required',
  'insufficient_balance',
  'overflow',
  'exists',
  'exists_with_different_fields',
  'retired_key',
  'unknown_proposal',
  'voting_closed',
  'proposal_closed',
  'bad_voting_period',
  'too_many_proposals',
  'invalid_action',
  // Newer nodes:
  'cosigner_not_institution',
  // Holds, amount freezes and receive-only/send-only accounts (newer nodes):
  'bad_expiry',
  'unknown_hold',
  'hold_closed',
  'hold_exists',
  'capture_exceeds_hold',
  'too_many_holds',
  'payer_frozen',
  'restricted',
  'not_restricted',
  'unknown_freeze',
  'freeze_exists',
  'too_many_freezes',
  // Device keys:
  'device_scope',
  'unknown_device',
  // Payment versus payment (FX quotes):
  'not_fx_provider',
  'bad_quote_signature',
  'bad_quote',
  'quote_expired',
  'quote_used',
  'quote_not_for_payer',
  'outside_quote',
  'slippage',
  // Mandates:
  'unknown_mandate',
  'mandate_exists',
  'too_many_mandates',
  'bad_mandate',
  'mandate_inactive',
  'mandate_scope',
  'mandate_limit',
  // The identity layer (SPEC.md section 9): an `open_account` without an
  // identity envelope on a chain with an identity service (`required`
  // true), or with one on a chain without (`required` false); a listing
  // key listed already (`listed_by`), or not listed; a memo in clear on a
  // chain with an identity service.
  'identity_envelope',
  'already_listed',
  'not_listed',
  'memo_not_sealed',
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

/** JSON-RPC error codes of the Hutong node. */
export const RpcCode = {
  INVALID_PARAMS: -32602,
  REJECTED: 1001,
  BUSY: 1002,
  NOT_FOUND: 1003,
  INTERNAL: 1004,
  TOO_MANY: 1005,
  /**
   * A signed request refused (an audit request, `hutong_identityEvaluate`,
   * `hutong_readMemo`); `data.code`: `unknown_key`, `bad_signature`,
   * `stale`, `replayed`, `unauthenticated`, `busy`, or `rate_limited`
   * (identity evaluations past the key's limit per minute).
   */
  AUTH: 1010,
  /** An audit method, or `hutong_identityEvaluate`, asked of a node that is not a regulator's. */
  NOT_REGULATOR: 1011,
  /** A subscription method called over plain HTTP: use WebSocket. */
  NEEDS_WEBSOCKET: 1012,
  /**
   * `hutong_readAccount` refused the read request; `data.code`:
   * `unknown_mandate`, `mandate_scope`, `mandate_inactive`,
   * `bad_signature` or `stale`.
   */
  MANDATE: 1013,
} as const;

/** A JSON-RPC error answer other than a transaction's rejection. */
export class RpcError extends HutongError {
  readonly code: number;
  readonly data: unknown;
  readonly method: string;
  constructor(method: string, code: number, message: string, data?: unknown) {
    super(`${method}: JSON-RPC error ${code}: ${message}`);
    this.method = method;
    this.code = code;
    this.data = data;
  }
  /** The node has no such account, block, proposal, hold or mandate (1003). */
  get isNotFound(): boolean {
    return this.code === RpcCode.NOT_FOUND;
  }
}

/**
 * A transaction the node did not admit. `code` is the stable rejection
 * code (see {@link REJECTION_CODES}; an unknown code is kept as is),
 * `retryable` says whether the same bytes may be admitted later.
 */
export class RejectedError extends HutongError {
  readonly code: RejectionCode | (string & {});
  readonly retryable: boolean;
  readonly reason: string;
  /** The JSON-RPC error code (1001, or 1002 when the node is busy). */
  readonly rpcCode: number;
  /** The transaction id, when known. */
  readonly hash: string | undefined;
  /** The whole `data` object the node sent (it may hold more fields). */
  readonly data: Record<string, unknown>;
  constructor(code: string, retryable: boolean, message: string, rpcCode: number = RpcCode.REJECTED, hash?: string, data?: Record<string, unknown>) {
    super(`transaction rejected (${code}${retryable ? ', retryable' : ''}): ${message}`);
    this.code = code;
    this.retryable = retryable;
    this.reason = message;
    this.rpcCode = rpcCode;
    this.hash = hash;
    this.data = data ?? { code, retryable, message };
  }
}

/** The node could not be reached, or its answer was not JSON-RPC. */
export class TransportError extends HutongError {
  readonly status: number | undefined;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options);
    this.status = options?.status;
  }
}

/** A wait for a transaction's finality gave up. `last` is the last status seen. */
export class TimeoutError extends HutongError {
  readonly last: unknown;
  constructor(message: string, last?: unknown) {
    super(message);
    this.last = last;
  }
}

/** A value or transaction the SDK refuses to build. */
export class ValidationError extends HutongError {}

/**
 * An identity document type or number that cannot be normalised, or an
 * identity salt that is not 32 bytes (SPEC.md, "Opening an account").
 * `field` says which input; `value` is that input as given.
 */
export class IdentityError extends ValidationError {
  readonly field: 'idType' | 'idNumber' | 'salt';
  readonly value: unknown;
  constructor(field: 'idType' | 'idNumber' | 'salt', value: unknown, message: string) {
    super(message);
    this.field = field;
    this.value = value;
  }
}

/**
 * A transaction that reached a final state other than a successful
 * receipt: `status` is `committed` (with a failed receipt: `code` is the
 * receipt's failure code), `rejected` or `dropped` (`code` is the node's).
 */
export class TransactionFailedError extends HutongError {
  readonly hash: string;
  readonly status: string;
  readonly code: FailureCode | RejectionCode | (string & {});
  readonly detail: unknown;
  constructor(hash: string, status: string, code: string, message: string, detail?: unknown) {
    super(`transaction ${hash} ${status} (${code}): ${message}`);
    this.hash = hash;
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/**
 * The stable codes of {@link PrivacyError}, the same strings as the Rust
 * implementation's (`hutong_privacy::PrivacyError::code`).
 */
export const PRIVACY_ERROR_CODES = [
  /** An identity that is not `TYPE:NUMBER`, or whose type or number the rule refuses (SPEC.md section 7). */
  'bad_identity',
  /** Bytes that are not a valid encoding: a point, a proof, an envelope's or a memo's length, a key. */
  'malformed',
  /** The regulator's evaluation does not verify against the OPRF key of the ledger's parameters: a wrong key, or a tampered or replayed answer. */
  'unverified_evaluation',
  /** An envelope or memo that this key does not open: sealed to another key, for another account, chain or transaction, or altered. */
  'undecryptable',
  /** An identity envelope that opens, but to a tag and salt whose binding is not the account's commitment. */
  'commitment_mismatch',
  /** A memo with no reader, or more than 4. */
  'bad_readers',
  /** A memo whose sealed form is longer than the chain's memo limit. */
  'memo_too_long',
] as const;
export type PrivacyErrorCode = (typeof PRIVACY_ERROR_CODES)[number];

/**
 * A step of the identity layer that failed (SPEC.md section 9): `code` is
 * one of {@link PRIVACY_ERROR_CODES}; `detail` holds the values involved
 * by name (`got`, `max`, `len`, `what`) where there are any. Every one is
 * permanent: the same inputs fail the same way.
 */
export class PrivacyError extends HutongError {
  readonly code: PrivacyErrorCode;
  readonly detail: Record<string, unknown>;
  constructor(code: PrivacyErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(`${message} (${code})`, options);
    this.code = code;
    this.detail = detail;
  }
}
