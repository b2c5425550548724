/**
 * The borsh subset Hutong uses (SPEC.md section 1): little-endian
 * integers (u64 and u128 as bigint), bool, fixed arrays, `Vec` and
 * `String` with a u32 length, `Option`, enum tags. The reader is strict:
 * no reading past the end, no trailing bytes (see {@link Reader.finish}),
 * bool and option tags only 0 or 1.
 */

import { HutongError } from './errors.js';

export const U64_MAX = (1n << 64n) - 1n;
export const U128_MAX = (1n << 128n) - 1n;

export class BorshError extends HutongError {}

function checkUint(value: bigint, bits: number, what: string): bigint {
  if (typeof value !== 'bigint') throw new BorshError(`${what} must be a bigint`);
  if (value < 0n || value >= 1n << BigInt(bits)) throw new BorshError(`${what} ${value} is out of range for u${bits}`);
  return value;
}

export class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new BorshError(`u8 ${v} is out of range`);
    this.reserve(1);
    this.buf[this.len++] = v;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new BorshError(`u32 ${v} is out of range`);
    this.reserve(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
    return this;
  }

  private uint(v: bigint, bytes: number, what: string): this {
    let x = checkUint(v, bytes * 8, what);
    this.reserve(bytes);
    for (let i = 0; i < bytes; i++) {
      this.buf[this.len++] = Number(x & 0xffn);
      x >>= 8n;
    }
    return this;
  }

  u64(v: bigint, what = 'u64'): this {
    return this.uint(v, 8, what);
  }

  u128(v: bigint, what = 'u128'): this {
    return this.uint(v, 16, what);
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  /** A fixed-size array: the bytes, no length. */
  fixed(bytes: Uint8Array, size: number, what = 'array'): this {
    if (bytes.length !== size) throw new BorshError(`${what} must be ${size} bytes, got ${bytes.length}`);
    this.reserve(size);
    this.buf.set(bytes, this.len);
    this.len += size;
    return this;
  }

  /** `Vec<u8>`: u32 length, then the bytes. */
  bytes(bytes: Uint8Array): this {
    this.u32(bytes.length);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  string(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }

  option<T>(value: T | null | undefined, write: (w: this, v: T) => void): this {
    if (value === null || value === undefined) return this.u8(0);
    this.u8(1);
    write(this, value);
    return this;
  }

  vec<T>(items: readonly T[], write: (w: this, v: T) => void): this {
    this.u32(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  toBytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export class Reader {
  private at = 0;
  constructor(private readonly buf: Uint8Array) {}

  private take(n: number, what: string): Uint8Array {
    if (this.at + n > this.buf.length) {
      throw new BorshError(`unexpected end of input reading ${what} at byte ${this.at}`);
    }
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  u8(what = 'u8'): number {
    return this.take(1, what)[0]!;
  }

  u32(what = 'u32'): number {
    const b = this.take(4, what);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  private uint(bytes: number, what: string): bigint {
    const b = this.take(bytes, what);
    let x = 0n;
    for (let i = bytes - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
    return x;
  }

  u64(what = 'u64'): bigint {
    return this.uint(8, what);
  }

  u128(what = 'u128'): bigint {
    return this.uint(16, what);
  }

  bool(what = 'bool'): boolean {
    const v = this.u8(what);
    if (v > 1) throw new BorshError(`${what}: bool byte ${v} is not 0 or 1`);
    return v === 1;
  }

  fixed(size: number, what = 'array'): Uint8Array {
    return this.take(size, what).slice();
  }

  bytes(what = 'bytes'): Uint8Array {
    const n = this.u32(`${what} length`);
    return this.take(n, what).slice();
  }

  string(what = 'string'): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(what));
    } catch (e) {
      if (e instanceof BorshError) throw e;
      throw new BorshError(`${what} is not UTF-8`);
    }
  }

  option<T>(read: (r: this) => T, what = 'option'): T | null {
    const tag = this.u8(`${what} tag`);
    if (tag === 0) return null;
    if (tag === 1) return read(this);
    throw new BorshError(`${what}: option tag ${tag} is not 0 or 1`);
  }

  vec<T>(read: (r: this) => T, what = 'vec'): T[] {
    const n = this.u32(`${what} length`);
    // Each item takes at least one byte: a length beyond the input is refused early.
    if (n > this.buf.length - this.at) throw new BorshError(`${what}: ${n} items do not fit the input`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }

  /** Refuses trailing bytes. */
  finish(): void {
    if (this.at !== this.buf.length) throw new BorshError(`${this.buf.length - this.at} trailing bytes`);
  }
}
