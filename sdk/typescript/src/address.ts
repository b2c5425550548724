/**
 * Addresses (SPEC.md section 4): the first 20 bytes of
 * `tagged("hutong/address/v1", public_key)`, written as bech32m (BIP 350)
 * with the human-readable part `ht`.
 */

import { bech32, bech32m } from '@scure/base';
import { bytesOf, type BytesLike } from './bytes.js';
import { tagged, TAG_ADDRESS } from './crypto.js';
import { ValidationError } from './errors.js';

export const ADDRESS_HRP = 'ht';
export const ADDRESS_BYTES = 20;

/** The 20 address bytes of a public key. */
export function addressBytesOf(publicKey: BytesLike): Uint8Array {
  return tagged(TAG_ADDRESS, bytesOf(publicKey, 32, 'public key')).slice(0, ADDRESS_BYTES);
}

/** The `ht1…` address of a public key. */
export function addressOf(publicKey: BytesLike): string {
  return encodeAddress(addressBytesOf(publicKey));
}

/** The text form (`ht1…`, lowercase) of 20 address bytes. */
export function encodeAddress(bytes: Uint8Array): string {
  if (bytes.length !== ADDRESS_BYTES) throw new ValidationError(`an address is ${ADDRESS_BYTES} bytes, got ${bytes.length}`);
  return bech32m.encode(ADDRESS_HRP, bech32m.toWords(bytes));
}

/**
 * The 20 bytes of an `ht1…` address. Refuses another prefix, another
 * length, mixed case, and the bech32 (non-"m") checksum, as nodes do.
 */
export function decodeAddress(address: string): Uint8Array {
  const s = typeof address === 'string' ? address.trim() : '';
  if (s === '') throw new ValidationError('an address must be a non-empty string');
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32m.decode(s as `${string}1${string}`, 90);
  } catch (e) {
    const legacy = bech32.decodeUnsafe(s, 90);
    const why = legacy ? 'its checksum is bech32, not bech32m' : (e as Error).message;
    throw new ValidationError(`${JSON.stringify(s.slice(0, 80))} is not an address: ${why}`);
  }
  if (decoded.prefix !== ADDRESS_HRP) {
    throw new ValidationError(`${JSON.stringify(s)} is not an address: prefix is ${JSON.stringify(decoded.prefix)}, expected "ht"`);
  }
  let bytes: Uint8Array;
  try {
    bytes = bech32m.fromWords(decoded.words);
  } catch (e) {
    throw new ValidationError(`${JSON.stringify(s)} is not an address: ${(e as Error).message}`);
  }
  if (bytes.length !== ADDRESS_BYTES) {
    throw new ValidationError(`${JSON.stringify(s)} is not an address: ${bytes.length} bytes, expected ${ADDRESS_BYTES}`);
  }
  return bytes;
}

export function isAddress(address: string): boolean {
  try {
    decodeAddress(address);
    return true;
  } catch {
    return false;
  }
}

/** An address given as text (`ht1…`) or its 20 bytes. */
export type AddressLike = string | Uint8Array;

export function addressBytes(a: AddressLike): Uint8Array {
  if (typeof a === 'string') return decodeAddress(a);
  if (a instanceof Uint8Array && a.length === ADDRESS_BYTES) return a;
  throw new ValidationError('an address must be an ht1… string or 20 bytes');
}
