/** ed25519 keys and Hutong key files (SPEC.md section 5). */

import { bytesOf, toHex, type BytesLike } from './bytes.js';
import { ed25519PublicKey, ed25519Sign, randomSecretKey } from './crypto.js';
import { addressOf } from './address.js';
import { HutongError } from './errors.js';

export const KEY_FILE_KIND = 'hutong-ed25519-secret-key';
const KEY_FILE_HEADER = '# Hutong ed25519 key. Keep this file secret: it is the whole key.';
const KEY_FILE_BYTES_MAX = 4096;

export class KeyFileError extends HutongError {}

/** An ed25519 key pair: a 32-byte RFC 8032 seed and its public key. */
export class Keypair {
  readonly publicKey: Uint8Array;
  readonly #secret: Uint8Array;

  private constructor(secret: Uint8Array) {
    this.#secret = secret.slice();
    this.publicKey = ed25519PublicKey(this.#secret);
  }

  /** A new random key. */
  static generate(): Keypair {
    return new Keypair(randomSecretKey());
  }

  /** The key of a 32-byte seed (bytes or 64 hex digits). */
  static fromSecretKey(secretKey: BytesLike): Keypair {
    return new Keypair(bytesOf(secretKey, 32, 'secret key'));
  }

  /** The 32-byte seed. Keep it secret. */
  secretKey(): Uint8Array {
    return this.#secret.slice();
  }

  get publicKeyHex(): string {
    return toHex(this.publicKey);
  }

  /** The account address (`ht1…`) of this key. */
  get address(): string {
    return addressOf(this.publicKey);
  }

  sign(message: Uint8Array): Uint8Array {
    return ed25519Sign(message, this.#secret);
  }

  /** Does not show the secret. */
  toString(): string {
    return `Keypair(${this.publicKeyHex})`;
  }
  toJSON(): { publicKey: string } {
    return { publicKey: this.publicKeyHex };
  }
}

function unquote(raw: string, key: string, lineNo: number): string {
  const v = raw.trim();
  const m = /^"([^"\\]*)"$/.exec(v) ?? /^'([^']*)'$/.exec(v);
  if (!m) throw new KeyFileError(`line ${lineNo}: ${key} must be a quoted string`);
  return m[1]!;
}

/**
 * Parses a key file's text: TOML with exactly `kind`, `public_key` and
 * `secret_key` (comments and blank lines allowed). Refuses another kind,
 * a missing, repeated or extra field, bad hex, and a public key that is
 * not the secret key's.
 */
export function parseKeyFile(text: string): Keypair {
  if (text.length > KEY_FILE_BYTES_MAX) throw new KeyFileError(`a key file is at most ${KEY_FILE_BYTES_MAX} bytes`);
  const fields = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const m = /^([A-Za-z0-9_-]+)\s*=\s*(.*?)\s*(#[^"']*)?$/.exec(t);
    if (!m) throw new KeyFileError(`line ${i + 1} is not a key = "value" line`);
    const key = m[1]!;
    if (!['kind', 'public_key', 'secret_key'].includes(key)) throw new KeyFileError(`unknown field ${JSON.stringify(key)} in a key file`);
    if (fields.has(key)) throw new KeyFileError(`field ${key} appears twice`);
    fields.set(key, unquote(m[2]!, key, i + 1));
  });
  for (const key of ['kind', 'public_key', 'secret_key']) {
    if (!fields.has(key)) throw new KeyFileError(`missing field ${key}`);
  }
  const kind = fields.get('kind')!;
  if (kind !== KEY_FILE_KIND) throw new KeyFileError(`kind is ${JSON.stringify(kind)}, expected ${JSON.stringify(KEY_FILE_KIND)}`);
  let secret: Uint8Array;
  let claimed: Uint8Array;
  try {
    secret = bytesOf(fields.get('secret_key')!, 32, 'secret_key');
    claimed = bytesOf(fields.get('public_key')!, 32, 'public_key');
  } catch (e) {
    throw new KeyFileError((e as Error).message);
  }
  const key = Keypair.fromSecretKey(secret);
  secret.fill(0);
  if (toHex(claimed) !== key.publicKeyHex) {
    throw new KeyFileError(`public_key ${toHex(claimed)} does not belong to the secret key (expected ${key.publicKeyHex})`);
  }
  return key;
}

/** The text of a key file for `key`, as `hutong keys new` writes it. */
export function formatKeyFile(key: Keypair): string {
  return `${KEY_FILE_HEADER}\nkind = "${KEY_FILE_KIND}"\npublic_key = "${key.publicKeyHex}"\nsecret_key = "${toHex(key.secretKey())}"\n`;
}

/** Reads and checks a key file (Node.js only). */
export async function readKeyFile(path: string): Promise<Keypair> {
  const fs = await import('node:fs/promises');
  const stat = await fs.stat(path);
  if (stat.size > KEY_FILE_BYTES_MAX) throw new KeyFileError(`${path} is ${stat.size} bytes; a key file is at most ${KEY_FILE_BYTES_MAX}`);
  const text = await fs.readFile(path, 'utf8');
  try {
    return parseKeyFile(text);
  } catch (e) {
    throw new KeyFileError(`${path}: ${(e as Error).message}`);
  }
}

/**
 * Writes a new key file with mode 0600 (Node.js only); refuses to replace
 * an existing file (a key overwritten is a key lost).
 */
export async function writeKeyFile(path: string, key: Keypair): Promise<void> {
  const fs = await import('node:fs/promises');
  let handle;
  try {
    handle = await fs.open(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(`${path} already exists; refusing to overwrite a key file`);
    throw e;
  }
  try {
    await handle.writeFile(formatKeyFile(key), 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}
