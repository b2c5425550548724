// canonicalJson must write what serde_json writes for a serde_json::Value
// (keys sorted by UTF-8 bytes, compact, JSON.stringify's string escapes),
// and parseJsonRaw must keep every number's text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, compareUtf8, parseJsonRaw, RawNumber, type Json } from '../src/json';

test('objects are written with sorted keys and no white space, recursively', () => {
  assert.equal(canonicalJson({ limit: 5, account: 'ht1x', nested: { b: [1, { d: null, c: true }], a: false } }), '{"account":"ht1x","limit":5,"nested":{"a":false,"b":[1,{"c":true,"d":null}]}}');
  assert.equal(canonicalJson({ skipped: undefined, kept: 0 } as unknown as Json), '{"kept":0}');
});

test('strings are escaped as serde_json escapes them', () => {
  // `/`, non-ASCII and U+2028 are not escaped; control characters are, lowercase.
  assert.equal(canonicalJson('a"b\\c/é\u2028\u0001\u001f\b\t\n\f\r'), '"a\\"b\\\\c/é\u2028\\u0001\\u001f\\b\\t\\n\\f\\r"');
});

test('keys sort by UTF-8 bytes (Rust), not UTF-16 units (JavaScript)', () => {
  // U+FFFD is EF BF BD in UTF-8, U+1F600 is F0 9F 98 80: UTF-8 puts U+FFFD first,
  // while UTF-16 puts the surrogate D83D first.
  assert.ok(compareUtf8('\uFFFD', '😀') < 0);
  assert.ok('😀' < '\uFFFD');
  assert.equal(canonicalJson({ '😀': 1, '\uFFFD': 2, a: 3 }), '{"a":3,"\uFFFD":2,"😀":1}');
});

test('only safe integers are sent', () => {
  assert.throws(() => canonicalJson(1.5));
  assert.throws(() => canonicalJson(2 ** 60));
  assert.equal(canonicalJson(-0), '0');
});

test('a raw parse keeps numbers as the node wrote them', () => {
  const v = parseJsonRaw('{"f":1.0,"e":1e21,"big":18446744073709551615,"neg":-3,"s":"\\u00e9\\ud83d\\ude00"}');
  assert.equal(canonicalJson(v), '{"big":18446744073709551615,"e":1e21,"f":1.0,"neg":-3,"s":"é😀"}');
  assert.ok((v as Record<string, Json>)['big'] instanceof RawNumber);
});

test('a raw parse makes __proto__ an own member and refuses bad JSON', () => {
  const v = parseJsonRaw('{"__proto__":{"x":1}}') as Record<string, unknown>;
  assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal(canonicalJson(parseJsonRaw('{"__proto__":{"x":1}}')), '{"__proto__":{"x":1}}');
  for (const bad of ['{', '[1,]', '01', '{"a":1}x', '"\u0001"', 'nul', '{"a" 1}']) assert.throws(() => parseJsonRaw(bad), bad);
});
