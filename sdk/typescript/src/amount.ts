/**
 * Amounts: bigint minor units (fen for CNY) ↔ decimal strings in the
 * asset's decimals. No floating point anywhere.
 */

import { U128_MAX } from './borsh.js';
import { ValidationError } from './errors.js';

/**
 * Minor units of a decimal string: `parseAmount("12.5", 2) === 1250n`.
 * Only digits and at most one `.`: refuses more fraction digits than
 * `decimals` (never rounds), signs, exponents, separators, and values
 * beyond u128.
 */
export function parseAmount(text: string, decimals: number): bigint {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 38) throw new ValidationError(`decimals ${decimals} is not an integer in 0..38`);
  if (typeof text !== 'string') throw new ValidationError('an amount to parse must be a string');
  const s = text.trim();
  const m = /^(\d+)(?:\.(\d*))?$/.exec(s) ?? /^()\.(\d+)$/.exec(s);
  if (!m) throw new ValidationError(`${JSON.stringify(text)} is not a decimal amount`);
  const whole = m[1] ?? '';
  const frac = m[2] ?? '';
  if (frac.length > decimals) {
    throw new ValidationError(`${JSON.stringify(text)} has ${frac.length} decimal places; the asset has ${decimals}`);
  }
  const value = BigInt((whole || '0') + frac.padEnd(decimals, '0'));
  if (value > U128_MAX) throw new ValidationError(`${JSON.stringify(text)} is beyond the largest amount`);
  return value;
}

/**
 * The decimal string of `minor` units: `formatAmount(1250n, 2) === "12.50"`.
 * Always shows every decimal place (no trailing zero trimming), so the
 * result parses back to the same value.
 */
export function formatAmount(minor: bigint | string, decimals: number): string {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 38) throw new ValidationError(`decimals ${decimals} is not an integer in 0..38`);
  const v = typeof minor === 'string' ? toAmount(minor) : minor;
  if (typeof v !== 'bigint') throw new ValidationError('an amount must be a bigint');
  const negative = v < 0n;
  const digits = (negative ? -v : v).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const frac = digits.slice(digits.length - decimals);
  return (negative ? '-' : '') + (decimals === 0 ? whole : `${whole}.${frac}`);
}

/** A minor-unit amount from a bigint or a string of digits (as the node sends them). */
export function toAmount(value: bigint | string | number): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new ValidationError(`amount ${value} is not a safe integer; use a bigint`);
    return BigInt(value);
  }
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return BigInt(value.trim());
  throw new ValidationError(`${JSON.stringify(value)} is not an amount in minor units`);
}

/** An asset code: 1 to 8 characters `A-Z0-9`, the first a letter. */
export function checkAssetCode(code: string): string {
  if (typeof code !== 'string' || !/^[A-Z][A-Z0-9]{0,7}$/.test(code)) {
    throw new ValidationError(`${JSON.stringify(code)} is not an asset code (1 to 8 characters A-Z0-9, the first a letter)`);
  }
  return code;
}

/** The 8 bytes of an asset code, zero-padded on the right. */
export function encodeAssetCode(code: string): Uint8Array {
  checkAssetCode(code);
  const out = new Uint8Array(8);
  for (let i = 0; i < code.length; i++) out[i] = code.charCodeAt(i);
  return out;
}

/** The asset code of 8 bytes; refuses other padding or characters. */
export function decodeAssetCode(bytes: Uint8Array): string {
  if (bytes.length !== 8) throw new ValidationError('an asset code is 8 bytes');
  let end = bytes.indexOf(0);
  if (end === -1) end = 8;
  for (let i = end; i < 8; i++) if (bytes[i] !== 0) throw new ValidationError('asset code padding is not zeros');
  const code = String.fromCharCode(...bytes.subarray(0, end));
  return checkAssetCode(code);
}
