/**
 * HPKE (RFC 9180) in base mode, single-shot, for one suite: KEM
 * DHKEM(X25519, HKDF-SHA256) (0x0020), KDF HKDF-SHA256 (0x0001), AEAD
 * ChaCha20-Poly1305 (0x0003). The identity envelope and each reader's slot
 * of a sealed memo are sealed with it (SPEC.md section 9).
 *
 * ```text
 * Seal(pkR, info, aad, pt):
 *   skE, pkE = a fresh X25519 key pair;  enc = pkE
 *   dh = X25519(skE, pkR);  kem_context = enc ‖ pkR
 *   shared_secret = LabeledExpand(LabeledExtract("", "eae_prk", dh), "shared_secret", kem_context, 32)   [suite "KEM" ‖ 0x0020]
 *   context = 0x00 ‖ LabeledExtract("", "psk_id_hash", "") ‖ LabeledExtract("", "info_hash", info)
 *   secret = LabeledExtract(shared_secret, "secret", "")
 *   key = LabeledExpand(secret, "key", context, 32);  nonce = LabeledExpand(secret, "base_nonce", context, 12)
 *   ct = ChaCha20-Poly1305(key, nonce, aad, pt)                                                          [suite "HPKE" ‖ 0x0020 ‖ 0x0001 ‖ 0x0003]
 * LabeledExtract(salt, label, ikm) = HKDF-Extract(salt, "HPKE-v1" ‖ suite ‖ label ‖ ikm)
 * LabeledExpand(prk, label, info, L) = HKDF-Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite ‖ label ‖ info, L)
 * ```
 *
 * Single-shot means one message per encapsulation, so the sequence number
 * is 0 and the nonce is `base_nonce` itself. Checked against RFC 9180's
 * test vector A.2.1 (test/privacy.test.ts).
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesOf, concatBytes, utf8, type BytesLike } from './bytes.js';
import { PrivacyError } from './errors.js';

/** Bytes of an X25519 public key, secret key, and encapsulated key. */
export const HPKE_KEY_BYTES = 32;
/** Bytes the AEAD adds to a plaintext (its tag). */
export const HPKE_TAG_BYTES = 16;

const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const AEAD_ID = 0x0003;
const NSECRET = 32;
const NK = 32;
const NN = 12;

const i2osp2 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const KEM_SUITE = concatBytes(utf8.encode('KEM'), i2osp2(KEM_ID));
const HPKE_SUITE = concatBytes(utf8.encode('HPKE'), i2osp2(KEM_ID), i2osp2(KDF_ID), i2osp2(AEAD_ID));
const VERSION = utf8.encode('HPKE-v1');
const EMPTY = new Uint8Array();
const MODE_BASE = 0x00;

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concatBytes(VERSION, suite, utf8.encode(label), ikm), salt);
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return expand(sha256, prk, concatBytes(i2osp2(length), VERSION, suite, utf8.encode(label), info), length);
}

/** An X25519 key pair: `secretKey` as RFC 9180 serialises it (32 bytes, not clamped), `publicKey` 32 bytes. */
export interface HpkeKeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/** The public key of an X25519 secret key (RFC 9180 SerializePrivateKey form). */
export function hpkePublicKey(secretKey: BytesLike): Uint8Array {
  const sk = bytesOf(secretKey, HPKE_KEY_BYTES, 'HPKE secret key');
  try {
    return x25519.getPublicKey(sk);
  } catch (e) {
    throw new PrivacyError('malformed', `HPKE secret key: ${(e as Error).message}`, { what: 'HPKE secret key' }, { cause: e });
  }
}

/** The key pair RFC 9180's DeriveKeyPair gives for `ikm` (input keying material, at least 32 bytes for full strength). */
export function hpkeDeriveKeyPair(ikm: BytesLike): HpkeKeyPair {
  const dkpPrk = labeledExtract(KEM_SUITE, EMPTY, 'dkp_prk', bytesOf(ikm, undefined, 'ikm'));
  const secretKey = labeledExpand(KEM_SUITE, dkpPrk, 'sk', EMPTY, HPKE_KEY_BYTES);
  return { secretKey, publicKey: hpkePublicKey(secretKey) };
}

/** A new random X25519 key pair (from the platform's CSPRNG). */
export function hpkeGenerateKeyPair(): HpkeKeyPair {
  const ikm = new Uint8Array(32);
  globalThis.crypto.getRandomValues(ikm);
  return hpkeDeriveKeyPair(ikm);
}

function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  // noble refuses the low-order points (whose result would be all zero),
  // as RFC 9180 section 7.1.4 requires of X25519.
  return x25519.getSharedSecret(secretKey, publicKey);
}

function sharedSecret(dhResult: Uint8Array, enc: Uint8Array, pkR: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE, EMPTY, 'eae_prk', dhResult);
  return labeledExpand(KEM_SUITE, eaePrk, 'shared_secret', concatBytes(enc, pkR), NSECRET);
}

function keySchedule(shared: Uint8Array, info: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = labeledExtract(HPKE_SUITE, EMPTY, 'info_hash', info);
  const context = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE, shared, 'secret', EMPTY);
  return { key: labeledExpand(HPKE_SUITE, secret, 'key', context, NK), nonce: labeledExpand(HPKE_SUITE, secret, 'base_nonce', context, NN) };
}

export interface HpkeSealOptions {
  /**
   * The ephemeral secret key to encapsulate with, instead of a fresh one.
   * Only for reproducing published test vectors: a sender that reuses an
   * ephemeral key for two messages to one recipient gives both away.
   */
  ephemeralSecretKey?: Uint8Array;
}

/**
 * Seals `plaintext` to `recipient` (an X25519 public key): the
 * encapsulated key `enc` (32 bytes) and the ciphertext (the plaintext's
 * length plus 16). Throws {@link PrivacyError} `malformed` for a public key
 * X25519 refuses (one of low order).
 */
export function hpkeSeal(
  recipient: BytesLike,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  options: HpkeSealOptions = {},
): { enc: Uint8Array; ciphertext: Uint8Array } {
  const pkR = bytesOf(recipient, HPKE_KEY_BYTES, 'HPKE public key');
  const ephemeral = options.ephemeralSecretKey ?? hpkeGenerateKeyPair().secretKey;
  const enc = hpkePublicKey(ephemeral);
  let dhResult: Uint8Array;
  try {
    dhResult = dh(ephemeral, pkR);
  } catch (e) {
    throw new PrivacyError('malformed', `HPKE public key: ${(e as Error).message}`, { what: 'HPKE public key' }, { cause: e });
  }
  const { key, nonce } = keySchedule(sharedSecret(dhResult, enc, pkR), info);
  const ciphertext = chacha20poly1305(key, nonce, aad).encrypt(plaintext);
  key.fill(0);
  return { enc, ciphertext };
}

/**
 * Opens what {@link hpkeSeal} sealed, with the recipient's secret key:
 * the plaintext, or {@link PrivacyError} `undecryptable` (another key,
 * `info` or `aad`, an altered `enc` or ciphertext).
 */
export function hpkeOpen(secretKey: BytesLike, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const skR = bytesOf(secretKey, HPKE_KEY_BYTES, 'HPKE secret key');
  if (enc.length !== HPKE_KEY_BYTES) throw new PrivacyError('malformed', `an encapsulated key is ${HPKE_KEY_BYTES} bytes, not ${enc.length}`, { what: 'enc' });
  let key: Uint8Array;
  let nonce: Uint8Array;
  try {
    const pkR = hpkePublicKey(skR);
    ({ key, nonce } = keySchedule(sharedSecret(dh(skR, enc), enc, pkR), info));
  } catch (e) {
    // A low-order `enc` is an altered envelope, not a bad key of ours.
    throw new PrivacyError('undecryptable', 'the encapsulated key is not one X25519 accepts', {}, { cause: e });
  }
  try {
    return chacha20poly1305(key, nonce, aad).decrypt(ciphertext);
  } catch (e) {
    throw new PrivacyError('undecryptable', 'the ciphertext does not open with this key, info and associated data', {}, { cause: e });
  } finally {
    key.fill(0);
  }
}
