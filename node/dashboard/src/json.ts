/**
 * JSON exactly as the node re-serialises it.
 *
 * The node checks an audit request's signature, and hashes a logged
 * query, over the query's compact JSON as Rust's serde_json writes a
 * `serde_json::Value` (the workspace does not enable its `preserve_order`
 * feature): object keys sorted by their UTF-8 bytes, no white space,
 * strings escaped as `JSON.stringify` escapes them (`"`, `\`, and control
 * characters: `\b \t \n \f \r`, the others `\u00xx` in lowercase; nothing
 * else), integers in decimal.
 *
 * Numbers are where JavaScript and serde_json part: serde_json keeps a
 * u64 exactly and writes a float in its own shortest notation (`1.0`
 * stays `1.0`; JavaScript writes `1`). So what the dashboard sends holds
 * only safe integers (checked by {@link canonicalJson}), and what it
 * re-hashes (the audit log) is parsed by {@link parseJsonRaw}, which keeps
 * each number's text as the node wrote it.
 */

import { utf8 } from './sdk';

/** A number kept as the text it was written as. */
export class RawNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
  /** The value as a bigint, when the text is an integer. */
  toBigInt(): bigint {
    if (!/^-?\d+$/.test(this.text)) throw new Error(`${this.text} is not an integer`);
    return BigInt(this.text);
  }
}

export type Json = null | boolean | string | number | RawNumber | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** Orders strings by their UTF-8 bytes, as Rust orders `String`s. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/**
 * The compact JSON of `value` as serde_json writes it (see above). Object
 * members whose value is `undefined` are left out, as JSON.stringify
 * does; a JavaScript number must be a safe integer.
 */
export function canonicalJson(value: Json | undefined): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new Error(`${value} cannot be sent exactly: only safe integers go into a signed query`);
      }
      return String(value); // -0 is written "0", as serde_json reads it
    case 'object':
      break;
    default:
      throw new Error(`a ${typeof value} is not JSON`);
  }
  if (value instanceof RawNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort(compareUtf8);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

/**
 * Parses JSON text strictly (RFC 8259), keeping every number as a
 * {@link RawNumber} of its exact text. Objects are plain objects whose
 * members are own properties even for a key like `__proto__`.
 */
export function parseJsonRaw(text: string): Json {
  let at = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`JSON: ${what} at character ${at}`);
  };
  const space = () => {
    while (at < text.length) {
      const c = text.charCodeAt(at);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) at++;
      else break;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (depth: number): Json => {
    if (depth > 512) fail('nesting too deep');
    space();
    const c = text[at];
    if (c === '{') {
      at++;
      const obj: JsonObject = {};
      space();
      if (text[at] === '}') {
        at++;
        return obj;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail('expected a member name');
        const key = string();
        space();
        if (text[at] !== ':') fail("expected ':'");
        at++;
        const v = value(depth + 1);
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        space();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === '}') {
          at++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      at++;
      const arr: Json[] = [];
      space();
      if (text[at] === ']') {
        at++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        space();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === ']') {
          at++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', at)) {
      at += 4;
      return true;
    }
    if (text.startsWith('false', at)) {
      at += 5;
      return false;
    }
    if (text.startsWith('null', at)) {
      at += 4;
      return null;
    }
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(text);
    if (!m) return fail('unexpected character');
    at += m[0].length;
    return new RawNumber(m[0]);
  };
  // A string token: find its closing quote, then let JSON.parse decode
  // the escapes (it refuses raw control characters, as the grammar does).
  const string = (): string => {
    const start = at;
    at++;
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const ch = text[at];
      if (ch === '\\') at += 2;
      else if (ch === '"') break;
      else at++;
    }
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const v = value(0);
  space();
  if (at !== text.length) fail('trailing characters');
  return v;
}

/** A JSON value of a raw parse with its numbers made JavaScript numbers (for display and plain reads). */
export function cookJson(v: Json): unknown {
  if (v instanceof RawNumber) return Number(v.text);
  if (Array.isArray(v)) return v.map(cookJson);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      Object.defineProperty(out, k, { value: cookJson(x), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}
