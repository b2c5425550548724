// The identity layer (SPEC.md section 9): every part of
// sdk/vectors/identity-tags.json, RFC 9497's ristretto255 VOPRF vectors,
// RFC 9180's vector of this HPKE suite, refusals, bounds and round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ristretto255, ristretto255_oprf } from '@noble/curves/ed25519.js';

import {
  BlindState,
  HPKE_KEY_BYTES,
  IDENTITY_ENVELOPE_BYTES,
  IDENTITY_TAG_BYTES,
  MEMO_BYTES_MAX,
  MEMO_READERS_MAX,
  OPRF_KEY_INFO,
  PRIVACY_ERROR_CODES,
  PrivacyError,
  binding,
  blind,
  blindWith,
  finalize,
  fromHex,
  hpkeDeriveKeyPair,
  hpkeGenerateKeyPair,
  hpkeOpen,
  hpkePublicKey,
  hpkeSeal,
  identityHpkeKeyFromSeed,
  identityInput,
  isSealedMemo,
  listingKey,
  memoContext,
  memoKeyFromSeed,
  openIdentity,
  openMemo,
  ownerId,
  sealIdentity,
  sealMemo,
  sealedMemoLength,
  sha256,
  toHex,
  utf8,
} from '../src/index.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
// dist/test/ → sdk/typescript/ → sdk/vectors/ and sdk/typescript/test/fixtures/
const V = JSON.parse(readFileSync(here('../../../vectors/identity-tags.json'), 'utf8'));
const RFC9497 = JSON.parse(readFileSync(here('../../test/fixtures/rfc9497-ristretto255-voprf.json'), 'utf8'));
const RFC9180 = JSON.parse(readFileSync(here('../../test/fixtures/rfc9180-x25519-chacha20poly1305-base.json'), 'utf8'));

const seed = BigInt(process.env['HUTONG_SEED'] ?? Date.now());
console.log(`privacy: HUTONG_SEED=${seed}`);
let counter = 0n;
/** Deterministic bytes from the printed seed, for the random inputs (identities, texts). */
function seeded(label: string, n: number): Uint8Array {
  counter += 1n;
  const out = new Uint8Array(n);
  for (let at = 0, block = 0; at < n; at += 32, block++) out.set(sha256(utf8.encode(`${seed}/${label}/${counter}/${block}`)).slice(0, n - at), at);
  return out;
}
const seededInt = (label: string, n: number) => Number(BigInt('0x' + toHex(seeded(label, 6))) % BigInt(n));

/** Asserts that `f` throws a PrivacyError with `code`. */
function refuses(f: () => unknown, code: string, message?: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof PrivacyError, `${message ?? ''}: ${String(e)}`);
    assert.equal(e.code, code, `${message ?? ''}: ${e.message}`);
    return true;
  });
}

const flip = (b: Uint8Array, i: number, mask = 0x01) => {
  const c = b.slice();
  c[i]! ^= mask;
  return c;
};

// ------------------------------------------------------------------ a regulator for the tests

/**
 * The regulator's side, for the tests only: its OPRF key from a seed (RFC
 * 9497 DeriveKeyPair with Hutong's info), evaluation with one batch proof.
 * `proofScalar` fixes the proof's random scalar (to reproduce RFC vectors).
 */
function regulator(seedBytes: Uint8Array, info: Uint8Array = utf8.encode(OPRF_KEY_INFO)) {
  const keys = ristretto255_oprf.voprf.deriveKeyPair(seedBytes, info);
  return {
    ...keys,
    evaluate(blinded: Uint8Array[], proofScalar?: Uint8Array) {
      // noble maps 48 random bytes b to (b mod (order − 1)) + 1; these bytes give proofScalar.
      const rng = proofScalar
        ? (n = 48) => {
            let t = 0n;
            for (let i = 31; i >= 0; i--) t = (t << 8n) | BigInt(proofScalar[i]!);
            t -= 1n;
            const out = new Uint8Array(n);
            for (let i = 0; i < n; i++, t >>= 8n) out[i] = Number(t & 0xffn);
            return out;
          }
        : undefined;
      return ristretto255_oprf.voprf.blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded, rng);
    },
    // Not in noble's types, but there: RFC 9497 Evaluate (the regulator's own computation).
    tagOf: (input: Uint8Array): Uint8Array => (ristretto255_oprf.voprf as unknown as { evaluate(k: Uint8Array, x: Uint8Array): Uint8Array }).evaluate(keys.secretKey, input),
  };
}

// ------------------------------------------------------------------ identity inputs

test('the error codes are the Rust implementation’s', () => {
  assert.deepEqual([...PRIVACY_ERROR_CODES], ['bad_identity', 'malformed', 'unverified_evaluation', 'undecryptable', 'commitment_mismatch', 'bad_readers', 'memo_too_long']);
});

test('identity inputs: each vector normalises to its bytes', () => {
  assert.ok(V.identity_inputs.length >= 4);
  for (const c of V.identity_inputs) assert.equal(toHex(identityInput(c.identity)), c.input, c.identity);
  // Normalised: one person written two ways is one input.
  assert.deepEqual(identityInput('cn_ric: 1101-0119 9003-07451x'), identityInput('CN_RIC:11010119900307451X'));
});

test('identity inputs: the vectors’ refusals, and more, are bad_identity', () => {
  for (const bad of V.invalid_identities) refuses(() => identityInput(bad), 'bad_identity', bad);
  for (const bad of ['', ':', 'CN_RIC:１２３', 'CN_RIC:1.2', 'ＣＮ:1', ' :1', 'CN_RIC:' + '1'.repeat(65), 'T'.repeat(33) + ':1']) {
    refuses(() => identityInput(bad), 'bad_identity', JSON.stringify(bad));
  }
  // The first ':' separates; a second one is part of the number, which refuses it.
  refuses(() => identityInput('CN_RIC:1:2'), 'bad_identity');
  refuses(() => identityInput(7 as unknown as string), 'bad_identity');
});

// ------------------------------------------------------------------ the OPRF transcripts

const oprfPublic = fromHex(V.oprf.public_key);

test("the regulator's OPRF public key is RFC 9497 DeriveKeyPair of the seed with Hutong's info", () => {
  assert.equal(V.oprf.derive_info, OPRF_KEY_INFO);
  assert.equal(toHex(regulator(fromHex(V.oprf.seed)).publicKey), V.oprf.public_key);
});

for (const [i, t] of (V.oprf.transcripts as any[]).entries()) {
  test(`OPRF transcript ${i} (${t.identity}): the fixed blind gives its element; finalize verifies and gives its tag`, () => {
    const input = identityInput(t.identity);
    assert.equal(toHex(input), t.input);
    const { state, blinded } = blindWith(input, t.blind);
    assert.equal(toHex(blinded), t.blinded);
    assert.equal(toHex(state.blinded), t.blinded);
    const [tag] = finalize([state], [input], [t.evaluated], t.proof, oprfPublic);
    assert.equal(toHex(tag!), t.tag);
    assert.equal(tag!.length, IDENTITY_TAG_BYTES);
    assert.equal(toHex(ownerId(tag!)), t.owner);
    assert.equal(toHex(listingKey(tag!)), t.listing_key);
    // The regulator computing it directly gets the same tag.
    assert.equal(toHex(regulator(fromHex(V.oprf.seed)).tagOf(input)), t.tag);
  });
}

test('a tampered proof, another key, an answer replayed to another blind: unverified_evaluation', () => {
  const [a, b] = V.oprf.transcripts as any[];
  const state = () => blindWith(fromHex(a.input), a.blind).state;
  const ok = () => finalize([state()], [a.input], [a.evaluated], a.proof, oprfPublic);
  ok();
  // Bits flipped in the proof's c and s (low bytes: the scalars stay below the order).
  for (const at of [0, 5, 17, 32, 40, 50]) {
    refuses(() => finalize([state()], [a.input], [a.evaluated], flip(fromHex(a.proof), at), oprfPublic), 'unverified_evaluation', `proof byte ${at}`);
  }
  // Another evaluated element: the other transcript's, or one changed by a multiple of the base point.
  refuses(() => finalize([state()], [a.input], [b.evaluated], a.proof, oprfPublic), 'unverified_evaluation', 'another element');
  const moved = ristretto255.Point.fromBytes(fromHex(a.evaluated)).add(ristretto255.Point.BASE).toBytes();
  refuses(() => finalize([state()], [a.input], [moved], a.proof, oprfPublic), 'unverified_evaluation', 'a moved element');
  // Checked against another public key: another seed's, or the other info's.
  const other = regulator(new Uint8Array(32).fill(0x12)).publicKey;
  refuses(() => finalize([state()], [a.input], [a.evaluated], a.proof, other), 'unverified_evaluation', 'another key');
  // The answer to that request, replayed to a new one (a fresh blind of the same identity).
  const fresh = blind(fromHex(a.input));
  refuses(() => finalize([fresh.state], [a.input], [a.evaluated], a.proof, oprfPublic), 'unverified_evaluation', 'replayed');
  // The other transcript's answer, whole.
  refuses(() => finalize([state()], [a.input], [b.evaluated], b.proof, oprfPublic), 'unverified_evaluation', 'another answer');
});

test('finalize refuses what is not a valid encoding as malformed', () => {
  const [a] = V.oprf.transcripts as any[];
  const state = () => blindWith(fromHex(a.input), a.blind).state;
  const bad: [string, () => unknown][] = [
    ['an element that is no ristretto255 encoding', () => finalize([state()], [a.input], ['ff'.repeat(32)], a.proof, oprfPublic)],
    ['the identity element', () => finalize([state()], [a.input], ['00'.repeat(32)], a.proof, oprfPublic)],
    ['a short element', () => finalize([state()], [a.input], ['aa'.repeat(31)], a.proof, oprfPublic)],
    ['a key that is no encoding', () => finalize([state()], [a.input], [a.evaluated], a.proof, 'ff'.repeat(32))],
    ['the identity as the key', () => finalize([state()], [a.input], [a.evaluated], a.proof, '00'.repeat(32))],
    ['a short proof', () => finalize([state()], [a.input], [a.evaluated], a.proof.slice(2), oprfPublic)],
    ['a proof scalar above the order', () => finalize([state()], [a.input], [a.evaluated], 'ff'.repeat(32) + a.proof.slice(64), oprfPublic)],
    ['more elements than states', () => finalize([state()], [a.input], [a.evaluated, a.evaluated], a.proof, oprfPublic)],
    ['fewer inputs than states', () => finalize([state(), state()], [a.input], [a.evaluated, a.evaluated], a.proof, oprfPublic)],
    ['nothing', () => finalize([], [], [], a.proof, oprfPublic)],
    ['a state not made by blind()', () => finalize([{ blinded: fromHex(a.blinded) } as BlindState], [a.input], [a.evaluated], a.proof, oprfPublic)],
    ['a zero blind', () => blindWith(fromHex(a.input), '00'.repeat(32))],
    ['a blind above the order', () => blindWith(fromHex(a.input), 'ff'.repeat(32))],
  ];
  for (const [why, f] of bad) refuses(f, 'malformed', why);
});

test('a blind state does not show its blind', () => {
  const { state } = blind(identityInput('HK_ID:A1234563'));
  assert.equal(String(state), 'BlindState(..)');
  assert.equal(JSON.stringify(state), '{"blinded":"…"}');
  assert.equal(Object.keys(state).join(), 'blinded');
});

test('blinding: a fresh element each time, whatever the identity', () => {
  const input = identityInput('HK_ID:A1234563');
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) seen.add(toHex(blind(input).blinded));
  assert.equal(seen.size, 8);
});

test('round trips through a regulator: batches of 1 to 64 keep their order and give the direct tags (seeded identities)', () => {
  const reg = regulator(seeded('oprf-seed', 32));
  for (const size of [1, 2, 5, 64]) {
    const identities = Array.from({ length: size }, () => `PASSPORT_CN:E${toHex(seeded('identity', 6)).toUpperCase()}`);
    const inputs = identities.map(identityInput);
    const blinded = inputs.map((x) => blind(x));
    const answer = reg.evaluate(blinded.map((b) => b.blinded));
    const tags = finalize(blinded.map((b) => b.state), inputs, answer.evaluated, answer.proof, reg.publicKey);
    assert.deepEqual(tags.map(toHex), inputs.map((x) => toHex(reg.tagOf(x))), `seed ${seed}, batch of ${size}`);
    if (size > 1) {
      // Two elements swapped: the proof covers the batch in its order.
      const swapped = [answer.evaluated[1]!, answer.evaluated[0]!, ...answer.evaluated.slice(2)];
      refuses(() => finalize(blinded.map((b) => b.state), inputs, swapped, answer.proof, reg.publicKey), 'unverified_evaluation', `seed ${seed}: swapped`);
    }
  }
});

// ------------------------------------------------------------------ RFC 9497

test('RFC 9497 A.1.2 (ristretto255-SHA512, VOPRF): the key, each blinded element, evaluation, proof and output', () => {
  const reg = regulator(fromHex(RFC9497.Seed), fromHex(RFC9497.KeyInfo));
  assert.equal(toHex(reg.secretKey), RFC9497.skSm);
  assert.equal(toHex(reg.publicKey), RFC9497.pkSm);
  assert.equal(RFC9497.vectors.length, 3);
  for (const v of RFC9497.vectors) {
    const blinded = (v.Input as string[]).map((x, i) => blindWith(fromHex(x), v.Blind[i]));
    assert.deepEqual(blinded.map((b) => toHex(b.blinded)), v.BlindedElement, `${v.name}: blinded`);
    const answer = reg.evaluate(blinded.map((b) => b.blinded), fromHex(v.ProofRandomScalar));
    assert.deepEqual(answer.evaluated.map(toHex), v.EvaluationElement, `${v.name}: evaluated`);
    assert.equal(toHex(answer.proof), v.Proof, `${v.name}: proof`);
    const outputs = finalize(blinded.map((b) => b.state), v.Input, v.EvaluationElement, v.Proof, RFC9497.pkSm);
    assert.deepEqual(outputs.map(toHex), v.Output, `${v.name}: output`);
    refuses(() => finalize(blinded.map((b) => b.state), v.Input, v.EvaluationElement, flip(fromHex(v.Proof), 3), RFC9497.pkSm), 'unverified_evaluation', v.name);
  }
});

// ------------------------------------------------------------------ values derived from a tag

test('derived values: binding commitment, owner id, listing key', () => {
  const b = V.binding;
  assert.equal(toHex(binding(b.tag, b.salt)), b.commitment);
  assert.equal(toHex(ownerId(b.tag)), b.owner);
  assert.equal(toHex(listingKey(b.tag)), b.listing_key);
  // The first transcript's identity is the binding's.
  assert.equal(V.oprf.transcripts[0].tag, b.tag);
  assert.notEqual(toHex(binding(b.tag, flip(fromHex(b.salt), 0))), b.commitment, 'another salt, another commitment');
  refuses(() => listingKey(fromHex(b.tag).slice(1)), 'malformed');
  refuses(() => binding(b.tag, '00'), 'malformed');
});

// ------------------------------------------------------------------ the identity envelope

const E = V.identity_envelope;

test("the regulator's HPKE key derives from its identity seed", () => {
  const k = identityHpkeKeyFromSeed(V.oprf.seed);
  assert.equal(toHex(k.secretKey), E.hpke_secret);
  assert.equal(toHex(k.publicKey), E.hpke_public);
  assert.equal(toHex(hpkePublicKey(E.hpke_secret)), E.hpke_public);
});

test('the vector envelope opens with hpke_secret to its tag', () => {
  assert.equal(E.info, 'hutong/identity-envelope/v1');
  assert.equal(fromHex(E.envelope).length, IDENTITY_ENVELOPE_BYTES);
  assert.equal(toHex(openIdentity(E.hpke_secret, E.chain_id, E.owner, E.envelope, E.commitment)), E.tag);
});

test('the envelope does not open for another owner, chain, key or flipped byte; nor match another commitment', () => {
  const open = (over: Partial<Record<'key' | 'chain' | 'owner' | 'envelope' | 'commitment', string | Uint8Array>>) =>
    openIdentity(over.key ?? E.hpke_secret, over.chain ?? E.chain_id, over.owner ?? E.owner, over.envelope ?? E.envelope, over.commitment ?? E.commitment);
  refuses(() => open({ owner: '34'.repeat(32) }), 'undecryptable', 'another owner');
  refuses(() => open({ chain: '23'.repeat(32) }), 'undecryptable', 'another chain');
  refuses(() => open({ key: hpkeGenerateKeyPair().secretKey }), 'undecryptable', 'another key');
  for (let i = 0; i < IDENTITY_ENVELOPE_BYTES; i++) {
    refuses(() => open({ envelope: flip(fromHex(E.envelope), i, 0x40) }), 'undecryptable', `byte ${i}`);
  }
  refuses(() => open({ envelope: fromHex(E.envelope).slice(1) }), 'malformed', 'truncated');
  refuses(() => open({ envelope: '' }), 'malformed', 'empty');
  refuses(() => open({ commitment: '05'.repeat(32) }), 'commitment_mismatch', 'another commitment');
  refuses(() => open({ commitment: V.binding.commitment }), 'commitment_mismatch', 'the same tag under another salt');
});

test('sealIdentity: what it seals opens with openIdentity; a copy for another account does not', () => {
  const k = hpkeGenerateKeyPair();
  const tag = seeded('tag', 64);
  const chain = seeded('chain', 32);
  const owner = seeded('owner', 32);
  const s = sealIdentity(k.publicKey, chain, owner, tag);
  assert.equal(s.envelope.length, IDENTITY_ENVELOPE_BYTES);
  assert.equal(s.salt.length, 32);
  assert.deepEqual(s.commitment, binding(tag, s.salt));
  assert.deepEqual(openIdentity(k.secretKey, chain, owner, s.envelope, s.commitment), tag, `seed ${seed}`);
  refuses(() => openIdentity(k.secretKey, chain, seeded('owner', 32), s.envelope, s.commitment), 'undecryptable');
  // Two accounts of one person: unlinkable envelopes and commitments, one owner id.
  const t = sealIdentity(k.publicKey, chain, owner, tag);
  assert.notDeepEqual(t.commitment, s.commitment);
  assert.notDeepEqual(t.envelope, s.envelope);
  assert.deepEqual(ownerId(openIdentity(k.secretKey, chain, owner, t.envelope, t.commitment)), ownerId(tag));
  // Nothing of the tag shows in the envelope.
  const hex = toHex(s.envelope);
  for (let i = 0; i + 8 <= 64; i += 8) assert.ok(!hex.includes(toHex(tag.slice(i, i + 8))));
  // With the vector's regulator key and salt: the vector's commitment.
  const fixed = sealIdentity(E.hpke_public, E.chain_id, E.owner, V.binding.tag, { salt: V.binding.salt });
  assert.equal(toHex(fixed.commitment), V.binding.commitment);
  assert.equal(toHex(openIdentity(E.hpke_secret, E.chain_id, E.owner, fixed.envelope, fixed.commitment)), V.binding.tag);
  refuses(() => sealIdentity(k.publicKey, chain, owner, tag.slice(1)), 'malformed');
  refuses(() => sealIdentity(new Uint8Array(32), chain, owner, tag), 'malformed', 'a low-order key');
});

// ------------------------------------------------------------------ sealed memos

const M = V.memo;

test('memo keys: institutions’ from their memo seeds, the regulator’s by DeriveKeyPair', () => {
  assert.equal(M.info, 'hutong/memo/v1');
  const keys = [memoKeyFromSeed('71'.repeat(32)), memoKeyFromSeed('72'.repeat(32)), hpkeDeriveKeyPair('73'.repeat(32))];
  assert.deepEqual(keys.map((k) => toHex(k.secretKey)), M.readers.map((r: any) => r.secret));
  assert.deepEqual(keys.map((k) => toHex(k.publicKey)), M.readers.map((r: any) => r.public));
});

test('memo context: chain, sender and sequence', () => {
  const c = M.context_of;
  assert.equal(toHex(memoContext(c.chain_id, c.sender, c.sequence)), M.context);
  assert.equal(toHex(memoContext(c.chain_id, c.sender, BigInt(c.sequence))), M.context);
  assert.notEqual(toHex(memoContext(c.chain_id, c.sender, c.sequence + 1)), M.context);
  refuses(() => memoContext(c.chain_id, c.sender, -1), 'malformed');
  refuses(() => memoContext(c.chain_id, c.sender, 1n << 64n), 'malformed');
});

test('the vector memo opens for each reader, not for a stranger, another context or an altered byte', () => {
  assert.ok(isSealedMemo(M.sealed));
  assert.equal(fromHex(M.sealed).length, sealedMemoLength(fromHex(M.text).length, 3));
  for (const r of M.readers) assert.equal(toHex(openMemo(r.secret, M.context, M.sealed)), M.text);
  assert.equal(utf8.decode(fromHex(M.text)), 'salary March 工资');
  refuses(() => openMemo(hpkeGenerateKeyPair().secretKey, M.context, M.sealed), 'undecryptable', 'a stranger');
  refuses(() => openMemo(M.readers[0].secret, flip(fromHex(M.context), 0), M.sealed), 'undecryptable', 'another context');
  const sealed = fromHex(M.sealed);
  // Reader i's slot is bytes 2 + 80·i to 2 + 80·(i + 1); the body follows the slots.
  const slot = (i: number, at: number) => 2 + 80 * i + at;
  for (const at of [slot(2, 0), slot(2, 31), slot(2, 32), slot(2, 79), slot(3, 0), sealed.length - 1]) {
    refuses(() => openMemo(M.readers[2].secret, M.context, flip(sealed, at)), 'undecryptable', `byte ${at}`);
  }
  // Another reader's slot altered: this reader still opens its own, that reader no longer does.
  assert.equal(toHex(openMemo(M.readers[2].secret, M.context, flip(sealed, slot(0, 40)))), M.text);
  refuses(() => openMemo(M.readers[0].secret, M.context, flip(sealed, slot(0, 40))), 'undecryptable', 'its own slot altered');
});

test('sealMemo and openMemo round-trip for 1 to 4 readers (seeded texts)', () => {
  for (let n = 1; n <= MEMO_READERS_MAX; n++) {
    const readers = Array.from({ length: n }, () => hpkeGenerateKeyPair());
    const context = seeded('context', 32);
    const text = seeded('text', seededInt('len', MEMO_BYTES_MAX - sealedMemoLength(0, n) + 1));
    const sealed = sealMemo(readers.map((r) => r.publicKey), context, text);
    assert.equal(sealed.length, sealedMemoLength(text.length, n));
    assert.ok(isSealedMemo(sealed));
    for (const r of readers) assert.deepEqual(openMemo(r.secretKey, context, sealed), text, `seed ${seed}: ${n} readers`);
    refuses(() => openMemo(hpkeGenerateKeyPair().secretKey, context, sealed), 'undecryptable', `seed ${seed}`);
  }
  // A string is sealed as UTF-8; an empty text too.
  const r = hpkeGenerateKeyPair();
  assert.equal(utf8.decode(openMemo(r.secretKey, 'cc', sealMemo([r.publicKey], 'cc', '发票 42'))), '发票 42');
  assert.equal(openMemo(r.secretKey, 'cc', sealMemo([r.publicKey], 'cc', '')).length, 0);
});

test('memo bounds: 1 to 4 readers; the sealed memo fits the limit (254 bytes of text for three readers in 512)', () => {
  const k = hpkeGenerateKeyPair().publicKey;
  refuses(() => sealMemo([], 'cc', 'x'), 'bad_readers');
  refuses(() => sealMemo([k, k, k, k, k], 'cc', 'x'), 'bad_readers');
  assert.equal(sealedMemoLength(254, 3), MEMO_BYTES_MAX);
  assert.equal(sealMemo([k, k, k], 'cc', new Uint8Array(254)).length, 512);
  assert.throws(() => sealMemo([k, k, k], 'cc', new Uint8Array(255)), (e: unknown) => {
    assert.ok(e instanceof PrivacyError && e.code === 'memo_too_long');
    assert.deepEqual(e.detail, { len: 255, max: 254 });
    return true;
  });
  refuses(() => sealMemo([k], 'cc', new Uint8Array(300), 256), 'memo_too_long');
  refuses(() => sealMemo([k.slice(1)], 'cc', 'x'), 'malformed');
  // Structures the ledger refuses, and that openMemo refuses before any key.
  const s = k; // any 32 bytes will do as a secret key here
  const structures: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(), 'malformed'],
    ['version 2', Uint8Array.of(2, 1), 'malformed'],
    ['no count', Uint8Array.of(1), 'malformed'],
    ['no readers', Uint8Array.of(1, 0), 'bad_readers'],
    ['5 readers', Uint8Array.of(1, 5), 'bad_readers'],
    ['too short for its reader', Uint8Array.of(1, 1, 0), 'malformed'],
    ['one byte short', new Uint8Array(sealedMemoLength(0, 1) - 1).fill(1), 'malformed'],
  ];
  for (const [why, memo, code] of structures) {
    assert.equal(isSealedMemo(memo), false, why);
    refuses(() => openMemo(s, 'cc', memo), code, why);
  }
  // The shortest structure is accepted by the structure check (and opens for nobody).
  const shortest = new Uint8Array(sealedMemoLength(0, 1));
  shortest[0] = 1;
  shortest[1] = 1;
  assert.ok(isSealedMemo(shortest));
  refuses(() => openMemo(s, 'cc', shortest), 'undecryptable');
});

// ------------------------------------------------------------------ HPKE

test('HPKE: RFC 9180 A.2.1 (X25519, HKDF-SHA256, ChaCha20-Poly1305, base mode), sequence 0', () => {
  const v = RFC9180;
  assert.deepEqual([v.mode, v.kem_id, v.kdf_id, v.aead_id], [0, 0x20, 1, 3]);
  const r = hpkeDeriveKeyPair(v.ikmR);
  assert.equal(toHex(r.secretKey), v.skRm);
  assert.equal(toHex(r.publicKey), v.pkRm);
  const e = hpkeDeriveKeyPair(v.ikmE);
  assert.equal(toHex(e.secretKey), v.skEm);
  assert.equal(toHex(e.publicKey), v.pkEm);
  const x = v.encryption;
  assert.equal(x.nonce, v.base_nonce);
  const sealed = hpkeSeal(v.pkRm, fromHex(v.info), fromHex(x.aad), fromHex(x.pt), { ephemeralSecretKey: fromHex(v.skEm) });
  assert.equal(toHex(sealed.enc), v.enc);
  assert.equal(toHex(sealed.ciphertext), x.ct);
  assert.equal(toHex(hpkeOpen(v.skRm, fromHex(v.enc), fromHex(v.info), fromHex(x.aad), fromHex(x.ct))), x.pt);
  refuses(() => hpkeOpen(v.skRm, fromHex(v.enc), fromHex(v.info), fromHex('00'), fromHex(x.ct)), 'undecryptable', 'other aad');
  refuses(() => hpkeOpen(v.skRm, fromHex(v.enc), fromHex('00'), fromHex(x.aad), fromHex(x.ct)), 'undecryptable', 'other info');
  refuses(() => hpkeOpen(v.skRm, new Uint8Array(32), fromHex(v.info), fromHex(x.aad), fromHex(x.ct)), 'undecryptable', 'a low-order enc');
  refuses(() => hpkeOpen(v.skRm, new Uint8Array(31), fromHex(v.info), fromHex(x.aad), fromHex(x.ct)), 'malformed', 'a short enc');
  assert.equal(HPKE_KEY_BYTES, 32);
});
