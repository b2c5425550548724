/**
 * The identity layer's values and envelopes (SPEC.md section 9), with no
 * network: what an identity tag derives, the identity envelope of an
 * `open_account`, and sealed memos. Identity tags themselves come from the
 * regulator's node through the OPRF of `oprf.ts`
 * (`HutongClient.identityTags`).
 *
 * ```text
 * listing key  = tagged("hutong/blacklist/v1", tag)                   the shared blacklist
 * owner id     = tagged("hutong/owner/v1", tag)                       the regulator's index of accounts
 * commitment   = tagged("hutong/identity-binding/v1", tag ‖ salt)     an open_account's identity_commitment
 *
 * envelope     = enc (32) ‖ HPKE ciphertext of tag (64) ‖ salt (32), with its 16-byte tag   = 144 bytes
 *                to the regulator's hpke_key, info "hutong/identity-envelope/v1", aad chain id ‖ owner key
 *
 * sealed memo  = 0x01 ‖ n (1 to 4) ‖ n × (enc (32) ‖ HPKE ciphertext of key (32 + 16)) ‖ body (text + 16)
 *                each reader's slot: info "hutong/memo/v1", aad context; key: 32 random bytes, used once
 * body         = ChaCha20-Poly1305(key, nonce 12 zero bytes, aad context) of the text
 * context      = tagged("hutong/memo-context/v1", chain id ‖ sender key ‖ sequence (u64 LE))
 * ```
 *
 * Every failure is a {@link PrivacyError} with the Rust implementation's
 * code (`node/privacy`).
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesOf, concatBytes, equalBytes, utf8, type BytesLike } from './bytes.js';
import { tagged } from './crypto.js';
import { PrivacyError } from './errors.js';
import { HPKE_KEY_BYTES, HPKE_TAG_BYTES, hpkeDeriveKeyPair, hpkeOpen, hpkeSeal, type HpkeKeyPair } from './hpke.js';
import { IDENTITY_TAG_BYTES } from './oprf.js';
import { IDENTITY_ENVELOPE_BYTES, MEMO_BYTES_MAX, type TxKind, type U64Like } from './tx.js';
import { Writer } from './borsh.js';
import { addressBytes, encodeAddress, type AddressLike } from './address.js';
import type { MemoKeys } from './views.js';

export const TAG_LISTING_KEY = 'hutong/blacklist/v1';
export const TAG_OWNER_ID = 'hutong/owner/v1';
export const TAG_IDENTITY_BINDING = 'hutong/identity-binding/v1';
export const TAG_MEMO_CONTEXT = 'hutong/memo-context/v1';
/** The domain tag an institution's memo key is derived under from its seed. */
export const TAG_MEMO_KEY = 'hutong/memo-key/v1';
/** The domain tag the regulator's HPKE key is derived under from its identity seed. */
export const TAG_IDENTITY_HPKE_KEY = 'hutong/identity/hpke-key/v1';
/** HPKE `info` of an identity envelope. */
export const IDENTITY_ENVELOPE_INFO = 'hutong/identity-envelope/v1';
/** HPKE `info` of each reader's slot of a sealed memo. */
export const MEMO_INFO = 'hutong/memo/v1';
/** The first byte of a sealed memo. */
export const SEALED_MEMO_VERSION = 1;
/** Most readers of one memo: the two institutions and the regulator, and room for one more. */
export const MEMO_READERS_MAX = 4;
/** Bytes one reader adds to a sealed memo: its encapsulated key (32) and the memo's key sealed to it (32 + 16). */
export const MEMO_READER_BYTES = HPKE_KEY_BYTES + 32 + HPKE_TAG_BYTES;
/** Bytes of the salt an identity envelope seals beside the tag. */
export const BINDING_SALT_BYTES = 32;

const IDENTITY_INFO_BYTES = utf8.encode(IDENTITY_ENVELOPE_INFO);
const MEMO_INFO_BYTES = utf8.encode(MEMO_INFO);
const ZERO_NONCE = new Uint8Array(12);

/** `value` as `n` bytes, or {@link PrivacyError} `malformed` naming `what`. */
function fixed(value: BytesLike, n: number, what: string): Uint8Array {
  try {
    return bytesOf(value, n, what);
  } catch (e) {
    throw new PrivacyError('malformed', (e as Error).message, { what }, { cause: e });
  }
}

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

// ------------------------------------------------------------------ values of a tag

/**
 * The key under which the shared blacklist lists the identity of `tag`
 * (`tagged("hutong/blacklist/v1", tag)`, 32 bytes): what `list_identity`
 * and `HutongClient.checkListing` take.
 */
export function listingKey(tag: BytesLike): Uint8Array {
  return tagged(TAG_LISTING_KEY, fixed(tag, IDENTITY_TAG_BYTES, 'identity tag'));
}

/** The owner id the regulator's node indexes accounts by (`tagged("hutong/owner/v1", tag)`, 32 bytes). */
export function ownerId(tag: BytesLike): Uint8Array {
  return tagged(TAG_OWNER_ID, fixed(tag, IDENTITY_TAG_BYTES, 'identity tag'));
}

/**
 * The binding commitment of `tag` under `salt` (32 bytes):
 * `tagged("hutong/identity-binding/v1", tag ‖ salt)`, an `open_account`'s
 * `identityCommitment` on a chain with an identity service. A fresh salt
 * per account makes two accounts of one person unlinkable on the ledger.
 */
export function binding(tag: BytesLike, salt: BytesLike): Uint8Array {
  return tagged(TAG_IDENTITY_BINDING, concatBytes(fixed(tag, IDENTITY_TAG_BYTES, 'identity tag'), fixed(salt, BINDING_SALT_BYTES, 'salt')));
}

// ------------------------------------------------------------------ keys from seeds

/**
 * An institution's memo key pair from its 32-byte memo seed (the secret of
 * its `<member>.memo.key` file): RFC 9180 DeriveKeyPair of
 * `tagged("hutong/memo-key/v1", seed)`. Its public key is what
 * `set_memo_key` publishes; its secret opens the institution's memos.
 */
export function memoKeyFromSeed(seed: BytesLike): HpkeKeyPair {
  return hpkeDeriveKeyPair(tagged(TAG_MEMO_KEY, fixed(seed, 32, 'memo seed')));
}

/**
 * The regulator's HPKE key pair from its 32-byte identity seed
 * (`[audit] identity_key`): RFC 9180 DeriveKeyPair of
 * `tagged("hutong/identity/hpke-key/v1", seed)`. Its public key is the
 * parameters' `identity.hpke_key`.
 */
export function identityHpkeKeyFromSeed(seed: BytesLike): HpkeKeyPair {
  return hpkeDeriveKeyPair(tagged(TAG_IDENTITY_HPKE_KEY, fixed(seed, 32, 'identity seed')));
}

// ------------------------------------------------------------------ the identity envelope

function identityAad(chainId: BytesLike, owner: BytesLike): Uint8Array {
  return concatBytes(fixed(chainId, 32, 'chain id'), fixed(owner, 32, 'owner public key'));
}

/** What {@link sealIdentity} makes: the envelope and commitment an `open_account` carries, and the salt to keep. */
export interface SealedIdentity {
  /** 144 bytes: `open_account.identityEnvelope`. */
  envelope: Uint8Array;
  /** 32 bytes: `open_account.identityCommitment`, the binding of the tag and `salt`. */
  commitment: Uint8Array;
  /** The 32-byte salt sealed in the envelope. Keep it with the KYC record; it never goes on chain in clear. */
  salt: Uint8Array;
}

/**
 * Seals `tag` and a fresh salt to the regulator's HPKE key (`hpkePublic`,
 * the parameters' `identity.hpke_key`) for the account of `ownerPublicKey`
 * (the new account's key) on `chainId`: the envelope and the commitment of
 * an `open_account`. The associated data binds it to that chain and key,
 * so a copy in another account or chain does not open. `options.salt`
 * gives the salt instead (32 bytes; never reuse one).
 */
export function sealIdentity(hpkePublic: BytesLike, chainId: BytesLike, ownerPublicKey: BytesLike, tag: BytesLike, options: { salt?: BytesLike } = {}): SealedIdentity {
  const t = fixed(tag, IDENTITY_TAG_BYTES, 'identity tag');
  const salt = options.salt === undefined ? randomBytes(BINDING_SALT_BYTES) : fixed(options.salt, BINDING_SALT_BYTES, 'salt').slice();
  const plain = concatBytes(t, salt);
  const { enc, ciphertext } = hpkeSeal(fixed(hpkePublic, HPKE_KEY_BYTES, "regulator's HPKE key"), IDENTITY_INFO_BYTES, identityAad(chainId, ownerPublicKey), plain);
  plain.fill(0);
  return { envelope: concatBytes(enc, ciphertext), commitment: binding(t, salt), salt };
}

/**
 * Opens an identity envelope with the regulator's HPKE secret key and
 * checks it against the account's commitment: the 64-byte tag. Throws
 * {@link PrivacyError}: `malformed` (not 144 bytes), `undecryptable`
 * (another key, account or chain, or altered), `commitment_mismatch` (it
 * opens, but to a tag and salt whose binding is not `commitment`).
 */
export function openIdentity(hpkeSecret: BytesLike, chainId: BytesLike, ownerPublicKey: BytesLike, envelope: BytesLike, commitment: BytesLike): Uint8Array {
  const env = fixed(envelope, IDENTITY_ENVELOPE_BYTES, 'identity envelope');
  const expected = fixed(commitment, 32, 'identity commitment');
  const plain = hpkeOpen(
    fixed(hpkeSecret, HPKE_KEY_BYTES, 'HPKE secret key'),
    env.subarray(0, HPKE_KEY_BYTES),
    IDENTITY_INFO_BYTES,
    identityAad(chainId, ownerPublicKey),
    env.subarray(HPKE_KEY_BYTES),
  );
  const tag = plain.slice(0, IDENTITY_TAG_BYTES);
  const ok = equalBytes(binding(tag, plain.subarray(IDENTITY_TAG_BYTES)), expected);
  plain.fill(0);
  if (!ok) {
    throw new PrivacyError('commitment_mismatch', "the envelope's tag and salt do not match the account's identity commitment", { commitment: expected });
  }
  return tag;
}

// ------------------------------------------------------------------ sealed memos

/**
 * The context a transaction's memo is sealed under:
 * `tagged("hutong/memo-context/v1", chain id ‖ sender public key ‖
 * sequence (u64 little-endian))`, 32 bytes. It binds the memo to the one
 * transaction its sender signs with that sequence number.
 */
export function memoContext(chainId: BytesLike, senderPublicKey: BytesLike, sequence: U64Like): Uint8Array {
  const w = new Writer();
  w.fixed(fixed(chainId, 32, 'chain id'), 32);
  w.fixed(fixed(senderPublicKey, 32, 'sender public key'), 32);
  const seq = typeof sequence === 'number' && Number.isSafeInteger(sequence) ? BigInt(sequence) : sequence;
  try {
    w.u64(seq as bigint, 'sequence');
  } catch (e) {
    throw new PrivacyError('malformed', `sequence ${String(sequence)} is not a u64`, { what: 'sequence' }, { cause: e });
  }
  return tagged(TAG_MEMO_CONTEXT, w.toBytes());
}

/** Bytes of a sealed memo of `textBytes` bytes of text for `readers` readers. */
export function sealedMemoLength(textBytes: number, readers: number): number {
  return 2 + readers * MEMO_READER_BYTES + textBytes + HPKE_TAG_BYTES;
}

function memoText(text: Uint8Array | string): Uint8Array {
  if (typeof text === 'string') return utf8.encode(text);
  if (text instanceof Uint8Array) return text;
  throw new PrivacyError('malformed', 'a memo text is bytes or a string', { what: 'memo text' });
}

/**
 * Seals `text` (bytes, or a string as UTF-8) to each of `readers` (1 to 4
 * X25519 public keys, 32 bytes each), bound to `context`
 * ({@link memoContext}). `maxBytes` bounds the sealed memo (the chain's
 * `sizes.memo_bytes_max`, 512). Throws {@link PrivacyError}
 * `bad_readers`, `memo_too_long` (`detail.max`: the most text that fits
 * with this many readers) or `malformed` (a key X25519 refuses).
 */
export function sealMemo(readers: BytesLike[], context: BytesLike, text: Uint8Array | string, maxBytes: number = MEMO_BYTES_MAX): Uint8Array {
  if (!Array.isArray(readers) || readers.length === 0 || readers.length > MEMO_READERS_MAX) {
    const got = Array.isArray(readers) ? readers.length : 0;
    throw new PrivacyError('bad_readers', `a memo has 1 to ${MEMO_READERS_MAX} readers, not ${got}`, { got, max: MEMO_READERS_MAX });
  }
  const keys = readers.map((r, i) => fixed(r, HPKE_KEY_BYTES, `reader ${i}'s key`));
  const ctx = bytesOf(context, undefined, 'memo context');
  const body = memoText(text);
  const total = sealedMemoLength(body.length, keys.length);
  if (total > maxBytes) {
    const max = Math.max(0, maxBytes - sealedMemoLength(0, keys.length));
    throw new PrivacyError('memo_too_long', `a memo of ${body.length} bytes is longer than ${max}, the most that fits ${maxBytes} bytes sealed to ${keys.length} readers`, { len: body.length, max });
  }
  const key = randomBytes(32);
  const parts: Uint8Array[] = [Uint8Array.of(SEALED_MEMO_VERSION, keys.length)];
  try {
    for (const pk of keys) {
      const { enc, ciphertext } = hpkeSeal(pk, MEMO_INFO_BYTES, ctx, key);
      parts.push(enc, ciphertext);
    }
    // The key is used for this one body only, so the zero nonce never repeats under it.
    parts.push(chacha20poly1305(key, ZERO_NONCE, ctx).encrypt(body));
  } finally {
    key.fill(0);
  }
  return concatBytes(...parts);
}

/** How many readers a sealed memo has, after checking its structure (what the ledger checks). */
function readersOf(memo: Uint8Array): number {
  if (memo.length === 0) throw new PrivacyError('malformed', 'a sealed memo is not empty', { what: 'sealed memo' });
  if (memo[0] !== SEALED_MEMO_VERSION) {
    throw new PrivacyError('malformed', `sealed memo version ${memo[0]}, expected ${SEALED_MEMO_VERSION}`, { what: 'sealed memo' });
  }
  if (memo.length < 2) throw new PrivacyError('malformed', 'a sealed memo names its readers', { what: 'sealed memo' });
  const n = memo[1]!;
  if (n === 0 || n > MEMO_READERS_MAX) {
    throw new PrivacyError('bad_readers', `a memo has 1 to ${MEMO_READERS_MAX} readers, not ${n}`, { got: n, max: MEMO_READERS_MAX });
  }
  if (memo.length < sealedMemoLength(0, n)) {
    throw new PrivacyError('malformed', `a sealed memo of ${memo.length} bytes is too short for ${n} readers`, { what: 'sealed memo' });
  }
  return n;
}

/**
 * Whether `memo` has the structure of a sealed memo (version 1, 1 to 4
 * readers, room for their slots and the body's tag): what a chain with an
 * identity service accepts as a memo (else `memo_not_sealed`).
 */
export function isSealedMemo(memo: BytesLike): boolean {
  try {
    readersOf(bytesOf(memo, undefined, 'memo'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens a sealed memo with one reader's X25519 secret key (it tries each
 * slot): the text's bytes. Throws {@link PrivacyError}: `undecryptable`
 * (not one of its readers, another context, or altered), `malformed` or
 * `bad_readers` (not the structure of a sealed memo).
 */
export function openMemo(secretKey: BytesLike, context: BytesLike, sealed: BytesLike): Uint8Array {
  const sk = fixed(secretKey, HPKE_KEY_BYTES, 'HPKE secret key');
  const ctx = bytesOf(context, undefined, 'memo context');
  const memo = bytesOf(sealed, undefined, 'sealed memo');
  const n = readersOf(memo);
  const body = memo.subarray(2 + n * MEMO_READER_BYTES);
  for (let i = 0; i < n; i++) {
    const slot = memo.subarray(2 + i * MEMO_READER_BYTES, 2 + (i + 1) * MEMO_READER_BYTES);
    let key: Uint8Array;
    try {
      key = hpkeOpen(sk, slot.subarray(0, HPKE_KEY_BYTES), MEMO_INFO_BYTES, ctx, slot.subarray(HPKE_KEY_BYTES));
    } catch (e) {
      if (e instanceof PrivacyError && e.code === 'undecryptable') continue;
      throw e;
    }
    try {
      return chacha20poly1305(key, ZERO_NONCE, ctx).decrypt(body);
    } catch (e) {
      throw new PrivacyError('undecryptable', "the memo's body does not open with its key: altered, or another context", {}, { cause: e });
    } finally {
      key.fill(0);
    }
  }
  throw new PrivacyError('undecryptable', 'the memo does not open with this key: not one of its readers, another context, or altered');
}

// ------------------------------------------------------------------ a transaction's memo readers

/**
 * The accounts on the other side of a transaction of `kind`, whose
 * institutions read its memo beside the sender's: the payee of a
 * transfer, hold, payment versus payment or mandate payment (and a
 * mandate payment's payer), each payee of a batch, the payer of a capture
 * or void, the same for each leg of a linked transaction; none for the
 * other kinds.
 */
export function memoCounterparties(kind: TxKind): string[] {
  const out: string[] = [];
  const add = (a: AddressLike) => {
    const text = encodeAddress(addressBytes(a));
    if (!out.includes(text)) out.push(text);
  };
  const visit = (k: TxKind) => {
    switch (k.type) {
      case 'transfer':
      case 'hold':
      case 'pvp':
      case 'mint':
        add(k.to);
        break;
      case 'mandate_pay':
        add(k.payer);
        add(k.to);
        break;
      case 'batch_transfer':
        for (const p of k.payouts) add(p.to);
        break;
      case 'capture':
      case 'void':
        add(k.payer);
        break;
      case 'linked':
        for (const leg of k.legs) visit(leg);
        break;
      default:
        break;
    }
  };
  visit(kind);
  return out;
}

/**
 * The readers' keys of a memo from what `hutong_getMemoKeys` answered
 * (SPEC.md, "Sealed memos"): the regulator's (`regulator`, or
 * `regulatorFallback`, the parameters' `identity.hpke_key`, when the
 * answer names none), then each account's institution's memo key in order
 * (an institution that published none is left out): each key once, in the
 * order the Rust client seals to. Throws
 * {@link PrivacyError} `malformed` for a key that is not 32 bytes of hex,
 * `bad_readers` when there is no reader at all.
 */
export function memoReaderKeys(memoKeys: Pick<MemoKeys, 'regulator' | 'accounts'>, regulatorFallback?: string | null): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const add = (hex: string | null | undefined, what: string) => {
    if (!hex) return;
    const key = fixed(hex, HPKE_KEY_BYTES, what);
    const id = Array.from(key, (b) => b.toString(16).padStart(2, '0')).join('');
    if (seen.has(id)) return;
    seen.add(id);
    out.push(key);
  };
  add(memoKeys.regulator ?? regulatorFallback, "regulator's memo key");
  for (const a of memoKeys.accounts) add(a.memoKey, `memo key of ${a.institution}`);
  if (out.length === 0) throw new PrivacyError('bad_readers', 'a memo has 1 to 4 readers, not 0: no institution published a memo key and no regulator key is known', { got: 0, max: MEMO_READERS_MAX });
  return out;
}
