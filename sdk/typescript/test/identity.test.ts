// Identity commitments (SPEC.md, "Opening an account"): every case and every
// refused input of sdk/vectors/identity.json, and the edges of the rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

import {
  HutongError,
  IdentityError,
  Keypair,
  ValidationError,
  encodeTransaction,
  fromHex,
  identityCommitment,
  newIdentitySalt,
  normaliseIdNumber,
  normaliseIdType,
  toHex,
  transactionFromJson,
  type Transaction,
} from '../src/index.js';

interface Case {
  about: string;
  id_type: string;
  id_number: string;
  salt: string;
  normalised_type: string;
  normalised_number: string;
  commitment: string;
}
interface Refused {
  about: string;
  id_type: string;
  id_number: string;
}

// dist/test/ → sdk/typescript/ → sdk/vectors/
const path = fileURLToPath(new URL('../../../vectors/identity.json', import.meta.url));
const vectors = JSON.parse(readFileSync(path, 'utf8')) as { cases: Case[]; refused: Refused[] };

test('the identity vector file has cases and refusals', () => {
  assert.ok(vectors.cases.length >= 5);
  assert.ok(vectors.refused.length >= 4);
});

for (const c of vectors.cases) {
  test(`identity vector: ${c.about}`, () => {
    assert.equal(normaliseIdType(c.id_type), c.normalised_type, 'normalised type');
    assert.equal(normaliseIdNumber(c.id_number), c.normalised_number, 'normalised number');
    const commitment = identityCommitment(c.id_type, c.id_number, fromHex(c.salt));
    assert.ok(commitment instanceof Uint8Array);
    assert.equal(commitment.length, 32);
    assert.deepEqual(commitment, fromHex(c.commitment), 'commitment');
    // the salt as hex, and the normalised forms, commit the same
    assert.equal(toHex(identityCommitment(c.id_type, c.id_number, c.salt)), c.commitment);
    assert.equal(toHex(identityCommitment(c.normalised_type, c.normalised_number, c.salt)), c.commitment);
  });
}

for (const r of vectors.refused) {
  test(`identity refused: ${r.about}`, () => {
    assert.throws(
      () => identityCommitment(r.id_type, r.id_number, new Uint8Array(32).fill(0x11)),
      (e: unknown) => e instanceof IdentityError && e instanceof ValidationError && e instanceof HutongError,
    );
  });
}

test('identity: the hashed bytes of SPEC.md\'s example', () => {
  const pre = Buffer.concat([
    Buffer.from('6875746f6e672f6964656e746974792f7631' + '00' + '06000000' + '434e5f524943' + '12000000' + '313130313035313934393132333130303258', 'hex'),
    Buffer.alloc(32, 0x11),
  ]);
  assert.equal(createHash('sha256').update(pre).digest('hex'), vectors.cases[0]!.commitment);
});

test('identity: what runtime/src/identity.rs refuses, and ASCII-only upper-casing', () => {
  for (const bad of ['', '   ', 'CN RIC', '护照', 'A-B', 'X'.repeat(33), 'CN_RİC', 'ıD']) {
    assert.throws(() => normaliseIdType(bad), (e: unknown) => e instanceof IdentityError && e.field === 'idType' && e.value === bad, JSON.stringify(bad));
  }
  for (const bad of ['', ' - ', '１２３', '12.3', 'A_1', '9'.repeat(65), '12\n3', '12\u00a03', 'ſ1', 'ß1', '1\ud800']) {
    assert.throws(() => normaliseIdNumber(bad), (e: unknown) => e instanceof IdentityError && e.field === 'idNumber' && e.value === bad, JSON.stringify(bad));
  }
  assert.equal(normaliseIdType('x'.repeat(32)), 'X'.repeat(32));
  assert.equal(normaliseIdNumber('9'.repeat(64) + ' -'), '9'.repeat(64));
  assert.equal(normaliseIdNumber('(a)1/2-3\t4 5'), 'A12345');
});

test('identity: the type is trimmed of Unicode White_Space, as Rust\'s trim()', () => {
  const ws = ['\t', '\n', '\x0b', '\x0c', '\r', ' ', '\x85', '\xa0', '\u1680', '\u2000', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000'];
  for (const w of ws) assert.equal(normaliseIdType(w + 'hk_id' + w), 'HK_ID', JSON.stringify(w));
  // JavaScript's trim() would remove U+FEFF; Python's strip() U+001C..U+001F.
  for (const notWs of ['\ufeff', '\x1c', '\x1f', '\u200b', '\u180e']) {
    assert.throws(() => normaliseIdType(notWs + 'HK_ID'), IdentityError, JSON.stringify(notWs));
  }
});

test('identity: non-strings and salts that are not 32 bytes are refused', () => {
  assert.throws(() => normaliseIdType(undefined as unknown as string), IdentityError);
  assert.throws(() => normaliseIdNumber(123 as unknown as string), IdentityError);
  for (const salt of [new Uint8Array(31), new Uint8Array(33), '11'.repeat(31), 'zz'.repeat(32), null]) {
    assert.throws(
      () => identityCommitment('CN_RIC', '1', salt as unknown as Uint8Array),
      (e: unknown) => e instanceof IdentityError && e.field === 'salt',
    );
  }
});

test('identity: newIdentitySalt gives 32 fresh random bytes', () => {
  const a = newIdentitySalt();
  const b = newIdentitySalt();
  assert.ok(a instanceof Uint8Array);
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
});

test('identity: an open_account transaction carries the commitment', () => {
  const c = vectors.cases[0]!;
  const owner = Keypair.fromSecretKey(new Uint8Array(32).fill(7));
  const bank = Keypair.fromSecretKey(new Uint8Array(32).fill(8));
  const tx: Transaction = {
    chainId: new Uint8Array(32),
    sender: bank.publicKey,
    sequence: 1n,
    expiry: { height: 10n },
    kind: { type: 'open_account', owner: owner.publicKey, tier: 1, identityCommitment: identityCommitment(c.id_type, c.id_number, c.salt) },
  };
  const encoded = encodeTransaction(tx);
  // The commitment, then the empty identity envelope (u32 0), the cosigner option (0) and the empty memo (u32 0).
  assert.equal(toHex(encoded.slice(encoded.length - 9 - 32, encoded.length - 9)), c.commitment);
  assert.equal(toHex(encoded.slice(encoded.length - 9)), '00000000' + '00' + '00000000');
  const back = transactionFromJson({
    chain_id: toHex(new Uint8Array(32)), sender: bank.publicKeyHex, sequence: 1, expiry: { height: 10 },
    kind: { open_account: { owner: owner.publicKeyHex, tier: 1, identity_commitment: c.commitment } },
    cosigner: null, memo: '',
  });
  assert.deepEqual(encodeTransaction(back), encoded);
});
