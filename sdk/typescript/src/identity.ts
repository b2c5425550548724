/**
 * The identity commitment of `open_account` (SPEC.md section 7, "Opening an
 * account"): a salted hash of the customer's identity document, formed the
 * same way by every institution:
 *
 * ```text
 * identity_commitment = tagged("hutong/identity/v1",
 *                              borsh(id_type) ‖ borsh(id_number) ‖ salt)
 * ```
 *
 * with `id_type` and `id_number` normalised by {@link normaliseIdType} and
 * {@link normaliseIdNumber} (borsh strings: a u32 little-endian byte length,
 * then the bytes) and `salt` 32 random bytes ({@link newIdentitySalt}). The
 * institution keeps the salt with its KYC record; it never goes on chain.
 *
 * This follows `runtime/src/identity.rs` exactly, including its white
 * space: Rust's `str::trim` removes the characters of the Unicode
 * `White_Space` property, which is not the set JavaScript's `trim()` removes
 * (that one also strips U+FEFF and keeps U+0085), so the set is spelled out
 * here. Only the ASCII letters `a-z` are upper-cased (`toUpperCase()` would
 * turn `ı` into `I` or `ß` into `SS` and accept what the rule refuses).
 */

import { bytesOf, concatBytes, utf8, type BytesLike } from './bytes.js';
import { tagged } from './crypto.js';
import { IdentityError } from './errors.js';

export const TAG_IDENTITY = 'hutong/identity/v1';
/** Longest normalised document type. */
export const ID_TYPE_MAX = 32;
/** Longest normalised document number. */
export const ID_NUMBER_MAX = 64;
export const IDENTITY_SALT_BYTES = 32;

// The Unicode White_Space property (Rust's char::is_whitespace, hence str::trim).
const WHITE_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);
// Removed from a document number wherever they are.
const NUMBER_SEPARATORS = new Set([' ', '\t', '-', '/', '(', ')']);

const TYPE_RE = new RegExp(`^[A-Z0-9_]{1,${ID_TYPE_MAX}}$`);
const NUMBER_RE = new RegExp(`^[A-Z0-9]{1,${ID_NUMBER_MAX}}$`);

function asciiUpper(s: string): string {
  return s.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32));
}

function trimWhiteSpace(s: string): string {
  // Every White_Space character is in the BMP: one UTF-16 unit each.
  let start = 0;
  let end = s.length;
  while (start < end && WHITE_SPACE.has(s.charCodeAt(start))) start++;
  while (end > start && WHITE_SPACE.has(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/**
 * The document type as committed: surrounding white space removed, ASCII
 * letters upper-cased; then 1 to 32 of `A-Z`, `0-9`, `_`
 * (`' Passport_CN '` → `'PASSPORT_CN'`). Throws {@link IdentityError}
 * otherwise (a space inside, `-`, any non-ASCII character).
 */
export function normaliseIdType(idType: string): string {
  if (typeof idType !== 'string') throw new IdentityError('idType', idType, `document type must be a string, not ${typeof idType}`);
  const t = asciiUpper(trimWhiteSpace(idType));
  if (!TYPE_RE.test(t)) {
    throw new IdentityError(
      'idType',
      idType,
      `document type ${JSON.stringify(idType)} must be 1 to ${ID_TYPE_MAX} characters A-Z, 0-9 or '_' (such as CN_RIC, HK_ID, PASSPORT_CN)`,
    );
  }
  return t;
}

/**
 * The document number as committed: every space, tab, `-`, `/`, `(` and
 * `)` removed, ASCII letters upper-cased; then 1 to 64 of `A-Z`, `0-9`
 * (`'A123456(7)'` → `'A1234567'`). Anything else (other white space, `.`,
 * `_`, full-width digits, other scripts) throws {@link IdentityError}:
 * convert such a number to ASCII first.
 */
export function normaliseIdNumber(idNumber: string): string {
  if (typeof idNumber !== 'string') throw new IdentityError('idNumber', idNumber, `document number must be a string, not ${typeof idNumber}`);
  let kept = '';
  for (const c of idNumber) if (!NUMBER_SEPARATORS.has(c)) kept += c;
  const n = asciiUpper(kept);
  if (!NUMBER_RE.test(n)) {
    throw new IdentityError(
      'idNumber',
      idNumber,
      `document number ${JSON.stringify(idNumber)} must be 1 to ${ID_NUMBER_MAX} ASCII letters and digits once spaces, '-', '/', '(' and ')' are removed`,
    );
  }
  return n;
}

/**
 * 32 bytes from the platform's cryptographic random source: a new salt for
 * each account. Keep it with the KYC record; it never goes on chain.
 */
export function newIdentitySalt(): Uint8Array {
  const salt = new Uint8Array(IDENTITY_SALT_BYTES);
  globalThis.crypto.getRandomValues(salt);
  return salt;
}

function borshString(s: string): Uint8Array {
  const b = utf8.encode(s);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, b.length, true);
  return concatBytes(len, b);
}

/**
 * The 32-byte commitment to a customer's identity document under `salt`
 * (32 bytes, or 64 hex digits): the `identityCommitment` of an
 * `open_account` transaction. Throws {@link IdentityError} if the type or
 * number cannot be normalised or the salt is not 32 bytes.
 */
export function identityCommitment(idType: string, idNumber: string, salt: BytesLike): Uint8Array {
  const t = normaliseIdType(idType);
  const n = normaliseIdNumber(idNumber);
  let s: Uint8Array;
  try {
    s = bytesOf(salt, IDENTITY_SALT_BYTES, 'identity salt');
  } catch (e) {
    throw new IdentityError('salt', salt, (e as Error).message);
  }
  return tagged(TAG_IDENTITY, concatBytes(borshString(t), borshString(n), s));
}
