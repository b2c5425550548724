/** Byte helpers: lowercase hex, concatenation, comparison. */

import { HutongError } from './errors.js';

export type Bytes = Uint8Array;
/** Bytes, or the same bytes as a hex string (an optional `0x` prefix is ignored). */
export type BytesLike = Uint8Array | string;

const HEX = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b >> 4] + HEX[b & 15];
  return s;
}

export function fromHex(hex: string, expectedLength?: number, what = 'value'): Uint8Array {
  let h = hex.trim();
  if (h.startsWith('0x') || h.startsWith('0X')) h = h.slice(2);
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) {
    throw new HutongError(`${what} is not hex: ${JSON.stringify(hex.slice(0, 80))}`);
  }
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new HutongError(`${what} must be ${expectedLength} bytes (${2 * expectedLength} hex digits), got ${out.length}`);
  }
  return out;
}

/** Normalises bytes given as `Uint8Array` or hex, checking the length if given. */
export function bytesOf(value: BytesLike, expectedLength?: number, what = 'value'): Uint8Array {
  if (typeof value === 'string') return fromHex(value, expectedLength, what);
  if (!(value instanceof Uint8Array)) throw new HutongError(`${what} must be a Uint8Array or a hex string`);
  if (expectedLength !== undefined && value.length !== expectedLength) {
    throw new HutongError(`${what} must be ${expectedLength} bytes, got ${value.length}`);
  }
  return value;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const utf8 = {
  encode: (s: string): Uint8Array => new TextEncoder().encode(s),
  decode: (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(b),
};
