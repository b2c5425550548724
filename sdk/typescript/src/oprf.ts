/**
 * Identity tags by the verifiable oblivious PRF of RFC 9497, suite
 * ristretto255-SHA512, mode 0x01 (VOPRF): the client's side (SPEC.md
 * section 9, "The identity tag").
 *
 * ```text
 * institution                                       regulator's node (key k, public K on the ledger)
 * input = identityInput("CN_RIC:1101…")
 * {state, blinded} = blind(input)          ── B ──▶
 *                                          ◀── Z₁…Zₙ, proof ──  Z = k·B, one DLEQ proof for the batch
 * tags = finalize(states, inputs, Z, proof, K)       (refused unless the proof holds for K)
 * ```
 *
 * `B = r·HashToGroup(input)` for a fresh scalar `r` is a uniformly random
 * element whatever the identity, so the regulator learns nothing from a
 * request; the proof shows that the answer used the key whose public half
 * is on the ledger, so an institution cannot be handed tags under another
 * key. `tag = SHA-512(I2OSP(len(input), 2) ‖ input ‖ I2OSP(32, 2) ‖
 * encode(r⁻¹·Z) ‖ "Finalize")`, 64 bytes.
 *
 * The group arithmetic, hashing to the group and the batch proof's check
 * (RFC 9497 ComputeComposites and VerifyProof) are @noble/curves'
 * `ristretto255_oprf`; this module decodes and checks what comes from
 * outside first, so that every refusal has its code. Checked against RFC
 * 9497's ristretto255 VOPRF vectors and sdk/vectors/identity-tags.json.
 */

import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { bytesOf, concatBytes, utf8, type BytesLike } from './bytes.js';
import { IdentityError, PrivacyError } from './errors.js';
import { normaliseIdNumber, normaliseIdType } from './identity.js';

/** Bytes of a blinded element, an evaluated element and the OPRF public key (a ristretto255 encoding). */
export const OPRF_ELEMENT_BYTES = 32;
/** Bytes of an evaluation's proof: two scalars, `c ‖ s`. */
export const OPRF_PROOF_BYTES = 64;
/** Bytes of an identity tag (the OPRF's SHA-512 output). */
export const IDENTITY_TAG_BYTES = 64;
/** Most blinded identities one `hutong_identityEvaluate` request carries (one proof covers them). */
export const IDENTITY_EVALUATE_BATCH_MAX = 64;
/** RFC 9497's context string of the suite in mode 0x01. */
export const OPRF_CONTEXT = 'OPRFV1-\x01-ristretto255-SHA512';
/** The `info` of the regulator's OPRF key derivation (RFC 9497 DeriveKeyPair) from its identity seed. */
export const OPRF_KEY_INFO = 'hutong/identity/oprf-key/v1';

const Point = ristretto255.Point;
const Fn = Point.Fn;
const HASH_TO_GROUP_DST = utf8.encode('HashToGroup-' + OPRF_CONTEXT);
// RFC 9497 inputs are length-prefixed with two bytes.
const INPUT_BYTES_MAX = 0xffff;

function malformed(what: string, detail: string, cause?: unknown): PrivacyError {
  return new PrivacyError('malformed', `${what} is not a valid encoding: ${detail}`, { what }, cause === undefined ? undefined : { cause });
}

/**
 * The OPRF input of an identity written `TYPE:NUMBER` (the first `:`
 * separates them), normalised as the identity commitment's (SPEC.md
 * section 7: the type trimmed and upper-cased, the number without spaces,
 * tabs, `-`, `/`, `(`, `)` and upper-cased): `borsh(type) ‖
 * borsh(number)`, each a u32 little-endian length then the bytes. Every
 * institution forms it the same way, so one person has one tag. Throws
 * {@link PrivacyError} `bad_identity` (its `cause` the
 * {@link IdentityError}, when the rule refused a part).
 */
export function identityInput(identity: string): Uint8Array {
  if (typeof identity !== 'string') throw new PrivacyError('bad_identity', `an identity is a string TYPE:NUMBER, not ${typeof identity}`);
  const at = identity.indexOf(':');
  if (at < 0) {
    throw new PrivacyError('bad_identity', `identity ${JSON.stringify(identity)} must be written TYPE:NUMBER (such as CN_RIC:110101199003074514)`, { identity });
  }
  let type: string;
  let number: string;
  try {
    type = normaliseIdType(identity.slice(0, at));
    number = normaliseIdNumber(identity.slice(at + 1));
  } catch (e) {
    if (e instanceof IdentityError) throw new PrivacyError('bad_identity', e.message, { field: e.field }, { cause: e });
    throw e;
  }
  const parts = [type, number].map((s) => {
    const b = utf8.encode(s);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, b.length, true);
    return concatBytes(len, b);
  });
  return concatBytes(...parts);
}

// The blind of each state, out of reach of logs and JSON.stringify.
const blinds = new WeakMap<BlindState, Uint8Array>();

/**
 * What a client keeps between {@link blind} and {@link finalize}: the
 * blinded element it sent, and (hidden) its blind. Use each once.
 */
export class BlindState {
  /** The blinded element sent to the regulator's node (32 bytes). */
  readonly blinded: Uint8Array;
  constructor(blindScalar: Uint8Array, blinded: Uint8Array) {
    this.blinded = blinded;
    blinds.set(this, blindScalar);
  }
  toString(): string {
    return 'BlindState(..)';
  }
  toJSON(): { blinded: string } {
    return { blinded: '…' };
  }
}

function hashToGroup(input: Uint8Array) {
  if (input.length > INPUT_BYTES_MAX) throw malformed('OPRF input', `${input.length} bytes; at most ${INPUT_BYTES_MAX}`);
  const p = ristretto255_hasher.hashToCurve(input, { DST: HASH_TO_GROUP_DST });
  // Happens with negligible probability; RFC 9497 says to refuse it.
  if (p.equals(Point.ZERO)) throw malformed('OPRF input', 'it hashes to the identity element');
  return p;
}

function blindWithScalar(input: Uint8Array, r: bigint): { state: BlindState; blinded: Uint8Array } {
  const blinded = hashToGroup(input).multiply(r).toBytes();
  return { state: new BlindState(Fn.toBytes(r), blinded), blinded };
}

/**
 * Blinds `input` (RFC 9497 `Blind`) with a fresh random scalar: the state
 * to keep, and the element to send to `hutong_identityEvaluate`.
 */
export function blind(input: BytesLike): { state: BlindState; blinded: Uint8Array } {
  const x = bytesOf(input, undefined, 'OPRF input');
  for (;;) {
    const wide = new Uint8Array(64);
    globalThis.crypto.getRandomValues(wide);
    let n = 0n;
    for (let i = wide.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(wide[i]!);
    const r = Fn.create(n);
    if (r !== 0n) return blindWithScalar(x, r);
  }
}

/**
 * Blinds `input` with a given blind (a non-zero scalar, 32 bytes
 * little-endian, below the group order). Only for reproducing published
 * vectors: a blind that is not fresh and secret links the request to the
 * identity.
 */
export function blindWith(input: BytesLike, blindScalar: BytesLike): { state: BlindState; blinded: Uint8Array } {
  const x = bytesOf(input, undefined, 'OPRF input');
  let r: bigint;
  try {
    r = Fn.fromBytes(bytesOf(blindScalar, 32, 'blind'));
  } catch (e) {
    throw malformed('blind', (e as Error).message, e);
  }
  if (r === 0n) throw malformed('blind', 'zero');
  return blindWithScalar(x, r);
}

function element(bytes: BytesLike, what: string) {
  let p;
  try {
    p = Point.fromBytes(bytesOf(bytes, OPRF_ELEMENT_BYTES, what));
  } catch (e) {
    throw malformed(what, (e as Error).message, e);
  }
  if (p.equals(Point.ZERO)) throw malformed(what, 'the identity element');
  return p;
}

/**
 * Checks the regulator's answer for the requests of `states` (in the order
 * they were sent, with their `inputs`) against its OPRF public key as the
 * ledger's parameters give it (`parameters().identity.oprfKey`; never one
 * the evaluating node gives), then unblinds it (RFC 9497 `Finalize` with
 * `VerifyProof`): one 64-byte identity tag per input, in order.
 *
 * Throws {@link PrivacyError}: `unverified_evaluation` when the proof does
 * not hold (another key, a tampered answer, an answer to another request);
 * `malformed` when the counts differ or an element, the key or the proof
 * is not a valid encoding (a proof scalar not below the group order among
 * them, as the Rust implementation).
 */
export function finalize(states: BlindState[], inputs: BytesLike[], elements: BytesLike[], proof: BytesLike, oprfPublicKey: BytesLike): Uint8Array[] {
  if (states.length === 0 || states.length !== inputs.length || states.length !== elements.length) {
    throw new PrivacyError('malformed', `${elements.length} evaluated elements and ${inputs.length} inputs for ${states.length} blinded identities`, { what: 'evaluation' });
  }
  const publicKey = element(oprfPublicKey, "regulator's OPRF public key").toBytes();
  const evaluated = elements.map((e, i) => element(e, `evaluated element ${i}`).toBytes());
  let p: Uint8Array;
  try {
    p = bytesOf(proof, OPRF_PROOF_BYTES, 'proof');
    Fn.fromBytes(p.subarray(0, 32));
    Fn.fromBytes(p.subarray(32));
  } catch (e) {
    throw malformed('proof', (e as Error).message, e);
  }
  const items = states.map((state, i) => {
    const b = blinds.get(state);
    if (!(state instanceof BlindState) || b === undefined) throw new PrivacyError('malformed', `state ${i} is not a BlindState from blind()`, { what: 'state' });
    const input = bytesOf(inputs[i]!, undefined, 'OPRF input');
    if (input.length > INPUT_BYTES_MAX) throw malformed('OPRF input', `${input.length} bytes; at most ${INPUT_BYTES_MAX}`);
    return { input, blind: b, evaluated: evaluated[i]!, blinded: state.blinded };
  });
  try {
    return ristretto255_oprf.voprf.finalizeBatch(items, publicKey, p);
  } catch (e) {
    throw new PrivacyError(
      'unverified_evaluation',
      "the evaluation's proof does not verify against the regulator's OPRF public key: a wrong key, or a tampered or replayed answer",
      {},
      { cause: e },
    );
  }
}
