// The client's side of the identity layer against fake nodes: signed
// evaluation requests, identity tags checked against the ledger's key, an
// account opened with an envelope, the blacklist, memo keys, sealed memos
// in prepare(), memo reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ristretto255_oprf } from '@noble/curves/ed25519.js';

import {
  HutongClient,
  Keypair,
  OPRF_KEY_INFO,
  PrivacyError,
  RpcError,
  ValidationError,
  auditRequestHash,
  binding,
  encodeAddress,
  fromHex,
  hpkeGenerateKeyPair,
  identityInput,
  isSealedMemo,
  listingKey,
  memoContext,
  memoCounterparties,
  memoReaderKeys,
  openIdentity,
  openMemo,
  readMemoHash,
  sha256,
  toHex,
  utf8,
  type TxKind,
} from '../src/index.js';
import { ed25519Verify } from '../src/crypto.js';
import { FakeRpcError, fakeNode } from './kit.js';

const seed = BigInt(process.env['HUTONG_SEED'] ?? Date.now());
console.log(`privacy-client: HUTONG_SEED=${seed}`);
let counter = 0n;
function seeded(label: string, n = 32): Uint8Array {
  counter += 1n;
  const out = new Uint8Array(n);
  for (let at = 0, block = 0; at < n; at += 32, block++) out.set(sha256(utf8.encode(`${seed}/${label}/${counter}/${block}`)).slice(0, n - at), at);
  return out;
}

const CHAIN = '2a'.repeat(32);
const addr = (byte: number) => encodeAddress(new Uint8Array(20).fill(byte));

/** A regulator: its OPRF key (from a seed), its HPKE key, and the node's evaluation handler. */
function regulator(seedBytes: Uint8Array) {
  const oprf = ristretto255_oprf.voprf.deriveKeyPair(seedBytes, utf8.encode(OPRF_KEY_INFO));
  const hpke = hpkeGenerateKeyPair();
  const evaluate = (blinded: string[]) => {
    const r = ristretto255_oprf.voprf.blindEvaluateBatch(oprf.secretKey, oprf.publicKey, blinded.map((b) => fromHex(b)));
    return { elements: r.evaluated.map(toHex), proof: toHex(r.proof), remaining_this_minute: 600 - blinded.length };
  };
  const tagOf = (input: Uint8Array): Uint8Array =>
    (ristretto255_oprf.voprf as unknown as { evaluate(k: Uint8Array, x: Uint8Array): Uint8Array }).evaluate(oprf.secretKey, input);
  return { oprf, hpke, evaluate, tagOf };
}

const status = (chain = CHAIN) => () => ({ chain_id: chain, height: 7, timestamp_ms: 1_767_225_600_000 });
const parameters = (identity: { oprf_key: string; hpke_key: string } | null) => () => ({
  sizes: { memo_bytes_max: 512 },
  ...(identity ? { identity } : {}),
});

test('identityEvaluate: a request signed like an audit request, by name, and its answer', async () => {
  const reg = regulator(seeded('oprf'));
  const node = fakeNode({
    hutong_status: status(),
    hutong_identityEvaluate: (p) => reg.evaluate(p.query.blinded),
  });
  const client = new HutongClient('http://regulator', { fetch: node.fetch });
  const key = Keypair.fromSecretKey(seeded('institution'));
  const blinded = [identityInput('CN_RIC:110101199003074514'), identityInput('HK_ID:A1234563')].map((x) => ristretto255_oprf.voprf.blind(x).blinded);
  const before = Date.now();
  const answer = await client.identityEvaluate(key, blinded);
  assert.equal(answer.elements.length, 2);
  assert.equal(answer.proof.length, 64);
  assert.equal(answer.remainingThisMinute, 598);
  const req = node.requests.find((r) => r.method === 'hutong_identityEvaluate');
  assert.deepEqual(Object.keys(req.params).sort(), ['auth', 'query'], 'params by name');
  assert.deepEqual(req.params.query, { blinded: blinded.map(toHex) });
  const { auth } = req.params;
  assert.deepEqual(Object.keys(auth).sort(), ['key', 'nonce', 'signature', 'timestamp_ms']);
  assert.equal(auth.key, key.publicKeyHex);
  assert.match(auth.nonce, /^[0-9a-f]{32}$/);
  assert.ok(auth.timestamp_ms >= before && auth.timestamp_ms <= Date.now());
  const text = `{"blinded":["${toHex(blinded[0]!)}","${toHex(blinded[1]!)}"]}`;
  const message = auditRequestHash(CHAIN, 'hutong_identityEvaluate', text, auth.timestamp_ms, auth.nonce);
  assert.ok(ed25519Verify(fromHex(auth.signature), message, key.publicKey), 'signed over the compact JSON the node re-serialises');
  // Each request has its own nonce.
  await client.identityEvaluate(key, blinded.slice(0, 1));
  const nonces = node.requests.filter((r) => r.method === 'hutong_identityEvaluate').map((r) => r.params.auth.nonce);
  assert.notEqual(nonces[0], nonces[1]);
  await assert.rejects(client.identityEvaluate(key, []), ValidationError);
  await assert.rejects(client.identityEvaluate(key, Array(65).fill(blinded[0])), /1 to 64/);
});

test('identityEvaluate: a stale refusal is signed again once with the node’s clock; other refusals are RpcErrors', async () => {
  const reg = regulator(seeded('oprf'));
  const nodeNow = Date.now() + 10 * 60_000;
  let refusals = 0;
  const node = fakeNode({
    hutong_status: status(),
    hutong_identityEvaluate: (p) => {
      if (Math.abs(p.auth.timestamp_ms - nodeNow) > 60_000) {
        refusals++;
        throw new FakeRpcError(1010, 'refused', { code: 'stale', message: `request timestamp ${p.auth.timestamp_ms} is more than 60000 ms from the node's clock ${nodeNow}` });
      }
      return reg.evaluate(p.query.blinded);
    },
  });
  const client = new HutongClient('http://regulator', { fetch: node.fetch });
  const key = Keypair.fromSecretKey(seeded('institution'));
  const b = ristretto255_oprf.voprf.blind(identityInput('HK_ID:A1234563')).blinded;
  await client.identityEvaluate(key, [b]);
  assert.equal(refusals, 1);
  await client.identityEvaluate(key, [b]);
  assert.equal(refusals, 1, 'the offset is kept');
  const limited = new HutongClient('http://regulator', {
    fetch: fakeNode({
      hutong_status: status(),
      hutong_identityEvaluate: () => {
        throw new FakeRpcError(1010, 'refused', { code: 'rate_limited', message: 'key … has used its 600 identity evaluations of this minute' });
      },
    }).fetch,
  });
  await assert.rejects(limited.identityEvaluate(key, [b]), (e: unknown) => e instanceof RpcError && e.code === 1010 && (e.data as any).code === 'rate_limited');
});

test('identityTags: blinded, evaluated by the regulator’s node, checked against the ledger’s key, 64 to a request', async () => {
  const reg = regulator(seeded('oprf'));
  const identity = { oprf_key: toHex(reg.oprf.publicKey), hpke_key: toHex(reg.hpke.publicKey) };
  const chain = fakeNode({ hutong_status: status(), hutong_getParameters: parameters(identity) });
  const regNode = fakeNode({ hutong_status: status(), hutong_identityEvaluate: (p) => reg.evaluate(p.query.blinded) });
  const client = new HutongClient('http://chain', { fetch: chain.fetch });
  const regulatorClient = new HutongClient('http://regulator', { fetch: regNode.fetch });
  const key = Keypair.fromSecretKey(seeded('institution'));
  const identities = Array.from({ length: 70 }, (_, i) => `PASSPORT_CN:E${toHex(seeded('number', 4)).toUpperCase()}${i}`);
  const tags = await client.identityTags(key, identities, regulatorClient);
  assert.deepEqual(tags.map(toHex), identities.map((i) => toHex(reg.tagOf(identityInput(i)))), `seed ${seed}`);
  const sizes = regNode.requests.filter((r) => r.method === 'hutong_identityEvaluate').map((r) => r.params.query.blinded.length);
  assert.deepEqual(sizes, [64, 6]);
  // Nothing the regulator's node sees names an identity.
  const sent = JSON.stringify(regNode.requests);
  for (const i of identities) assert.ok(!sent.includes(toHex(identityInput(i))));

  // A regulator's node that evaluates under another key than the ledger's: refused.
  const rogue = regulator(seeded('rogue'));
  const rogueNode = new HutongClient('http://rogue', { fetch: fakeNode({ hutong_status: status(), hutong_identityEvaluate: (p) => rogue.evaluate(p.query.blinded) }).fetch });
  await assert.rejects(client.identityTags(key, identities.slice(0, 2), rogueNode), (e: unknown) => e instanceof PrivacyError && e.code === 'unverified_evaluation');
  // A bad identity is refused before anything is sent.
  const count = regNode.requests.length;
  await assert.rejects(client.identityTags(key, ['CN_RIC:１２３'], regulatorClient), (e: unknown) => e instanceof PrivacyError && e.code === 'bad_identity');
  assert.equal(regNode.requests.length, count);
  // Another chain's regulator; a chain without an identity service.
  const elsewhere = new HutongClient('http://elsewhere', { fetch: fakeNode({ hutong_status: status('3b'.repeat(32)) }).fetch });
  await assert.rejects(client.identityTags(key, identities.slice(0, 1), elsewhere), /is on chain 3b/);
  const plain = new HutongClient('http://plain', { fetch: fakeNode({ hutong_status: status(), hutong_getParameters: parameters(null) }).fetch });
  await assert.rejects(plain.identityTags(key, identities.slice(0, 1), regulatorClient), (e: unknown) => e instanceof ValidationError && /no identity service/.test((e as Error).message));
});

test('openAccountWithIdentity: the envelope opens for the regulator, for this chain and owner, to the tag', async () => {
  const reg = regulator(seeded('oprf'));
  const identity = { oprf_key: toHex(reg.oprf.publicKey), hpke_key: toHex(reg.hpke.publicKey) };
  const client = new HutongClient('http://chain', { fetch: fakeNode({ hutong_status: status(), hutong_getParameters: parameters(identity) }).fetch });
  const owner = Keypair.fromSecretKey(seeded('owner'));
  const tag = seeded('tag', 64);
  const opening = await client.openAccountWithIdentity(owner, 2, tag);
  const k = opening.kind;
  assert.equal(k.type, 'open_account');
  assert.deepEqual(k.owner, owner.publicKey);
  assert.equal(k.tier, 2);
  assert.deepEqual(k.identityCommitment, binding(tag, opening.salt));
  assert.deepEqual(opening.listingKey, listingKey(tag));
  assert.deepEqual(openIdentity(reg.hpke.secretKey, CHAIN, owner.publicKey, k.identityEnvelope!, k.identityCommitment), tag);
  assert.throws(() => openIdentity(reg.hpke.secretKey, CHAIN, Keypair.fromSecretKey(seeded('other')).publicKey, k.identityEnvelope!, k.identityCommitment), PrivacyError);
  const plain = new HutongClient('http://plain', { fetch: fakeNode({ hutong_status: status(), hutong_getParameters: parameters(null) }).fetch });
  await assert.rejects(plain.openAccountWithIdentity(owner, 2, tag), /no identity service/);
});

test('checkListing, getMemoKeys, readMemo: the requests and the views', async () => {
  const listed = { listing_key: '4c'.repeat(32), listed: true, listed_by: addr(0x22), reason: 'legal-order', reference: '28', listed_at_ms: 1767225600000, height: 12 };
  const node = fakeNode({
    hutong_status: status(),
    hutong_checkListing: (p) => (p.listing_key === '4c'.repeat(32) ? listed : { listing_key: p.listing_key, listed: false, height: 12 }),
    hutong_getMemoKeys: (p) => ({ regulator: '65'.repeat(32), accounts: p.accounts.map((a: string) => ({ account: a, institution: addr(0x22), memo_key: null })) }),
    hutong_readMemo: () => ({ tx_hash: 'ab'.repeat(32), text: '发票 42', text_hex: toHex(utf8.encode('发票 42')) }),
  });
  const client = new HutongClient('http://node', { fetch: node.fetch });
  const l = await client.checkListing(fromHex('4c'.repeat(32)));
  assert.deepEqual({ ...l, raw: undefined }, { listingKey: '4c'.repeat(32), listed: true, listedBy: addr(0x22), reason: 'legal-order', reference: '28', listedAtMs: 1767225600000, height: 12, raw: undefined });
  assert.deepEqual(node.requests.at(-1).params, { listing_key: '4c'.repeat(32) }, 'by name');
  const fresh = await client.checkListing('5d'.repeat(32));
  assert.deepEqual([fresh.listed, fresh.listedBy, fresh.reason, fresh.listedAtMs], [false, null, null, null]);
  await assert.rejects(client.checkListing('5d'), /32 bytes/);

  const keys = await client.getMemoKeys([addr(0x33), addr(0x44)]);
  assert.deepEqual(node.requests.at(-1).params, { accounts: [addr(0x33), addr(0x44)] }, 'by name');
  assert.deepEqual({ ...keys, raw: undefined }, { regulator: '65'.repeat(32), accounts: [{ account: addr(0x33), institution: addr(0x22), memoKey: null }, { account: addr(0x44), institution: addr(0x22), memoKey: null }], raw: undefined });
  await assert.rejects(client.getMemoKeys(['not an address']), ValidationError);
  await assert.rejects(client.getMemoKeys([]), ValidationError);
  await assert.rejects(client.getMemoKeys(Array(17).fill(addr(0x33))), /1 to 16 accounts/);

  const party = Keypair.fromSecretKey(seeded('party'));
  const before = Date.now();
  const memo = await client.readMemo('AB'.repeat(32), party);
  assert.deepEqual([memo.txHash, memo.text, memo.textHex], ['ab'.repeat(32), '发票 42', toHex(utf8.encode('发票 42'))]);
  const [request] = node.requests.at(-1).params;
  assert.deepEqual(Object.keys(request).sort(), ['key', 'signature', 'timestamp_ms', 'tx_hash']);
  assert.equal(request.tx_hash, 'ab'.repeat(32));
  assert.equal(request.key, party.publicKeyHex);
  assert.ok(request.timestamp_ms >= before && request.timestamp_ms <= Date.now());
  assert.ok(ed25519Verify(fromHex(request.signature), readMemoHash(CHAIN, 'ab'.repeat(32), request.timestamp_ms), party.publicKey));
  await assert.rejects(client.readMemo('ab', party), /32 bytes/);
});

test('prepare seals a memo to the institutions’ and the regulator’s keys, each once, under its context', async () => {
  const regulatorKey = hpkeGenerateKeyPair();
  const bankA = hpkeGenerateKeyPair();
  const bankB = hpkeGenerateKeyPair();
  const sender = Keypair.fromSecretKey(seeded('sender'));
  const [payee, sameBank, noKeyBank] = [addr(0x44), addr(0x55), addr(0x66)];
  const institutions: Record<string, { institution: string; key: Uint8Array | null }> = {
    [sender.address]: { institution: addr(0x0a), key: bankA.publicKey },
    [payee]: { institution: addr(0x0b), key: bankB.publicKey },
    [sameBank]: { institution: addr(0x0a), key: bankA.publicKey },
    [noKeyBank]: { institution: addr(0x0c), key: null },
  };
  const node = fakeNode({
    hutong_status: status(),
    hutong_getParameters: parameters({ oprf_key: '36'.repeat(32), hpke_key: toHex(regulatorKey.publicKey) }),
    hutong_getAccount: () => ({ address: sender.address, sequence: 9, next_sequence: 11, balances: {} }),
    hutong_getMemoKeys: (p) => ({
      regulator: toHex(regulatorKey.publicKey),
      accounts: p.accounts.map((a: string) => ({ account: a, institution: institutions[a]!.institution, memo_key: institutions[a]!.key && toHex(institutions[a]!.key!) })),
    }),
  });
  const client = new HutongClient('http://node', { fetch: node.fetch });
  const pay = (to: string): TxKind => ({ type: 'transfer', to, asset: 'CNY', amount: 100n, transferId: 1n });
  const text = `invoice ${toHex(seeded('invoice', 4))} 发票`;

  const tx = await client.prepare(sender, pay(payee), { memo: text });
  assert.equal(tx.sequence, 11n);
  const sealed = tx.memo as Uint8Array;
  assert.ok(isSealedMemo(sealed));
  assert.equal(sealed[1], 3, 'the two banks and the regulator');
  const context = memoContext(CHAIN, sender.publicKey, 11n);
  for (const k of [bankA, bankB, regulatorKey]) assert.equal(utf8.decode(openMemo(k.secretKey, context, sealed)), text, `seed ${seed}`);
  assert.throws(() => openMemo(bankA.secretKey, memoContext(CHAIN, sender.publicKey, 10n), sealed), PrivacyError, 'another sequence');
  assert.deepEqual(node.requests.find((r) => r.method === 'hutong_getMemoKeys').params, { accounts: [sender.address, payee] });

  // The same institution on both sides is one reader; one without a key is left out.
  assert.equal(((await client.prepare(sender, pay(sameBank), { memo: text })).memo as Uint8Array)[1], 2);
  const noKey = (await client.prepare(sender, pay(noKeyBank), { memo: text })).memo as Uint8Array;
  assert.equal(noKey[1], 2);
  assert.equal(utf8.decode(openMemo(regulatorKey.secretKey, context, noKey)), text);
  // An empty memo stays empty, and asks for no keys; sealMemo: false leaves it in clear.
  const asked = node.requests.length;
  assert.equal((await client.prepare(sender, pay(payee), { sequence: 3n })).memo!.length, 0);
  assert.equal(node.requests.filter((r) => r.method === 'hutong_getMemoKeys').length, 3);
  assert.ok(node.requests.length > asked);
  assert.equal((await client.prepare(sender, pay(payee), { memo: text, sealMemo: false })).memo, text);
  // Too long once sealed to three readers: 254 bytes of text fit in 512.
  assert.equal(((await client.prepare(sender, pay(payee), { memo: new Uint8Array(254) })).memo as Uint8Array).length, 512);
  await assert.rejects(client.prepare(sender, pay(payee), { memo: new Uint8Array(255) }), (e: unknown) => e instanceof PrivacyError && e.code === 'memo_too_long');
  // A batch to many payees asks for at most 16 accounts' keys (a memo has at most 4 readers anyway).
  for (let i = 0; i < 20; i++) institutions[addr(0x70 + i)] = { institution: addr(0x0a), key: bankA.publicKey };
  const batch: TxKind = { type: 'batch_transfer', asset: 'CNY', payouts: Array.from({ length: 20 }, (_, i) => ({ to: addr(0x70 + i), amount: 1n })), transferId: 2n };
  assert.equal(((await client.prepare(sender, batch, { memo: text })).memo as Uint8Array)[1], 2);
  assert.equal(node.requests.filter((r) => r.method === 'hutong_getMemoKeys').at(-1).params.accounts.length, 16);
  // The parameters are read once.
  assert.equal(node.requests.filter((r) => r.method === 'hutong_getParameters').length, 1);

  // A chain without an identity service: the memo goes in clear, no keys asked.
  const plainNode = fakeNode({
    hutong_status: status(),
    hutong_getParameters: parameters(null),
    hutong_getAccount: () => ({ address: sender.address, sequence: 0, balances: {} }),
  });
  const plain = new HutongClient('http://plain', { fetch: plainNode.fetch });
  assert.equal((await plain.prepare(sender, pay(payee), { memo: text })).memo, text);
  assert.ok(!plainNode.requests.some((r) => r.method === 'hutong_getMemoKeys'));
});

test('memo counterparties by kind, and the readers’ keys deduplicated', () => {
  const [a, b, c] = [addr(0x11), addr(0x22), addr(0x33)];
  const kinds: [TxKind, string[]][] = [
    [{ type: 'transfer', to: a, asset: 'CNY', amount: 1n, transferId: 1n }, [a]],
    [{ type: 'batch_transfer', asset: 'CNY', payouts: [{ to: a, amount: 1n }, { to: b, amount: 1n }, { to: a, amount: 2n }], transferId: 1n }, [a, b]],
    [{ type: 'hold', to: b, asset: 'CNY', amount: 1n, holdId: 1n, expiresAtMs: 1n }, [b]],
    [{ type: 'capture', payer: c, holdId: 1n, amount: 1n }, [c]],
    [{ type: 'void', payer: c, holdId: 1n }, [c]],
    [{ type: 'mandate_pay', payer: a, mandateId: 1n, to: b, asset: 'CNY', amount: 1n, transferId: 1n }, [a, b]],
    [{ type: 'linked', legs: [{ type: 'transfer', to: a, asset: 'CNY', amount: 1n, transferId: 1n }, { type: 'capture', payer: c, holdId: 1n, amount: 1n }] }, [a, c]],
    [{ type: 'freeze', account: a, reason: 'fraud' }, []],
    [{ type: 'set_memo_key', key: new Uint8Array(32) }, []],
  ];
  for (const [kind, expected] of kinds) assert.deepEqual(memoCounterparties(kind), expected, kind.type);
  assert.deepEqual(memoCounterparties({ type: 'transfer', to: fromHex('11'.repeat(20)), asset: 'CNY', amount: 1n, transferId: 1n }), [a], 'address bytes');

  const k = (byte: string) => byte.repeat(32);
  const keys = memoReaderKeys({ regulator: k('cc'), accounts: [{ account: a, institution: b, memoKey: k('aa') }, { account: b, institution: b, memoKey: k('aa') }, { account: c, institution: c, memoKey: null }] });
  assert.deepEqual(keys.map(toHex), [k('cc'), k('aa')], 'the regulator first, as the Rust client');
  assert.deepEqual(memoReaderKeys({ regulator: null, accounts: [{ account: a, institution: b, memoKey: k('cc') }] }, k('CC')).map(toHex), [k('cc')], 'the fallback regulator key, once');
  assert.throws(() => memoReaderKeys({ regulator: null, accounts: [] }), (e: unknown) => e instanceof PrivacyError && e.code === 'bad_readers');
  assert.throws(() => memoReaderKeys({ regulator: 'cc', accounts: [] }), (e: unknown) => e instanceof PrivacyError && e.code === 'malformed');
});
