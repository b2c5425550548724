// Unit tests: amounts, addresses (bech32m), key files, borsh strictness,
// validation, error mapping and JSON views (with a fake fetch/WebSocket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bech32, bech32m } from '@scure/base';

import {
  ACCOUNT_STATES,
  FAILURE_CODES,
  IDENTITY_ENVELOPE_BYTES,
  MEMO_BYTES_MAX,
  toParameters,
  REFERENCE_BYTES_MAX,
  HutongClient,
  HutongError,
  Keypair,
  KeyFileError,
  RejectedError,
  Reader,
  RpcError,
  SignedTransaction,
  TimeoutError,
  TransactionFailedError,
  TransportError,
  ValidationError,
  Writer,
  addressOf,
  decodeAddress,
  encodeAddress,
  encodeAssetCode,
  decodeAssetCode,
  encodeTransaction,
  expectSuccess,
  formatAmount,
  formatKeyFile,
  isAddress,
  isFinal,
  newTransferId,
  parseAmount,
  parseKeyFile,
  readKeyFile,
  signTransaction,
  toHex,
  toTxStatus,
  toAccount,
  toHold,
  transferIdHex,
  writeKeyFile,
  type LinkedOp,
  type Quote,
  type Transaction,
  type TxKind,
  type WebSocketLike,
  DEVICE_PAYEES_MAX,
  LINKED_LEGS_MAX,
  LINKED_OPS,
  MANDATE_PAYEES_MAX,
  concatBytes,
  encodeQuote,
  fromHex as decodeHex,
  mandateReadHash,
  quoteSigningHash,
  sha256,
  signMandateRead,
  signQuote,
  toMandate,
} from '../src/index.js';
import { ed25519Verify } from '../src/crypto.js';
import { fakeFetch } from './kit.js';

const seed = BigInt(process.env['HUTONG_SEED'] ?? Date.now());
console.log(`units: HUTONG_SEED=${seed}`);
let state = seed & 0xffffffffn;
/** A small deterministic PRNG (xorshift32) for the random inputs, seeded above. */
function rand(n: number): number {
  state ^= (state << 13n) & 0xffffffffn;
  state ^= state >> 17n;
  state ^= (state << 5n) & 0xffffffffn;
  return Number(state % BigInt(n));
}

// ------------------------------------------------------------------ amounts

test('parseAmount / formatAmount', () => {
  assert.equal(parseAmount('12.50', 2), 1250n);
  assert.equal(parseAmount('12.5', 2), 1250n);
  assert.equal(parseAmount('12', 2), 1200n);
  assert.equal(parseAmount('0.01', 2), 1n);
  assert.equal(parseAmount('.5', 2), 50n);
  assert.equal(parseAmount('7.', 2), 700n);
  assert.equal(parseAmount(' 1 ', 0), 1n);
  assert.equal(parseAmount('340282366920938463463374607431768211455', 0), (1n << 128n) - 1n);
  for (const bad of ['', '.', '-1', '+1', '1e3', '1,000', '1_000', '0x10', '1.2.3', 'abc', '1.234', 'NaN']) {
    assert.throws(() => parseAmount(bad, 2), ValidationError, bad);
  }
  assert.throws(() => parseAmount('340282366920938463463374607431768211456', 0), ValidationError);
  assert.throws(() => parseAmount('1', -1), ValidationError);

  assert.equal(formatAmount(1250n, 2), '12.50');
  assert.equal(formatAmount(1n, 2), '0.01');
  assert.equal(formatAmount(0n, 2), '0.00');
  assert.equal(formatAmount(5n, 0), '5');
  assert.equal(formatAmount('123456', 2), '1234.56');
  assert.equal(formatAmount(-150n, 2), '-1.50');
  assert.equal(formatAmount(1n, 8), '0.00000001');
});

test('amounts round-trip for random values (seeded)', () => {
  for (let i = 0; i < 500; i++) {
    const decimals = rand(10);
    const v = BigInt(rand(1_000_000_000)) * BigInt(rand(1_000_000_000)) + BigInt(rand(1000));
    assert.equal(parseAmount(formatAmount(v, decimals), decimals), v, `seed ${seed}: ${v} with ${decimals} decimals`);
  }
});

test('asset codes', () => {
  assert.equal(toHex(encodeAssetCode('CNY')), '434e590000000000');
  assert.equal(decodeAssetCode(encodeAssetCode('ABCDEFG8')), 'ABCDEFG8');
  for (const bad of ['', 'cny', '1AB', 'ABCDEFGHI', 'C-Y', 'CN Y']) assert.throws(() => encodeAssetCode(bad), ValidationError, bad);
  assert.throws(() => decodeAssetCode(Uint8Array.from([0x43, 0, 0x4e, 0, 0, 0, 0, 0])), ValidationError);
});

// ------------------------------------------------------------------ addresses

const KNOWN = 'ht1lr9fsq5ahn46ndmyh2csya2x7rvzvs2g3rljkm'; // vector "transfer" sender

test('addresses: bech32m with hrp ht', () => {
  const bytes = decodeAddress(KNOWN);
  assert.equal(bytes.length, 20);
  assert.equal(encodeAddress(bytes), KNOWN);
  assert.equal(addressOf('8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c'), KNOWN);
  // 20 bytes = 32 data characters + 6 of checksum after "ht1" (SPEC.md says 39; it is 38).
  assert.equal(KNOWN.length, 41);
  assert.ok(isAddress(KNOWN));
  assert.ok(isAddress(KNOWN.toUpperCase()), 'all-uppercase is the same address (BIP 173)');
  assert.equal(encodeAddress(new Uint8Array(20).fill(0x22)), 'ht1yg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zglq8nc');
});

test('addresses: a bad checksum, bech32 (non-m), other prefixes and lengths are refused', () => {
  // Change one character of the data part: the checksum fails.
  for (let i = 0; i < 20; i++) {
    const at = 3 + rand(KNOWN.length - 3);
    const alphabet = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
    const c = alphabet[(alphabet.indexOf(KNOWN[at]!) + 1 + rand(31)) % 32]!;
    const bad = KNOWN.slice(0, at) + c + KNOWN.slice(at + 1);
    assert.throws(() => decodeAddress(bad), ValidationError, `seed ${seed}: ${bad}`);
  }
  const words = bech32.toWords(decodeAddress(KNOWN));
  const legacy = bech32.encode('ht', words);
  assert.throws(() => decodeAddress(legacy), /bech32, not bech32m/);
  assert.throws(() => decodeAddress(addressLike('hx', 20)), /prefix/);
  assert.throws(() => decodeAddress(addressLike('ht', 19)), /19 bytes/);
  assert.throws(() => decodeAddress(addressLike('ht', 32)), /32 bytes/);
  assert.throws(() => decodeAddress('ht1Lr9fsq5ahn46ndmyh2csya2x7rvzvs2g3rljkm'), ValidationError, 'mixed case');
  assert.throws(() => decodeAddress(''), ValidationError);
  assert.throws(() => decodeAddress('not an address'), ValidationError);
});

/** A valid bech32m string of `n` bytes with the given hrp. */
function addressLike(hrp: string, n: number): string {
  return bech32m.encode(hrp, bech32m.toWords(new Uint8Array(n).fill(7)));
}

// ------------------------------------------------------------------ keys

const SECRET = '0101010101010101010101010101010101010101010101010101010101010101';
const PUBLIC = '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c';

test('key files: format and parse', () => {
  const key = Keypair.fromSecretKey(SECRET);
  assert.equal(key.publicKeyHex, PUBLIC);
  const text = formatKeyFile(key);
  assert.match(text, /^# Hutong ed25519 key/);
  assert.equal(parseKeyFile(text).publicKeyHex, PUBLIC);
  // Other TOML spellings of the same three fields.
  const spaced = `\n# comment\nsecret_key='${SECRET}'\n\npublic_key   =   "${PUBLIC}"  # trailing\nkind="hutong-ed25519-secret-key"\r\n`;
  assert.equal(parseKeyFile(spaced).publicKeyHex, PUBLIC);
  assert.ok(!String(key).includes(SECRET) && !JSON.stringify(key).includes(SECRET), 'the secret is not shown');
});

test('key files: parse errors', () => {
  const good = formatKeyFile(Keypair.fromSecretKey(SECRET));
  const cases: Array<[string, RegExp]> = [
    [good.replace('hutong-ed25519-secret-key', 'other-key'), /kind is "other-key"/],
    [good + 'extra = "x"\n', /unknown field "extra"/],
    [good.replace(/public_key.*\n/, ''), /missing field public_key/],
    [good.replace(/secret_key.*\n/, ''), /missing field secret_key/],
    [good + `public_key = "${PUBLIC}"\n`, /appears twice/],
    [good.replace(PUBLIC, '00'.repeat(32)), /does not belong to the secret key/],
    [good.replace(SECRET, 'zz'.repeat(32)), /secret_key is not hex/],
    [good.replace(SECRET, '01'.repeat(31)), /secret_key must be 32 bytes/],
    [good.replace(`"${PUBLIC}"`, PUBLIC), /must be a quoted string/],
    ['kind\n', /not a key = "value" line/],
    ['# x\n'.repeat(2000), /at most 4096 bytes/],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => parseKeyFile(text), (e: unknown) => e instanceof KeyFileError && e instanceof HutongError && why.test((e as Error).message), String(why));
  }
});

test('key files: written with mode 0600, never overwritten, read back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hutong-sdk-keys-'));
  try {
    const key = Keypair.generate();
    const path = join(dir, 'a.key');
    await writeKeyFile(path, key);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal((await readKeyFile(path)).publicKeyHex, key.publicKeyHex);
    assert.equal((await readKeyFile(path)).address, key.address);
    await assert.rejects(writeKeyFile(path, Keypair.generate()), /already exists/);
    assert.equal(parseKeyFile(readFileSync(path, 'utf8')).publicKeyHex, key.publicKeyHex);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ borsh & transactions

test('borsh: integers little-endian, strict reader', () => {
  const w = new Writer().u8(1).u32(2).u64(3n).u128((1n << 128n) - 1n).bool(true).bytes(Uint8Array.of(9)).option(null, () => {});
  const b = w.toBytes();
  assert.equal(toHex(b), '01' + '02000000' + '0300000000000000' + 'ff'.repeat(16) + '01' + '0100000009' + '00');
  const r = new Reader(b);
  assert.equal(r.u8(), 1);
  assert.equal(r.u32(), 2);
  assert.equal(r.u64(), 3n);
  assert.equal(r.u128(), (1n << 128n) - 1n);
  assert.equal(r.bool(), true);
  assert.deepEqual(r.bytes(), Uint8Array.of(9));
  assert.equal(r.option((r) => r.u8()), null);
  r.finish();
  assert.throws(() => new Reader(Uint8Array.of(2)).bool(), /not 0 or 1/);
  assert.throws(() => new Reader(Uint8Array.of(2)).option((r) => r.u8()), /option tag 2/);
  assert.throws(() => new Reader(Uint8Array.of(1, 2)).u32(), /unexpected end/);
  assert.throws(() => new Writer().u64(1n << 64n), /out of range/);
  assert.throws(() => new Writer().u128(-1n), /out of range/);
  const trailing = new Reader(Uint8Array.of(1, 2));
  trailing.u8();
  assert.throws(() => trailing.finish(), /trailing/);
});

const CHAIN = 'ab'.repeat(32);
function transfer(key: Keypair, over: Partial<Transaction> = {}, kind: Partial<any> = {}): Transaction {
  return {
    chainId: CHAIN,
    sender: key.publicKey,
    sequence: 0n,
    expiry: { height: 1000n },
    kind: { type: 'transfer', to: KNOWN, asset: 'CNY', amount: 100n, transferId: 1n, ...kind } as any,
    ...over,
  };
}

test('signTransaction checks what a node refuses statelessly', () => {
  const key = Keypair.generate();
  const other = Keypair.generate();
  assert.ok(signTransaction(transfer(key), key).verify());
  assert.throws(() => signTransaction(transfer(key, {}, { amount: 0n }), key), /zero/);
  assert.throws(() => signTransaction(transfer(key, {}, { to: key.address }), key), /own sender/);
  assert.equal(MEMO_BYTES_MAX, 512);
  assert.ok(signTransaction(transfer(key, { memo: new Uint8Array(512) }), key).verify());
  assert.throws(() => signTransaction(transfer(key, { memo: new Uint8Array(513) }), key), /memo is 513 bytes; at most 512/);
  const long = signTransaction(transfer(key, { memo: new Uint8Array(513) }), key, { skipChecks: true });
  assert.throws(() => SignedTransaction.decode(long.encode()), /memo is 513 bytes/, 'the decoder refuses it as a node does');
  assert.throws(() => signTransaction(transfer(key, {}, { asset: 'cny' }), key), /asset code/);
  assert.throws(() => signTransaction(transfer(key, {}, { amount: 1 as any }), key), /bigint/);
  assert.throws(() => signTransaction(transfer(key), other), /not the signing key/);
  assert.throws(() => signTransaction(transfer(key, { sequence: -1n }), key), /not a u64/);
  const batch: Transaction = { ...transfer(key), kind: { type: 'batch_transfer', asset: 'CNY', payouts: [], transferId: 2n } };
  assert.throws(() => signTransaction(batch, key), /1 to 256 payouts/);
  // Skipping the checks builds it anyway (to test a node's refusals).
  const zero = signTransaction(transfer(key, {}, { amount: 0n }), key, { skipChecks: true });
  assert.ok(zero.verify());
  assert.equal(SignedTransaction.decode(zero.encode()).hash, zero.hash);
  // A memo string is UTF-8.
  const memo = signTransaction(transfer(key, { memo: '发票 42' }), key);
  assert.equal(toHex((SignedTransaction.decode(memo.encode()).tx.memo as Uint8Array)), toHex(new TextEncoder().encode('发票 42')));
});

test('co-signing: the body names the cosigner; cosign checks the key', () => {
  const sender = Keypair.generate();
  const institution = Keypair.generate();
  const stx = signTransaction(transfer(sender, { cosigner: institution.publicKey }), sender);
  assert.equal(stx.verify(), false, 'a named cosigner without a co-signature is not valid');
  assert.throws(() => stx.cosign(Keypair.generate()), /names cosigner/);
  const cosigned = stx.cosign(institution);
  assert.ok(cosigned.verify());
  assert.equal(cosigned.hash, stx.hash, 'the id leaves the signatures out');
  const unsigned = signTransaction(transfer(sender), sender);
  assert.throws(() => unsigned.cosign(institution), /names no cosigner/);
  assert.equal(unsigned.withCosignature(new Uint8Array(64)).verify(), false);
});

test('decoding is strict', () => {
  const key = Keypair.generate();
  const bytes = signTransaction(transfer(key), key).encode();
  assert.throws(() => SignedTransaction.decode(Uint8Array.from([...bytes, 0])), /trailing/);
  assert.throws(() => SignedTransaction.decode(bytes.slice(0, -1)), /unexpected end/);
  const badTag = bytes.slice();
  badTag[bytes.length - 1] = 2; // the cosignature option tag
  assert.throws(() => SignedTransaction.decode(badTag), /option tag 2/);
  assert.throws(() => SignedTransaction.decode(new Uint8Array(16385)), /at most 16384/);
});

test('transfer ids', () => {
  assert.equal(transferIdHex(0x0102n), '00000000000000000000000000000102');
  assert.equal(transferIdHex('0102030405060708090a0b0c0d0e0f10'), '0102030405060708090a0b0c0d0e0f10');
  assert.notEqual(newTransferId(), newTransferId());
  assert.throws(() => transferIdHex('0102'), ValidationError);
});

// ------------------------------------------------------------------ holds, amount freezes, account states

const le = (v: bigint, bytes: number) => {
  let h = '';
  for (let i = 0; i < bytes; i++) h += ((v >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, '0');
  return h;
};
const KNOWN_HEX = toHex(decodeAddress(KNOWN));
const CNY_HEX = toHex(encodeAssetCode('CNY'));
const HOLD_ID = '0000000000000000000000000000feed';

/** A transaction of `kind`: its encoded kind (tag and fields), and the kind decoded back from the signed bytes. */
function roundTrip(kind: TxKind): { body: string; back: TxKind } {
  const key = Keypair.fromSecretKey(SECRET);
  const tx: Transaction = { chainId: CHAIN, sender: key.publicKey, sequence: 3n, expiry: { height: 9n }, kind };
  const hex = toHex(encodeTransaction(tx));
  const signed = signTransaction(tx, key);
  const back = SignedTransaction.decode(signed.encode());
  assert.equal(back.hash, signed.hash);
  assert.ok(back.verify());
  assert.equal(toHex(encodeTransaction(back.tx)), hex, 'decode → encode');
  // chain id 32, sender 32, sequence 8, expiry 9 | kind | cosigner none 1, empty memo 4
  return { body: hex.slice(2 * (32 + 32 + 8 + 9), hex.length - 2 * 5), back: back.tx.kind };
}

test('hold: encodes as kind 12 and decodes back', () => {
  const payee = encodeAddress(new Uint8Array(20).fill(0x33));
  const { body, back } = roundTrip({ type: 'hold', to: payee, asset: 'CNY', amount: 20000n, holdId: HOLD_ID, expiresAtMs: 1767229200000 });
  assert.equal(body, '0c' + '33'.repeat(20) + CNY_HEX + le(20000n, 16) + le(0xfeedn, 16) + le(1767229200000n, 8));
  assert.deepEqual(back, { type: 'hold', to: payee, asset: 'CNY', amount: 20000n, holdId: 0xfeedn, expiresAtMs: 1767229200000n });
  const key = Keypair.fromSecretKey(SECRET);
  const hold = (over: object): Transaction => ({
    chainId: CHAIN, sender: key.publicKey, sequence: 0n, expiry: { height: 9n },
    kind: { type: 'hold', to: payee, asset: 'CNY', amount: 1n, holdId: 1n, expiresAtMs: 1n, ...over } as TxKind,
  });
  assert.ok(signTransaction(hold({}), key).verify());
  assert.throws(() => signTransaction(hold({ amount: 0n }), key), /zero/);
  assert.throws(() => signTransaction(hold({ to: key.address }), key), /a hold pays its own sender/);
  assert.throws(() => signTransaction(hold({ holdId: 'feed' }), key), /32 hex digits/);
  assert.throws(() => signTransaction(hold({ expiresAtMs: 1n << 64n }), key), /not a u64/);
  assert.throws(() => signTransaction(hold({ asset: 'cny' }), key), ValidationError);
});

test('capture and void: kinds 13 and 14', () => {
  let { body, back } = roundTrip({ type: 'capture', payer: KNOWN, holdId: 0xfeedn, amount: 7350n });
  assert.equal(body, '0d' + KNOWN_HEX + le(0xfeedn, 16) + le(7350n, 16));
  assert.deepEqual(back, { type: 'capture', payer: KNOWN, holdId: 0xfeedn, amount: 7350n });
  ({ body, back } = roundTrip({ type: 'void', payer: KNOWN, holdId: HOLD_ID }));
  assert.equal(body, '0e' + KNOWN_HEX + le(0xfeedn, 16));
  assert.deepEqual(back, { type: 'void', payer: KNOWN, holdId: 0xfeedn });
  const key = Keypair.fromSecretKey(SECRET);
  const zero: Transaction = { chainId: CHAIN, sender: key.publicKey, sequence: 0n, expiry: { height: 9n }, kind: { type: 'capture', payer: KNOWN, holdId: 1n, amount: 0n } };
  assert.throws(() => signTransaction(zero, key), /zero/);
});

test('freeze_amount: kind 15, reference and optional expiry', () => {
  const ref = '(2026) Hu 0101 Zhi 123';
  let { body, back } = roundTrip({ type: 'freeze_amount', account: KNOWN, asset: 'CNY', amount: 500000n, freezeId: 77, reason: 'legal-order', reference: ref, expiresAtMs: 1798761600000n });
  const refHex = toHex(new TextEncoder().encode(ref));
  assert.equal(body, '0f' + KNOWN_HEX + CNY_HEX + le(500000n, 16) + le(77n, 8) + '01' + le(22n, 4) + refHex + '01' + le(1798761600000n, 8));
  assert.deepEqual(back, { type: 'freeze_amount', account: KNOWN, asset: 'CNY', amount: 500000n, freezeId: 77n, reason: 'legal-order', reference: new TextEncoder().encode(ref), expiresAtMs: 1798761600000n });
  // No reference, no expiry.
  ({ body, back } = roundTrip({ type: 'freeze_amount', account: KNOWN, asset: 'CNY', amount: 1n, freezeId: 2n, reason: 'other' }));
  assert.equal(body, '0f' + KNOWN_HEX + CNY_HEX + le(1n, 16) + le(2n, 8) + '04' + le(0n, 4) + '00');
  assert.deepEqual(back, { type: 'freeze_amount', account: KNOWN, asset: 'CNY', amount: 1n, freezeId: 2n, reason: 'other', reference: new Uint8Array(), expiresAtMs: null });
  const key = Keypair.fromSecretKey(SECRET);
  const freeze = (over: object): Transaction => ({
    chainId: CHAIN, sender: key.publicKey, sequence: 0n, expiry: { height: 9n },
    kind: { type: 'freeze_amount', account: KNOWN, asset: 'CNY', amount: 1n, freezeId: 1n, reason: 'fraud', ...over } as TxKind,
  });
  assert.throws(() => signTransaction(freeze({ amount: 0n }), key), /zero/);
  assert.throws(() => signTransaction(freeze({ reason: 'stolen' }), key), /freeze reason/);
  assert.throws(() => signTransaction(freeze({ freezeId: -1n }), key), /not a u64/);
});

test('release_freeze: kind 16', () => {
  const { body, back } = roundTrip({ type: 'release_freeze', account: KNOWN, freezeId: 77n });
  assert.equal(body, '10' + KNOWN_HEX + le(77n, 8));
  assert.deepEqual(back, { type: 'release_freeze', account: KNOWN, freezeId: 77n });
});

test('set_account_state: kind 17, every state', () => {
  assert.deepEqual([...ACCOUNT_STATES], ['normal', 'receive-only', 'send-only']);
  ACCOUNT_STATES.forEach((state, i) => {
    const { body, back } = roundTrip({ type: 'set_account_state', account: KNOWN, state, reason: 'regulatory', reference: Uint8Array.of(0xff, 1), expiresAtMs: 12345 });
    assert.equal(body, '11' + KNOWN_HEX + '0' + i + '02' + le(2n, 4) + 'ff01' + '01' + le(12345n, 8));
    assert.deepEqual(back, { type: 'set_account_state', account: KNOWN, state, reason: 'regulatory', reference: Uint8Array.of(0xff, 1), expiresAtMs: 12345n });
  });
  const { body } = roundTrip({ type: 'set_account_state', account: KNOWN, state: 'normal', reason: 'fraud', expiresAtMs: null });
  assert.equal(body, '11' + KNOWN_HEX + '00' + '00' + le(0n, 4) + '00');
  const key = Keypair.fromSecretKey(SECRET);
  const bad: Transaction = { chainId: CHAIN, sender: key.publicKey, sequence: 0n, expiry: { height: 9n }, kind: { type: 'set_account_state', account: KNOWN, state: 'frozen' as any, reason: 'fraud' } };
  assert.throws(() => encodeTransaction(bad), /account state "frozen"/);
});

test('a reference longer than 64 bytes is refused, encoding and decoding', () => {
  assert.equal(REFERENCE_BYTES_MAX, 64);
  const key = Keypair.fromSecretKey(SECRET);
  const kinds = (reference: Uint8Array | string): TxKind[] => [
    { type: 'freeze_amount', account: KNOWN, asset: 'CNY', amount: 1n, freezeId: 1n, reason: 'legal-order', reference },
    { type: 'set_account_state', account: KNOWN, state: 'send-only', reason: 'legal-order', reference },
  ];
  const tx = (kind: TxKind): Transaction => ({ chainId: CHAIN, sender: key.publicKey, sequence: 0n, expiry: { height: 9n }, kind });
  for (const kind of [...kinds(new Uint8Array(64).fill(0x72)), ...kinds('案'.repeat(21))]) roundTrip(kind);
  for (const kind of [...kinds(new Uint8Array(65).fill(0x72)), ...kinds('案'.repeat(22))]) {
    assert.throws(() => encodeTransaction(tx(kind)), (e: unknown) => e instanceof ValidationError && /reference is 6[56] bytes; at most 64/.test((e as Error).message));
    assert.throws(() => signTransaction(tx(kind), key), ValidationError);
    assert.throws(() => signTransaction(tx(kind), key, { skipChecks: true }), ValidationError, 'the encoder refuses it even unchecked');
  }
  // Bytes a node would refuse: a 65-byte reference, written by hand.
  for (const kind of kinds(new Uint8Array(64).fill(0x72))) {
    const hex = signTransaction(tx(kind), key).toHex();
    const at = hex.indexOf(le(64n, 4) + '72'.repeat(64));
    assert.ok(at > 0);
    const longer = hex.slice(0, at) + le(65n, 4) + '72'.repeat(65) + hex.slice(at + 8 + 128);
    assert.throws(() => SignedTransaction.decode(longer), /reference is 65 bytes/);
  }
});

test('decoding the new kinds is strict', () => {
  const key = Keypair.fromSecretKey(SECRET);
  const hex = signTransaction({ chainId: CHAIN, sender: key.publicKey, sequence: 0n, expiry: { height: 9n }, kind: { type: 'set_account_state', account: KNOWN, state: 'normal', reason: 'fraud', expiresAtMs: 5n } }, key).toHex();
  const kindAt = 2 * (32 + 32 + 8 + 9);
  const stateAt = kindAt + 2 + 40;
  const patch = (at: number, byte: string) => hex.slice(0, at) + byte + hex.slice(at + 2);
  assert.throws(() => SignedTransaction.decode(patch(stateAt, '03')), /account state is out of range/);
  assert.throws(() => SignedTransaction.decode(patch(stateAt + 2, '05')), /freeze reason is out of range/);
  assert.throws(() => SignedTransaction.decode(patch(stateAt + 4 + 8, '02')), /option tag 2/);
  assert.throws(() => SignedTransaction.decode(patch(kindAt, '1c')), /kind tag 28 is out of range/);
});

// ------------------------------------------------------------------ the identity layer's kinds

test('open_account carries an identity envelope: empty, or exactly 144 bytes', () => {
  const owner = Keypair.fromSecretKey('07'.repeat(32));
  const commitment = '5a'.repeat(32);
  let { body, back } = roundTrip({ type: 'open_account', owner: owner.publicKey, tier: 2, identityCommitment: commitment });
  assert.equal(body, '02' + owner.publicKeyHex + '02' + commitment + le(0n, 4));
  assert.deepEqual(back, { type: 'open_account', owner: owner.publicKey, tier: 2, identityCommitment: decodeHex(commitment), identityEnvelope: new Uint8Array() });
  assert.equal(IDENTITY_ENVELOPE_BYTES, 144);
  const envelope = new Uint8Array(144).fill(0x6b);
  ({ body, back } = roundTrip({ type: 'open_account', owner: owner.publicKeyHex, tier: 2, identityCommitment: commitment, identityEnvelope: envelope }));
  assert.equal(body, '02' + owner.publicKeyHex + '02' + commitment + le(144n, 4) + '6b'.repeat(144));
  assert.deepEqual((back as any).identityEnvelope, envelope);
  const key = Keypair.fromSecretKey(SECRET);
  for (const len of [1, 143, 145]) {
    const tx = txOf({ type: 'open_account', owner: owner.publicKey, tier: 2, identityCommitment: commitment, identityEnvelope: new Uint8Array(len) });
    assert.throws(() => signTransaction(tx, key), new RegExp(`identity envelope is ${len} bytes; it is empty or 144`));
    const hex = signTransaction(tx, key, { skipChecks: true }).toHex();
    assert.throws(() => SignedTransaction.decode(hex), new RegExp(`identity envelope is ${len} bytes`), 'the decoder refuses it as a node does');
  }
});

test('list_identity, delist_identity, set_memo_key: kinds 25 to 27', () => {
  const listing = '4c'.repeat(32);
  const ref = '(2026) Hu 0101 Zhi 456';
  let { body, back } = roundTrip({ type: 'list_identity', listingKey: listing, reason: 'legal-order', reference: ref });
  assert.equal(body, '19' + listing + '01' + le(22n, 4) + toHex(new TextEncoder().encode(ref)));
  assert.deepEqual(back, { type: 'list_identity', listingKey: decodeHex(listing), reason: 'legal-order', reference: new TextEncoder().encode(ref) });
  ({ body, back } = roundTrip({ type: 'list_identity', listingKey: decodeHex(listing), reason: 'fraud' }));
  assert.equal(body, '19' + listing + '00' + le(0n, 4));
  ({ body, back } = roundTrip({ type: 'delist_identity', listingKey: listing }));
  assert.equal(body, '1a' + listing);
  assert.deepEqual(back, { type: 'delist_identity', listingKey: decodeHex(listing) });
  ({ body, back } = roundTrip({ type: 'set_memo_key', key: '3e'.repeat(32) }));
  assert.equal(body, '1b' + '3e'.repeat(32));
  assert.deepEqual(back, { type: 'set_memo_key', key: decodeHex('3e'.repeat(32)) });
  const key = Keypair.fromSecretKey(SECRET);
  assert.throws(() => signTransaction(txOf({ type: 'list_identity', listingKey: listing, reason: 'fraud', reference: new Uint8Array(65) }), key), /reference is 65 bytes; at most 64/);
  assert.throws(() => signTransaction(txOf({ type: 'list_identity', listingKey: listing, reason: 'stolen' as any }), key), /freeze reason/);
  assert.throws(() => signTransaction(txOf({ type: 'delist_identity', listingKey: '4c'.repeat(31) }), key), /32 bytes/);
  assert.throws(() => signTransaction(txOf({ type: 'set_memo_key', key: new Uint8Array(33) }), key), /32 bytes/);
});

test('effects and failures of the identity layer; the parameters’ identity keys', () => {
  const s = toTxStatus({
    status: 'committed', hash: 'aa', height: 5, index: 0, block_id: null,
    receipt: {
      tx_hash: 'aa', success: true,
      effects: [
        { type: 'identity_listed', listing_key: '4c'.repeat(32), by: A22, reason: 'legal-order' },
        { type: 'identity_delisted', listing_key: '4c'.repeat(32), by: A22 },
        { type: 'memo_key_set', institution: A33, key: '3e'.repeat(32) },
      ],
    },
  });
  const e = expectSuccess(s).effects!;
  assert.deepEqual(e[0], { type: 'identity_listed', listingKey: '4c'.repeat(32), by: A22, reason: 'legal-order' });
  assert.deepEqual(e[1], { type: 'identity_delisted', listingKey: '4c'.repeat(32), by: A22 });
  assert.deepEqual(e[2], { type: 'memo_key_set', institution: A33, key: '3e'.repeat(32) });
  for (const [failure, detail] of [
    [{ code: 'identity_envelope', required: true }, (f: any) => f.required === true],
    [{ code: 'already_listed', listed_by: A22 }, (f: any) => f.listed_by === A22],
    [{ code: 'not_listed' }, () => true],
    [{ code: 'memo_not_sealed' }, () => true],
  ] as const) {
    assert.ok((FAILURE_CODES as readonly string[]).includes(failure.code), failure.code);
    const failed = toTxStatus({ status: 'committed', hash: 'aa', height: 5, index: 0, block_id: null, receipt: { tx_hash: 'aa', success: false, code: failure.code, reason: 'r', failure } });
    assert.throws(() => expectSuccess(failed), (err: unknown) => err instanceof TransactionFailedError && err.code === failure.code && detail(err.detail));
  }
  assert.equal(new Set(FAILURE_CODES).size, FAILURE_CODES.length);
  const p = toParameters({ sizes: { memo_bytes_max: 512 }, identity: { oprf_key: '36'.repeat(32), hpke_key: '65'.repeat(32) } });
  assert.deepEqual(p.identity, { oprfKey: '36'.repeat(32), hpkeKey: '65'.repeat(32) });
  assert.equal(p.sizes.memoBytesMax, 512);
  assert.equal(toParameters({}).identity, null);
  assert.equal(toParameters({ identity: null }).identity, null);
});

// ------------------------------------------------------------------ device keys, linked, pvp, mandates

const addr = (byte: number) => encodeAddress(new Uint8Array(20).fill(byte));
const A22 = addr(0x22);
const A33 = addr(0x33);
const A44 = addr(0x44);
const HKD_HEX = toHex(encodeAssetCode('HKD'));
const DEVICE = Keypair.fromSecretKey('05'.repeat(32));
const txOf = (kind: TxKind): Transaction => ({ chainId: CHAIN, sender: Keypair.fromSecretKey(SECRET).publicKey, sequence: 0n, expiry: { height: 9n }, kind });

test('register_device and revoke_device: kinds 18 and 19', () => {
  let { body, back } = roundTrip({ type: 'register_device', key: DEVICE.publicKey, asset: 'CNY', maxPerHold: 30000n, dailyMax: 50000n, payees: [A33] });
  assert.equal(body, '12' + DEVICE.publicKeyHex + CNY_HEX + le(30000n, 16) + le(50000n, 16) + le(1n, 4) + '33'.repeat(20));
  assert.deepEqual(back, { type: 'register_device', key: DEVICE.publicKey, asset: 'CNY', maxPerHold: 30000n, dailyMax: 50000n, payees: [A33] });
  // No payees: any payee.
  ({ body, back } = roundTrip({ type: 'register_device', key: DEVICE.publicKeyHex, asset: 'CNY', maxPerHold: 1n, dailyMax: 2n }));
  assert.ok(body.endsWith(le(0n, 4)));
  assert.deepEqual((back as any).payees, []);
  ({ body, back } = roundTrip({ type: 'revoke_device', key: DEVICE.publicKey }));
  assert.equal(body, '13' + DEVICE.publicKeyHex);
  assert.deepEqual(back, { type: 'revoke_device', key: DEVICE.publicKey });
  const key = Keypair.fromSecretKey(SECRET);
  assert.equal(DEVICE_PAYEES_MAX, 16);
  roundTrip({ type: 'register_device', key: DEVICE.publicKey, asset: 'CNY', maxPerHold: 1n, dailyMax: 2n, payees: Array(16).fill(A33) });
  const tooMany = txOf({ type: 'register_device', key: DEVICE.publicKey, asset: 'CNY', maxPerHold: 1n, dailyMax: 2n, payees: Array(17).fill(A33) });
  assert.throws(() => signTransaction(tooMany, key), /17 payees; at most 16/);
  const hex = signTransaction(tooMany, key, { skipChecks: true }).toHex();
  assert.throws(() => SignedTransaction.decode(hex), /17 payees; at most 16/, 'the decoder refuses it as the node does');
  assert.throws(() => signTransaction(txOf({ type: 'register_device', key: new Uint8Array(31), asset: 'CNY', maxPerHold: 1n, dailyMax: 2n }), key), /32 bytes/);
});

const LEGS: LinkedOp[] = [
  { type: 'transfer', to: A22, asset: 'CNY', amount: 97000n, transferId: 0xa1n },
  { type: 'hold', to: A33, asset: 'CNY', amount: 3000n, holdId: 0xa2n, expiresAtMs: 1767229200000n },
  { type: 'capture', payer: A44, holdId: 0xb1n, amount: 500n },
  { type: 'void', payer: A44, holdId: 0xb2n },
];

test('linked: kind 20, legs tagged 0 to 3 with the fields of their kinds', () => {
  const { body, back } = roundTrip({ type: 'linked', legs: LEGS });
  assert.equal(
    body,
    '14' + le(4n, 4) +
      '00' + '22'.repeat(20) + CNY_HEX + le(97000n, 16) + le(0xa1n, 16) +
      '01' + '33'.repeat(20) + CNY_HEX + le(3000n, 16) + le(0xa2n, 16) + le(1767229200000n, 8) +
      '02' + '44'.repeat(20) + le(0xb1n, 16) + le(500n, 16) +
      '03' + '44'.repeat(20) + le(0xb2n, 16),
  );
  assert.deepEqual(back, { type: 'linked', legs: LEGS });
  assert.deepEqual([...LINKED_OPS], ['transfer', 'hold', 'capture', 'void']);
  assert.equal(LINKED_LEGS_MAX, 8);
  roundTrip({ type: 'linked', legs: [...LEGS, ...LEGS] });
  const key = Keypair.fromSecretKey(SECRET);
  const linked = (legs: LinkedOp[]) => txOf({ type: 'linked', legs });
  assert.throws(() => signTransaction(linked([]), key), /1 to 8 legs, got 0/);
  assert.throws(() => signTransaction(linked([...LEGS, ...LEGS, LEGS[0]!]), key), /1 to 8 legs, got 9/);
  assert.throws(() => signTransaction(linked([{ ...LEGS[0]!, amount: 0n } as LinkedOp]), key), /leg 0: an amount is zero/);
  assert.throws(() => signTransaction(linked([LEGS[3]!, { ...LEGS[1]!, to: key.address } as LinkedOp]), key), /leg 1: a hold pays its own sender/);
  assert.throws(() => signTransaction(linked([{ ...LEGS[2]!, amount: 0n } as LinkedOp]), key), /leg 0: amount is zero/);
  assert.throws(() => encodeTransaction(linked([{ type: 'mint', to: A22, asset: 'CNY', amount: 1n } as any])), /a linked leg is a transfer, hold, capture or void, not "mint"/);
  // The decoder refuses what the node refuses: a leg tag past void, no legs, 9 legs.
  const one = signTransaction(linked([LEGS[3]!]), key).toHex();
  const kindAt = 2 * (32 + 32 + 8 + 9);
  const legAt = kindAt + 2 + 8;
  assert.throws(() => SignedTransaction.decode(one.slice(0, legAt) + '04' + one.slice(legAt + 2)), /linked leg tag 4 is out of range/);
  const voidLeg = '03' + '44'.repeat(20) + le(0xb2n, 16);
  assert.equal(one.slice(legAt, legAt + voidLeg.length), voidLeg);
  const withLegs = (n: number) => one.slice(0, kindAt + 2) + le(BigInt(n), 4) + voidLeg.repeat(n) + one.slice(legAt + voidLeg.length);
  assert.throws(() => SignedTransaction.decode(withLegs(0)), /1 to 8 legs, got 0/);
  assert.throws(() => SignedTransaction.decode(withLegs(9)), /1 to 8 legs, got 9/);
  assert.equal(SignedTransaction.decode(withLegs(8)).tx.kind.type, 'linked');
});

const PROVIDER = Keypair.fromSecretKey('0c'.repeat(32));
const QUOTE: Quote = {
  provider: PROVIDER.address, quoteId: 4242n, sell: 'CNY', buy: 'HKD', rateNum: 10912n, rateDen: 10000n,
  minSell: 10000n, maxSell: 1000000n, expiresAtMs: 1767229200000n, payer: KNOWN,
};
const QUOTE_HEX = toHex(decodeAddress(PROVIDER.address)) + le(4242n, 8) + CNY_HEX + HKD_HEX + le(10912n, 8) + le(10000n, 8) +
  le(10000n, 16) + le(1000000n, 16) + le(1767229200000n, 8) + '01' + KNOWN_HEX;

test('pvp: kind 21, the quote and its signature', () => {
  assert.equal(toHex(encodeQuote(QUOTE)), QUOTE_HEX);
  const digest = quoteSigningHash(CHAIN, QUOTE);
  assert.equal(toHex(digest), toHex(sha256(concatBytes(new TextEncoder().encode('hutong/quote/v1'), Uint8Array.of(0), decodeHex(CHAIN), decodeHex(QUOTE_HEX)))));
  const sig = signQuote(CHAIN, QUOTE, PROVIDER);
  assert.equal(sig.length, 64);
  const { body, back } = roundTrip({ type: 'pvp', quote: QUOTE, quoteSignature: sig, pay: 100000n, minReceive: 109000n, to: A22, transferId: 0xc1n });
  assert.equal(body, '15' + QUOTE_HEX + toHex(sig) + le(100000n, 16) + le(109000n, 16) + '22'.repeat(20) + le(0xc1n, 16));
  assert.deepEqual(back, { type: 'pvp', quote: QUOTE, quoteSignature: sig, pay: 100000n, minReceive: 109000n, to: A22, transferId: 0xc1n });
  // Any payer (none, or absent); a u64 rate beyond 2^53.
  const anyone = { ...QUOTE, payer: null, rateNum: (1n << 64n) - 1n };
  assert.ok(toHex(encodeQuote(anyone)).endsWith(le(1767229200000n, 8) + '00'));
  assert.equal(toHex(encodeQuote({ ...anyone, payer: undefined })), toHex(encodeQuote(anyone)));
  assert.ok(toHex(encodeQuote(anyone)).includes('ff'.repeat(8)));
  const key = Keypair.fromSecretKey(SECRET);
  const pvp = (over: object) => txOf({ type: 'pvp', quote: QUOTE, quoteSignature: sig, pay: 100000n, minReceive: 1n, to: A22, transferId: 1n, ...over } as TxKind);
  assert.ok(signTransaction(pvp({}), key).verify());
  assert.throws(() => signTransaction(pvp({ pay: 0n }), key), /zero/);
  assert.throws(() => signTransaction(pvp({ quoteSignature: sig.slice(0, 63) }), key), /64 bytes/);
  assert.throws(() => signTransaction(pvp({ quote: { ...QUOTE, rateDen: 1n << 64n } }), key), /not a u64/);
  assert.throws(() => signTransaction(pvp({ quote: { ...QUOTE, buy: 'hkd' } }), key), ValidationError);
});

test('grant_mandate, revoke_mandate, mandate_pay: kinds 22 to 24', () => {
  const [grantee, p1, p2] = [addr(0x55), addr(0x66), addr(0x77)];
  let { body, back } = roundTrip({
    type: 'grant_mandate', mandateId: 3, grantee, scope: { pay: true, read: true }, asset: 'CNY', payees: [p1, p2],
    perPayment: 50000n, perPeriod: 200000n, periodSeconds: 30 * 86400, startMs: 1767196800000, endMs: 1798732800000n,
  });
  assert.equal(body, '16' + le(3n, 8) + '55'.repeat(20) + '0101' + CNY_HEX + le(2n, 4) + '66'.repeat(20) + '77'.repeat(20) +
    le(50000n, 16) + le(200000n, 16) + le(2592000n, 4) + le(1767196800000n, 8) + le(1798732800000n, 8));
  assert.deepEqual(back, {
    type: 'grant_mandate', mandateId: 3n, grantee, scope: { pay: true, read: true }, asset: 'CNY', payees: [p1, p2],
    perPayment: 50000n, perPeriod: 200000n, periodSeconds: 2592000, startMs: 1767196800000n, endMs: 1798732800000n,
  });
  ({ body } = roundTrip({ type: 'grant_mandate', mandateId: 4n, grantee, scope: { pay: false, read: true }, asset: 'CNY', perPayment: 0n, perPeriod: 0n, periodSeconds: 86400, startMs: 1, endMs: 2 }));
  assert.equal(body.slice(2 + 16 + 40, 2 + 16 + 40 + 4), '0001');
  ({ body, back } = roundTrip({ type: 'revoke_mandate', mandateId: 3n }));
  assert.equal(body, '17' + le(3n, 8));
  assert.deepEqual(back, { type: 'revoke_mandate', mandateId: 3n });
  ({ body, back } = roundTrip({ type: 'mandate_pay', payer: KNOWN, mandateId: 3n, to: p1, asset: 'CNY', amount: 32100n, transferId: 0xd1n }));
  assert.equal(body, '18' + KNOWN_HEX + le(3n, 8) + '66'.repeat(20) + CNY_HEX + le(32100n, 16) + le(0xd1n, 16));
  assert.deepEqual(back, { type: 'mandate_pay', payer: KNOWN, mandateId: 3n, to: p1, asset: 'CNY', amount: 32100n, transferId: 0xd1n });
  const key = Keypair.fromSecretKey(SECRET);
  const grant = (over: object) => txOf({ type: 'grant_mandate', mandateId: 1n, grantee, scope: { pay: true, read: false }, asset: 'CNY', perPayment: 1n, perPeriod: 1n, periodSeconds: 1, startMs: 1n, endMs: 2n, ...over } as TxKind);
  assert.equal(MANDATE_PAYEES_MAX, 16);
  assert.throws(() => signTransaction(grant({ payees: Array(17).fill(p1) }), key), /a mandate names 17 payees; at most 16/);
  assert.throws(() => SignedTransaction.decode(signTransaction(grant({ payees: Array(17).fill(p1) }), key, { skipChecks: true }).toHex()), /17 payees/);
  assert.throws(() => signTransaction(grant({ grantee: key.address }), key), /grants its own sender/);
  assert.throws(() => signTransaction(grant({ periodSeconds: 2 ** 32 }), key), /not a u32/);
  assert.throws(() => signTransaction(grant({ scope: { pay: 1, read: false } }), key), /a mandate scope is/);
  assert.throws(() => signTransaction(grant({ mandateId: -1n }), key), /not a u64/);
  const pay = txOf({ type: 'mandate_pay', payer: KNOWN, mandateId: 3n, to: p1, asset: 'CNY', amount: 0n, transferId: 1n });
  assert.throws(() => signTransaction(pay, key), /zero/);
});

test('mandate read requests: the hash and the signature', () => {
  const grantee = Keypair.fromSecretKey('06'.repeat(32));
  const digest = mandateReadHash(CHAIN, KNOWN, 3n, 1767225600000);
  assert.equal(toHex(digest), toHex(sha256(concatBytes(new TextEncoder().encode('hutong/mandate-read/v1'), Uint8Array.of(0), decodeHex(CHAIN), decodeAddress(KNOWN), decodeHex(le(3n, 8)), decodeHex(le(1767225600000n, 8))))));
  // The same value in the Python SDK's test.
  assert.equal(toHex(digest), 'f9da60d0cc9ae472aa19e6997f20b214e03bce682419224b554a574f04973db5');
  const sig = signMandateRead(CHAIN, KNOWN, 3, 1767225600000n, grantee);
  assert.match(sig, /^[0-9a-f]{128}$/);
  assert.ok(ed25519Verify(decodeHex(sig), digest, grantee.publicKey));
  assert.throws(() => mandateReadHash(CHAIN, KNOWN, -1, 1), /not a u64/);
});

test('effects of linked transactions, exchanges and mandates; a failed leg', () => {
  const s = toTxStatus({
    status: 'committed', hash: 'aa', height: 5, index: 0, block_id: null,
    receipt: {
      tx_hash: 'aa', success: true,
      effects: [
        { type: 'leg', leg: 0 },
        { type: 'exchanged', payer: 'ht1p', provider: 'ht1f', quote_id: 4242, payee: 'ht1q', sell: 'CNY', paid: '100000', buy: 'HKD', received: '109120' },
        { type: 'mandate_granted', account: 'ht1p', mandate_id: 3, grantee: 'ht1g', end_ms: 1798732800000 },
        { type: 'mandate_revoked', account: 'ht1p', mandate_id: 3, grantee: 'ht1g' },
        { type: 'mandate_used', payer: 'ht1p', mandate_id: 3, grantee: 'ht1g', spent_in_period: '32100' },
      ],
    },
  });
  const receipt = expectSuccess(s);
  assert.equal(receipt.failedLeg, null);
  const e = receipt.effects!;
  assert.deepEqual(e[0], { type: 'leg', leg: 0 });
  assert.deepEqual(e[1], { type: 'exchanged', payer: 'ht1p', provider: 'ht1f', quoteId: 4242, payee: 'ht1q', sell: 'CNY', paid: 100000n, buy: 'HKD', received: 109120n });
  assert.deepEqual(e[2], { type: 'mandate_granted', account: 'ht1p', mandateId: 3, grantee: 'ht1g', endMs: 1798732800000 });
  assert.equal(e[3]!.type, 'mandate_revoked');
  assert.equal(e[4]!.spentInPeriod, 32100n);
  const failed = toTxStatus({
    status: 'committed', hash: 'aa', height: 5, index: 0, block_id: null,
    receipt: { tx_hash: 'aa', success: false, code: 'slippage', reason: 'Slippage {..}', failed_leg: 1, failure: { code: 'slippage', min_receive: '1090.00' } },
  });
  assert.equal(failed.status === 'committed' && failed.receipt?.failedLeg, 1);
  assert.throws(() => expectSuccess(failed), (e: unknown) => e instanceof TransactionFailedError && e.code === 'slippage');
  for (const code of ['device_scope', 'unknown_device', 'not_fx_provider', 'bad_quote_signature', 'bad_quote', 'quote_expired', 'quote_used', 'quote_not_for_payer', 'outside_quote', 'slippage', 'unknown_mandate', 'mandate_exists', 'too_many_mandates', 'bad_mandate', 'mandate_inactive', 'mandate_scope', 'mandate_limit']) {
    assert.ok((FAILURE_CODES as readonly string[]).includes(code), code);
  }
  assert.equal(new Set(FAILURE_CODES).size, FAILURE_CODES.length);
});

test('getMandates and readAccount: the requests and the views', async () => {
  const requests: any[] = [];
  const mandate = {
    mandate_id: 3, grantee: A22, scope: { pay: true, read: true }, asset: 'CNY', payees: [A33], per_payment: '50000', per_period: '200000',
    period_seconds: 2592000, start_ms: 1767196800000, end_ms: 1798732800000, spent_in_period: '0', active: true,
  };
  const client = new HutongClient('http://node', {
    fetch: fakeFetch((req) => {
      requests.push(req);
      const result =
        req.method === 'hutong_status' ? { chain_id: CHAIN, height: 1, timestamp_ms: 1 }
          : req.method === 'hutong_getMandates' ? { account: KNOWN, mandates: [mandate] }
            : { address: KNOWN, kind: 'customer', sequence: 3, status: 'active', balances: { CNY: '125' }, height: 9 };
      return { body: JSON.stringify({ jsonrpc: '2.0', id: req.id, result }) };
    }),
  });
  const ms = await client.getMandates(KNOWN);
  assert.equal(requests[0].method, 'hutong_getMandates');
  assert.deepEqual(requests[0].params, [{ account: KNOWN }]);
  assert.deepEqual(ms.map((m) => ({ ...m, raw: undefined })), [{
    mandateId: 3n, grantee: A22, scope: { pay: true, read: true }, asset: 'CNY', payees: [A33], perPayment: 50000n, perPeriod: 200000n,
    periodSeconds: 2592000, startMs: 1767196800000, endMs: 1798732800000, spentInPeriod: 0n, active: true, raw: undefined,
  }]);
  assert.deepEqual(toMandate({}).payees, []);
  await assert.rejects(client.getMandates('not an address'), ValidationError);

  const grantee = Keypair.fromSecretKey('06'.repeat(32));
  const before = Date.now();
  const account = await client.readAccount(KNOWN, 3n, grantee);
  assert.equal(account.balances['CNY'], 125n);
  const read = requests.find((r) => r.method === 'hutong_readAccount');
  const [request] = read.params;
  assert.deepEqual(Object.keys(request).sort(), ['account', 'grantee_key', 'mandate_id', 'signature', 'timestamp_ms']);
  assert.equal(request.account, KNOWN);
  assert.equal(request.mandate_id, 3);
  assert.equal(request.grantee_key, grantee.publicKeyHex);
  assert.ok(request.timestamp_ms >= before && request.timestamp_ms <= Date.now());
  assert.ok(ed25519Verify(decodeHex(request.signature), mandateReadHash(CHAIN, KNOWN, 3, request.timestamp_ms), grantee.publicKey));
  await assert.rejects(client.readAccount(KNOWN, 1n << 60n, grantee), /safe integers/);
  await assert.rejects(client.readAccount(KNOWN, -1, grantee), ValidationError);
});

// ------------------------------------------------------------------ views and errors

test('statuses: old and new shapes, unknown fields ignored', () => {
  const committed = toTxStatus({
    status: 'committed', hash: 'aa', height: 5, index: 0, block_id: 'bb', extra: 1,
    receipt: { tx_hash: 'aa', success: false, code: 'single_limit_exceeded', reason: 'SingleLimitExceeded {..}', failure: { code: 'single_limit_exceeded', asset: 'CNY', limit: '5000.00', amount: '6000.00' } },
  });
  assert.equal(committed.status, 'committed');
  assert.ok(isFinal(committed));
  assert.throws(() => expectSuccess(committed), (e: unknown) => e instanceof TransactionFailedError && e.code === 'single_limit_exceeded' && (e.detail as any).limit === '5000.00');
  const ok = toTxStatus({ status: 'committed', hash: 'aa', height: 5, index: 0, block_id: null, receipt: { tx_hash: 'aa', success: true, effects: [{ type: 'debit', account: 'ht1x', asset: 'CNY', amount: '12' }, { type: 'supply_changed', asset: 'CNY', total_supply: '99' }] } });
  const receipt = expectSuccess(ok);
  assert.equal(receipt.effects![0]!.amount, 12n);
  assert.equal(receipt.effects![1]!.totalSupply, 99n);
  const used = toTxStatus({ status: 'rejected', hash: 'aa', code: 'sequence_used', retryable: false, message: 'm', used_by: 'cc' });
  assert.ok(isFinal(used) && used.status === 'rejected' && used.usedBy === 'cc');
  const dropped = toTxStatus({ status: 'dropped', hash: 'aa', code: 'expired', message: 'gone' });
  assert.ok(isFinal(dropped));
  assert.throws(() => expectSuccess(dropped), (e: unknown) => e instanceof TransactionFailedError && e.status === 'dropped' && e.code === 'expired');
  assert.ok(!isFinal(toTxStatus({ status: 'pending', hash: 'aa' })));
  assert.ok(!isFinal(toTxStatus({ status: 'something_new', hash: 'aa' })));
  assert.throws(() => expectSuccess(toTxStatus({ status: 'pending', hash: 'aa' })), TimeoutError);
});

test('accounts: amounts are bigint, next_sequence optional', () => {
  const a = toAccount({ address: 'ht1x', kind: 'customer', tier: 2, institution: 'ht1i', sequence: 3, frozen: null, status: 'active', balances: { CNY: '340282366920938463463374607431768211455' }, height: 9 });
  assert.equal(a.balances['CNY'], (1n << 128n) - 1n);
  assert.equal(a.nextSequence, 3n);
  assert.deepEqual(a.limits, {});
  assert.deepEqual(a.balancesDecimal, {});
  const b = toAccount({ address: 'ht1x', sequence: 3, next_sequence: 5, balances: { CNY: '125' }, balances_decimal: { CNY: '1.25' }, limits: { CNY: { spent_today: '1', daily_max: '10', remaining_today: '9', single_max: '5' } } });
  assert.equal(b.nextSequence, 5n);
  assert.equal(b.balancesDecimal['CNY'], '1.25');
  assert.equal(b.limits['CNY']!.remainingToday, 9n);
  assert.equal(b.limits['CNY']!.stepUpThreshold, null);
  assert.equal(b.restriction, null);
  assert.deepEqual(b.held, {});
  assert.deepEqual(b.available, {});
  assert.deepEqual(b.amountFreezes, []);
});

test('accounts: holds, amount freezes and a restriction (newer nodes)', () => {
  const a = toAccount({
    address: 'ht1x', kind: 'customer', sequence: 3, status: 'send-only', frozen: null, height: 9,
    balances: { CNY: '100000', HKD: '5' }, held: { CNY: '70000' }, available: { CNY: '30000', HKD: '5' },
    restriction: { state: 'send-only', reason: 'legal-order', by: 'ht1r', expires_at_ms: 1798761600000 },
    amount_freezes: [{ id: 77, asset: 'CNY', amount: '50000', reason: 'legal-order', by: 'ht1r', reference: '(2026) Hu 0101 Zhi 123' }],
  });
  assert.equal(a.status, 'send-only');
  assert.deepEqual(a.restriction, { state: 'send-only', reason: 'legal-order', by: 'ht1r', expiresAtMs: 1798761600000 });
  assert.deepEqual(a.held, { CNY: 70000n });
  assert.deepEqual(a.available, { CNY: 30000n, HKD: 5n });
  assert.deepEqual(a.amountFreezes, [{ id: 77n, asset: 'CNY', amount: 50000n, reason: 'legal-order', by: 'ht1r', reference: '(2026) Hu 0101 Zhi 123', expiresAtMs: null }]);
  for (const code of ['bad_expiry', 'unknown_hold', 'hold_closed', 'hold_exists', 'capture_exceeds_hold', 'too_many_holds', 'payer_frozen', 'restricted', 'not_restricted', 'unknown_freeze', 'freeze_exists', 'too_many_freezes']) {
    assert.ok((FAILURE_CODES as readonly string[]).includes(code), code);
  }
});

test('effects of holds and freezes: amounts are bigint', () => {
  const s = toTxStatus({
    status: 'committed', hash: 'aa', height: 5, index: 0, block_id: null,
    receipt: {
      tx_hash: 'aa', success: true,
      effects: [
        { type: 'hold_placed', payer: 'ht1p', hold_id: HOLD_ID, payee: 'ht1q', asset: 'CNY', amount: '20000', expires_at_ms: 1767229200000 },
        { type: 'hold_captured', payer: 'ht1p', hold_id: HOLD_ID, captured: '7350', released: '12650' },
        { type: 'hold_voided', payer: 'ht1p', hold_id: HOLD_ID, released: '20000' },
        { type: 'amount_frozen', account: 'ht1p', asset: 'CNY', amount: '500000', freeze_id: 77, reason: 'legal-order', by: 'ht1r' },
        { type: 'account_state_set', account: 'ht1p', state: 'receive-only', by: 'ht1i' },
      ],
    },
  });
  const e = expectSuccess(s).effects!;
  assert.deepEqual(e[0], { type: 'hold_placed', payer: 'ht1p', holdId: HOLD_ID, payee: 'ht1q', asset: 'CNY', amount: 20000n, expiresAtMs: 1767229200000 });
  assert.equal(e[1]!.captured, 7350n);
  assert.equal(e[1]!.released, 12650n);
  assert.equal(e[2]!.released, 20000n);
  assert.equal(e[3]!.amount, 500000n);
  assert.equal(e[3]!['freezeId'], 77);
  assert.equal(e[4]!['state'], 'receive-only');
});

test('getHold: the query object, the view, not found', async () => {
  const requests: any[] = [];
  let answer: any = { payer: KNOWN, hold_id: HOLD_ID, payee: KNOWN, asset: 'CNY', amount: '20000', expires_at_ms: 1767229200000, state: 'captured', captured: '7350', height: 12 };
  const client = new HutongClient('http://node', {
    fetch: fakeFetch((req) => {
      requests.push(req);
      return { body: JSON.stringify(answer ? { jsonrpc: '2.0', id: req.id, result: answer } : { jsonrpc: '2.0', id: req.id, error: { code: 1003, message: 'no hold' } }) };
    }),
  });
  const h = await client.getHold(KNOWN, 0xfeedn);
  assert.equal(requests[0].method, 'hutong_getHold');
  assert.deepEqual(requests[0].params, [{ payer: KNOWN, hold_id: HOLD_ID }]);
  assert.deepEqual({ ...h, raw: undefined }, { payer: KNOWN, holdId: HOLD_ID, payee: KNOWN, asset: 'CNY', amount: 20000n, expiresAtMs: 1767229200000, state: 'captured', captured: 7350n, height: 12, raw: undefined });
  answer = { ...answer, state: 'open', captured: undefined };
  assert.equal((await client.getHold(KNOWN, HOLD_ID)).captured, null);
  assert.deepEqual(requests[1].params, [{ payer: KNOWN, hold_id: HOLD_ID }]);
  assert.equal(toHold({ state: 'expired' }).state, 'expired');
  await assert.rejects(client.getHold('not an address', HOLD_ID), ValidationError);
  await assert.rejects(client.getHold(KNOWN, 'feed'), ValidationError);
  answer = null;
  await assert.rejects(client.getHold(KNOWN, HOLD_ID), (e: unknown) => e instanceof RpcError && e.isNotFound && e.method === 'hutong_getHold');
});

test('errors: rejections (known and unknown codes), other RPC errors, transport', async () => {
  const key = Keypair.generate();
  const stx = signTransaction(transfer(key), key);
  for (const [rpc, code, retryable] of [[1001, 'stale_sequence', false], [1002, 'busy', true], [1001, 'brand_new_code', false]] as const) {
    const client = new HutongClient('http://node', {
      fetch: fakeFetch((req) => ({ body: JSON.stringify({ jsonrpc: '2.0', id: req.id, error: { code: rpc, message: 'm', data: { code, retryable, message: 'why', extra: 7 } } }) })),
    });
    await assert.rejects(client.submit(stx), (e: unknown) => {
      assert.ok(e instanceof RejectedError && e instanceof HutongError);
      assert.equal(e.code, code);
      assert.equal(e.retryable, retryable);
      assert.equal(e.reason, 'why');
      assert.equal(e.rpcCode, rpc);
      assert.equal(e.hash, stx.hash);
      assert.equal(e.data['extra'], 7);
      return true;
    });
  }
  const notFound = new HutongClient('http://node', { fetch: fakeFetch((req) => ({ body: JSON.stringify({ jsonrpc: '2.0', id: req.id, error: { code: 1003, message: 'no account' } }) })) });
  await assert.rejects(notFound.getAccount(KNOWN), (e: unknown) => e instanceof RpcError && e.code === 1003 && e.isNotFound);
  assert.equal(await notFound.findAccount(KNOWN), null);
  const html = new HutongClient('http://node', { fetch: fakeFetch(() => ({ status: 502, body: '<html>bad gateway</html>' })) });
  await assert.rejects(html.status(), (e: unknown) => e instanceof TransportError && e.status === 502);
  const down = new HutongClient('http://127.0.0.1:1');
  await assert.rejects(down.status(), TransportError);
});

test('submitMany: one verdict per item; a committed retry is not an error', async () => {
  const client = new HutongClient('http://node', {
    fetch: fakeFetch((req) => {
      assert.equal(req.method, 'hutong_submitTransactions');
      assert.equal(req.params[0].length, 3);
      return {
        body: JSON.stringify({
          jsonrpc: '2.0', id: req.id,
          result: [
            { status: 'pending', hash: 'a1' },
            { status: 'rejected', code: 'zero_amount', retryable: false, message: 'an amount is zero' },
            { status: 'committed', hash: 'a3', height: 4, index: 1 },
          ],
        }),
      };
    }),
  });
  const key = Keypair.generate();
  const txs = [1n, 2n, 3n].map((n) => signTransaction(transfer(key, { sequence: n }), key));
  const v = await client.submitMany(txs);
  assert.deepEqual(v.map((x) => x.status), ['pending', 'rejected', 'committed']);
  assert.equal(v[1]!.status === 'rejected' && v[1]!.code, 'zero_amount');
  assert.equal(v[1]!.hash, txs[1]!.hash, 'the rejected verdict names the transaction');
});

test('subscription through an injected WebSocket implementation', async () => {
  const sent: any[] = [];
  class FakeWs implements WebSocketLike {
    readyState = 0;
    onopen: ((ev: any) => void) | null = null;
    onmessage: ((ev: { data: any }) => void) | null = null;
    onerror: ((ev: any) => void) | null = null;
    onclose: ((ev: any) => void) | null = null;
    constructor(readonly url: string) {
      assert.equal(url, 'ws://node:1/');
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
      }, 1);
    }
    send(data: string) {
      const req = JSON.parse(data);
      sent.push(req);
      setTimeout(() => {
        this.onmessage?.({ data: JSON.stringify({ jsonrpc: '2.0', id: req.id, result: 77 }) });
        this.onmessage?.({ data: JSON.stringify({ jsonrpc: '2.0', method: 'hutong_transaction', params: { subscription: 78, result: { status: 'dropped', hash: 'zz', code: 'x', message: '' } } }) });
        this.onmessage?.({ data: JSON.stringify({ jsonrpc: '2.0', method: 'hutong_transaction', params: { subscription: 77, result: { status: 'dropped', hash: 'ab', code: 'expired', message: 'gone' } } }) });
      }, 1);
    }
    close() {
      this.readyState = 3;
    }
  }
  const client = new HutongClient('http://node:1/', { WebSocket: FakeWs });
  const status = await client.subscribeTransaction('ab', { timeoutMs: 1000 });
  assert.equal(status.status, 'dropped');
  assert.equal(status.hash, 'ab');
  assert.deepEqual(sent[0].params, ['ab']);
  assert.equal(sent[0].method, 'hutong_subscribeTransaction');
});
