/** Hashing and signing primitives (SPEC.md section 3). */

import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, utf8 } from './bytes.js';

export const TAG_TX = 'hutong/tx/v1';
export const TAG_COSIGN = 'hutong/cosign/v1';
export const TAG_ADDRESS = 'hutong/address/v1';
/** What an FX provider signs: a quote (SPEC.md, "Payment versus payment"). */
export const TAG_QUOTE = 'hutong/quote/v1';
/** What a read mandate's grantee signs: a read request (SPEC.md, "Mandates"). */
export const TAG_MANDATE_READ = 'hutong/mandate-read/v1';

/** `tagged(tag, data) = SHA-256(tag ‖ 0x00 ‖ data)`. */
export function tagged(tag: string, data: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8.encode(tag), new Uint8Array([0]), data));
}

export { sha256 };

/** ed25519 (RFC 8032) signature of `message` by the 32-byte seed `secretKey`. */
export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed25519.sign(message, secretKey);
}

export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey);
}

/** RFC 8032 verification (stricter than the node's ZIP-215; fine for checking our own signatures). */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

export function randomSecretKey(): Uint8Array {
  return ed25519.utils.randomSecretKey();
}
