// Golden vectors: sdk/vectors/transactions.json, every case, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  Keypair,
  SignedTransaction,
  TAG_QUOTE,
  addressOf,
  concatBytes,
  cosignMessage,
  encodeQuote,
  encodeTransaction,
  fromHex,
  quoteFromJson,
  quoteSigningHash,
  signQuote,
  tagged,
  signTransaction,
  toHex,
  transactionFromJson,
  transactionHash,
  senderAddress,
} from '../src/index.js';
import { ed25519Verify } from '../src/crypto.js';

// dist/test/ → sdk/typescript/ → sdk/vectors/
const path = fileURLToPath(new URL('../../../vectors/transactions.json', import.meta.url));
const vectors = JSON.parse(readFileSync(path, 'utf8')) as { cases: any[] };

test('the vector file has the cases SPEC.md lists', () => {
  assert.deepEqual(
    vectors.cases.map((c) => c.name),
    [
      'transfer', 'transfer_step_up', 'batch_transfer', 'open_account', 'freeze', 'anchor_audit_log',
      'hold', 'capture', 'void', 'freeze_amount', 'release_freeze', 'set_account_state',
      'register_device', 'revoke_device', 'linked', 'pvp', 'grant_mandate', 'revoke_mandate', 'mandate_pay',
      'list_identity', 'delist_identity', 'set_memo_key',
    ],
  );
});

test('the pvp vector\'s quote signature: secret key 12 over the quote\'s signing hash', () => {
  // Ed25519 is deterministic: signing the quote again gives the vector's signature.
  const c = vectors.cases.find((c) => c.name === 'pvp');
  const fields = c.tx.kind.pvp;
  const quote = quoteFromJson(fields.quote);
  const provider = Keypair.fromSecretKey('0c'.repeat(32));
  assert.equal(c.tx.chain_id, 'ab'.repeat(32));
  assert.equal(provider.address, fields.quote.provider);
  assert.equal(toHex(signQuote(c.tx.chain_id, quote, provider)), fields.quote_signature);
  const digest = quoteSigningHash(c.tx.chain_id, quote);
  assert.deepEqual(digest, tagged(TAG_QUOTE, concatBytes(fromHex(c.tx.chain_id), encodeQuote(quote))));
  assert.ok(ed25519Verify(fromHex(fields.quote_signature), digest, provider.publicKey));
  // Another chain's, or an altered quote, is another signature.
  assert.notEqual(toHex(signQuote('ac'.repeat(32), quote, provider)), fields.quote_signature);
  const altered = quoteSigningHash(c.tx.chain_id, { ...quote, rateNum: BigInt(fields.quote.rate_num) + 1n });
  assert.ok(!ed25519Verify(fromHex(fields.quote_signature), altered, provider.publicKey));
});

for (const c of vectors.cases) {
  test(`vector ${c.name}: ${c.about}`, () => {
    const sender = Keypair.fromSecretKey(c.sender_secret_key);
    assert.equal(sender.publicKeyHex, c.tx.sender, 'sender public key from the secret key');
    const tx = transactionFromJson(c.tx);

    assert.equal(toHex(encodeTransaction(tx)), c.encoding, 'encoding');
    assert.equal(transactionHash(tx), c.tx_id, 'tx_id');
    assert.equal(senderAddress(tx), c.sender_address, 'sender_address');
    assert.equal(addressOf(c.tx.sender), c.sender_address, 'address of the public key');

    let signed = signTransaction(tx, sender);
    assert.equal(toHex(signed.signature), c.signature, 'signature');
    assert.equal(signed.hash, c.tx_id, 'hash of the signed transaction');

    if (c.cosigner_secret_key) {
      const institution = Keypair.fromSecretKey(c.cosigner_secret_key);
      assert.equal(institution.publicKeyHex, c.tx.cosigner, 'cosigner public key');
      assert.equal(toHex(cosignMessage(signed.id)), c.cosign_message, 'cosign_message');
      signed = signed.cosign(institution);
      assert.equal(toHex(signed.cosignature!), c.cosignature, 'cosignature');
    } else {
      assert.equal(c.cosignature, null);
      assert.equal(c.cosign_message, null);
    }
    assert.equal(signed.toHex(), c.signed_encoding, 'signed_encoding');
    assert.ok(signed.verify(), 'signatures verify');

    // Decoding the signed encoding gives back the same transaction.
    const back = SignedTransaction.decode(c.signed_encoding);
    assert.equal(back.toHex(), c.signed_encoding, 'decode → encode round trip');
    assert.equal(back.hash, c.tx_id);
    assert.ok(back.verify());
    assert.equal(back.tx.kind.type, Object.keys(c.tx.kind)[0], 'the kind decoded');
  });
}
