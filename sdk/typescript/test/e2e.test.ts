// End-to-end tests against a live local testnet started from $HUTONG_BIN
// (4 validators + a regulator on 127.0.0.1), one per test run, in a
// temporary folder; the testnet's process group is killed at the end.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  HutongClient,
  Keypair,
  RejectedError,
  RpcError,
  SignedTransaction,
  concatBytes,
  expectSuccess,
  formatAmount,
  identityHpkeKeyFromSeed,
  isSealedMemo,
  listingKey,
  memoContext,
  memoKeyFromSeed,
  openIdentity,
  openMemo,
  parseAmount,
  readKeyFile,
  sha256,
  signQuote,
  signTransaction,
  succeeded,
  toHex,
  utf8,
  writeKeyFile,
  type Account,
  type Effect,
  type Parameters,
  type Quote,
  type Transaction,
  type TxKind,
  type TxStatus,
} from '../src/index.js';

// ------------------------------------------------------------------ seed

const SEED = BigInt(process.env['HUTONG_SEED'] ?? Date.now());
let counter = 0n;
/** Deterministic random bytes from the seed (printed below). */
function seeded(label: string, n = 32): Uint8Array {
  counter += 1n;
  // As many bytes as asked: SHA-256 blocks of the seed, label and counter.
  const out = new Uint8Array(n);
  for (let at = 0, block = 0; at < n; at += 32, block += 1) {
    out.set(sha256(utf8.encode(`${SEED}/${label}/${counter}/${block}`)).slice(0, n - at), at);
  }
  return out;
}
const seededBig = (label: string, bytes: number) => BigInt('0x' + toHex(seeded(label, bytes)));
const transferId = () => seededBig('transfer-id', 16);
/** A random amount in [lo, hi], minor units. */
const between = (lo: bigint, hi: bigint) => lo + (seededBig('amount', 8) % (hi - lo + 1n));
const seededKey = (label: string) => Keypair.fromSecretKey(seeded(label));

// ------------------------------------------------------------------ testnet fixture

const BIN = process.env['HUTONG_BIN'];
const HOW = 'build the node with `cargo build -p hutong-cli` and set HUTONG_BIN to the binary (e.g. HUTONG_BIN=$PWD/target/debug/hutong)';

let dir = '';
let proc: ChildProcess | undefined;
let client: HutongClient;
let other: HutongClient; // a second validator
/** Each node's RPC URL by its name (the members' names, and `regulator`), as `hutong testnet` prints them. */
let endpoints: Record<string, string> = {};
let params: Parameters;
let keys: Record<string, Keypair> = {};
let accounts: Record<string, Account> = {};
let decimals = 2;
/** Why the testnet could not be set up: every test then fails with it (never skips). */
let setupError: Error | undefined;

function killTestnet(signal: NodeJS.Signals): void {
  if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
    try {
      process.kill(-proc.pid, signal); // the whole process group: the testnet and its five nodes
    } catch {
      /* gone already */
    }
  }
}
process.on('exit', () => killTestnet('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killTestnet('SIGKILL');
    process.exit(130);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startTestnet(): Promise<Record<string, string>> {
  if (!BIN) throw new Error(`HUTONG_BIN is not set: ${HOW}`);
  try {
    accessSync(BIN, constants.X_OK);
  } catch {
    throw new Error(`HUTONG_BIN=${BIN} is missing or not executable: ${HOW}`);
  }
  dir = mkdtempSync(join(tmpdir(), 'hutong-sdk-ts-e2e-'));
  console.log(`e2e: testnet folder ${dir} (log ${dir}/testnet.log); HUTONG_SEED=${SEED}`);
  const log = openSync(join(dir, 'testnet.log'), 'a');
  proc = spawn(BIN, ['testnet', '--dir', join(dir, 'net'), '--fresh'], {
    detached: true, // its own process group, killed as a whole in after()
    stdio: ['ignore', log, log],
    env: { ...process.env, HUTONG_LOG: process.env['HUTONG_LOG'] ?? 'warn' },
  });
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`hutong testnet exited (${proc.exitCode ?? proc.signalCode}):\n${readFileSync(join(dir, 'testnet.log'), 'utf8')}`);
    }
    const text = readFileSync(join(dir, 'testnet.log'), 'utf8');
    const endpoints: Record<string, string> = {};
    for (const m of text.matchAll(/^\s*(\S+)\s+rpc\s+(http:\/\/127\.0\.0\.1:\d+)/gm)) endpoints[m[1]!] = m[2]!;
    if (Object.keys(endpoints).length >= 5 && /Ctrl-C/.test(text)) return endpoints;
    if (Date.now() > deadline) throw new Error(`hutong testnet printed no endpoints in 90 s:\n${text}`);
    await sleep(200);
  }
}

async function waitForBlocks(c: HutongClient): Promise<void> {
  const deadline = Date.now() + 90_000;
  let first: number | undefined;
  for (;;) {
    try {
      const s = await c.status();
      first ??= s.height;
      if (s.height >= 2 && s.height > first) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`the testnet did not commit blocks within 90 s; see ${dir}/testnet.log`);
    await sleep(300);
  }
}

function ready(): void {
  if (setupError) throw new Error(`no testnet: ${setupError.message}`);
}

async function refresh(name: string): Promise<Account> {
  return (accounts[name] = await client.getAccount(keys[name]!.address));
}

/** Prepares (chain id, next sequence, expiry from the node), signs, and co-signs if asked. */
async function signed(name: string, kind: TxKind, opts: { cosigner?: Keypair; skipChecks?: boolean; sequence?: bigint; tweak?: (tx: Transaction) => Transaction } = {}): Promise<SignedTransaction> {
  const key = keys[name]!;
  let tx = await client.prepare(key, kind, { cosigner: opts.cosigner ?? null, sequence: opts.sequence });
  if (opts.tweak) tx = opts.tweak(tx);
  let stx = signTransaction(tx, key, { skipChecks: opts.skipChecks });
  if (opts.cosigner) stx = stx.cosign(opts.cosigner);
  return stx;
}

function pay(to: string, amount: bigint, asset = 'CNY'): TxKind {
  return { type: 'transfer', to: keys[to]?.address ?? to, asset, amount, transferId: transferId() };
}

async function rejectedCode(tx: SignedTransaction | Uint8Array): Promise<RejectedError> {
  try {
    const v = await client.submit(tx);
    assert.fail(`expected a rejection, got ${JSON.stringify(v.raw)}`);
  } catch (e) {
    if (!(e instanceof RejectedError)) throw e;
    return e;
  }
}

function receiptCode(s: TxStatus): string | null {
  assert.equal(s.status, 'committed', `status ${JSON.stringify(s.raw)}`);
  return s.status === 'committed' ? (s.receipt?.code ?? null) : null;
}

/** The committed receipt of a transaction that failed at execution. */
function expectFailure(s: TxStatus, code: string): NonNullable<Extract<TxStatus, { status: 'committed' }>['receipt']> {
  assert.equal(receiptCode(s), code, JSON.stringify(s.raw));
  const receipt = s.status === 'committed' ? s.receipt! : assert.fail('committed');
  assert.equal(receipt.success, false);
  return receipt;
}

/** Minor units of `asset` held by a named key's account, or by an address. */
async function balanceOf(who: string, asset: string): Promise<bigint> {
  const acct = keys[who] ? await refresh(who) : await client.getAccount(who);
  return acct.balances[asset] ?? 0n;
}

const balancesOf = (pairs: [string, string][]) => Promise.all(pairs.map(([who, asset]) => balanceOf(who, asset)));

/** The `leg` markers of a linked transaction's or a payment versus payment's effects, in order. */
const legMarkers = (effects: Effect[]) => effects.filter((e) => e.type === 'leg').map((e) => e['leg']);

/** A u64 id below 2^53 (node JSON numbers; the client reads them as JS numbers). */
const seededId = () => seededBig('id', 6);

describe('e2e against a live testnet', { timeout: 240_000 }, () => {
  before(async () => {
    try {
      await setUp();
    } catch (e) {
      setupError = e as Error;
      console.error(`e2e: SET-UP FAILED: ${setupError.message}`);
    }
  });

  async function setUp(): Promise<void> {
    endpoints = await startTestnet();
    console.log(`e2e: endpoints ${JSON.stringify(endpoints)}`);
    const names = Object.keys(endpoints);
    client = new HutongClient(endpoints[names[0]!]!);
    other = new HutongClient(endpoints[names[1]!]!);
    await waitForBlocks(client);
    params = await client.parameters();
    decimals = params.decimals['CNY'] ?? 2;
    const keyDir = join(dir, 'net', 'keys');
    for (const f of readdirSync(keyDir)) {
      if (f.endsWith('.node.key')) continue;
      keys[f.replace(/\.key$/, '')] = await readKeyFile(join(keyDir, f));
    }
    for (const name of Object.keys(keys).filter((n) => n.startsWith('account-'))) await refresh(name);
  }

  let anyFailed = false;
  afterEach((t) => {
    if (!(t as unknown as { passed?: boolean }).passed) anyFailed = true;
  });

  after(async () => {
    if (!proc) return;
    killTestnet('SIGTERM');
    for (let i = 0; i < 50 && proc.exitCode === null && proc.signalCode === null; i++) await sleep(200);
    killTestnet('SIGKILL');
    // The nodes are in the same process group; make sure none is left.
    await sleep(200);
    if (anyFailed || setupError || process.env['HUTONG_KEEP_TESTNET']) {
      console.log(`e2e: testnet stopped; folder kept at ${dir}`);
    } else {
      rmSync(dir, { recursive: true, force: true });
      console.log(`e2e: testnet stopped; every test passed, folder ${dir} removed (HUTONG_KEEP_TESTNET=1 keeps it)`);
    }
  });

  test('status and parameters', async () => {
    ready();
    const s = await client.status();
    assert.match(s.chainId, /^[0-9a-f]{64}$/);
    assert.ok(s.assets.some((a) => a.code === 'CNY' && a.decimals === decimals));
    assert.ok(params.tiers.length > 0);
    assert.ok(params.sizes.sequenceWindow > 0 && params.sizes.submitBatchMax === 1000 && params.sizes.txBytesMax === 16384);
    assert.equal(await other.chainId(), s.chainId, 'two nodes, one chain');
  });

  let first: SignedTransaction;

  test('a transfer commits and moves exactly the amount (wait by polling)', async () => {
    ready();
    const [from, to] = ['account-1', 'account-4'];
    const before = [await refresh(from), await refresh(to)];
    const amount = between(1n, parseAmount('100.00', decimals));
    console.log(`e2e: transfer ${formatAmount(amount, decimals)} CNY ${from} → ${to} (seed ${SEED})`);
    first = await signed(from, pay(to, amount), {});
    assert.equal(first.tx.sequence, before[0]!.sequence, 'the next sequence');
    const verdict = await client.submit(first);
    assert.deepEqual([verdict.status, verdict.hash], ['pending', first.hash]);
    const status = await client.waitByPolling(first.hash, { timeoutMs: 60_000 });
    const receipt = expectSuccess(status);
    assert.deepEqual(
      receipt.effects!.map((e) => [e.type, e.account, e.amount]),
      [['debit', keys[from]!.address, amount], ['credit', keys[to]!.address, amount]],
    );
    const after = [await refresh(from), await refresh(to)];
    assert.equal(after[0]!.balances['CNY']! - before[0]!.balances['CNY']!, -amount);
    assert.equal(after[1]!.balances['CNY']! - before[1]!.balances['CNY']!, amount);
    assert.equal(after[0]!.sequence, before[0]!.sequence + 1n);
    assert.equal(after[0]!.limits['CNY']!.spentToday - before[0]!.limits['CNY']!.spentToday, amount);
    // The other node agrees.
    const there = await other.waitByPolling(first.hash, { timeoutMs: 30_000 });
    assert.ok(succeeded(there));
  });

  test('idempotent retry: the same bytes again answer the committed status', async () => {
    ready();
    const again = await client.submit(first);
    assert.equal(again.status, 'committed');
    assert.equal(again.hash, first.hash);
    const many = await client.submitMany([first]);
    assert.equal(many[0]!.status, 'committed');
    const st = await client.getTransaction(first.hash);
    assert.ok(st.status === 'committed' && again.status === 'committed' && st.height === again.height && st.index === again.index);
    // Same sequence, different transaction: a stale sequence, not a retry.
    const rival = await signed("account-1", pay("account-4", 1n), { sequence: BigInt(first.tx.sequence) });
    assert.equal((await rejectedCode(rival)).code, "stale_sequence");
  });

  test('wait by subscription (WebSocket), and client.wait', async () => {
    ready();
    const amount = between(1n, 1000n);
    const tx = await signed('account-1', pay('account-7', amount));
    // Subscribe before submitting: the final status still arrives.
    const sub = client.subscribeTransaction(tx.hash, { timeoutMs: 60_000 });
    await sleep(100);
    await client.submit(tx);
    const status = await sub;
    assert.equal(status.status, 'committed');
    expectSuccess(status);
    // Subscribing to a transaction already final answers at once.
    const again = await other.subscribeTransaction(tx.hash, { timeoutMs: 30_000 });
    assert.equal(again.status, 'committed');
    // send() = submit + wait (subscription by default).
    const next = await signed('account-1', pay('account-7', 1n));
    expectSuccess(await client.send(next, { timeoutMs: 60_000 }));
  });

  test('step-up: above the threshold, refused at execution without the co-signature, committed with it', async () => {
    ready();
    // A customer whose tier has a step-up threshold.
    const name = Object.keys(accounts).find((n) => accounts[n]!.limits['CNY']?.stepUpThreshold != null && accounts[n]!.frozen === null)!;
    assert.ok(name, 'a demo account with a step-up threshold');
    const acct = await refresh(name);
    const lim = acct.limits['CNY']!;
    const threshold = lim.stepUpThreshold!;
    const top = [lim.singleMax, lim.remainingToday, acct.balances['CNY']!].reduce((a, b) => (a < b ? a : b));
    assert.ok(top > threshold, 'room above the threshold');
    const amount = between(threshold + 1n, top < threshold * 2n ? top : threshold * 2n);
    console.log(`e2e: step-up ${formatAmount(amount, decimals)} CNY from ${name} (threshold ${formatAmount(threshold, decimals)}; seed ${SEED})`);
    const institutionName = Object.keys(keys).find((k) => k.endsWith('.institution') && keys[k]!.address === acct.institution)!;
    assert.ok(institutionName, `the institution key of ${acct.institution}`);
    const institution = keys[institutionName]!;

    const plain = await signed(name, pay('account-1', amount));
    await client.submit(plain);
    const refused = await client.wait(plain.hash, { timeoutMs: 60_000 });
    assert.equal(receiptCode(refused), 'step_up_required');
    assert.equal(refused.status === 'committed' && refused.receipt!.success, false);

    const before = await refresh(name);
    const cosigned = await signed(name, pay('account-1', amount), { cosigner: institution });
    assert.ok(cosigned.verify());
    await client.submit(cosigned);
    expectSuccess(await client.wait(cosigned.hash, { timeoutMs: 60_000 }));
    const afterwards = await refresh(name);
    assert.equal(before.balances['CNY']! - afterwards.balances['CNY']!, amount);
  });

  test('batch submit: one bad item gets its own verdict, the others go on', async () => {
    ready();
    const name = 'account-3';
    const acct = await refresh(name);
    const n = acct.nextSequence;
    const a = between(1n, 5000n);
    const b = between(1n, 5000n);
    const batch = await signed(name, {
      type: 'batch_transfer',
      asset: 'CNY',
      payouts: [{ to: keys['account-5']!.address, amount: a }, { to: keys['account-6']!.address, amount: b }],
      transferId: transferId(),
    }, { sequence: n });
    const zero = await signed(name, pay('account-5', 0n), { sequence: n + 1n, skipChecks: true });
    const good = await signed(name, pay('account-6', 1n), { sequence: n + 1n });
    const before5 = (await refresh('account-5')).balances['CNY']!;
    const verdicts = await client.submitMany([batch, zero, good]);
    assert.deepEqual(verdicts.map((v) => v.status), ['pending', 'rejected', 'pending']);
    assert.equal(verdicts[1]!.status === 'rejected' && verdicts[1]!.code, 'zero_amount');
    assert.equal(verdicts[1]!.hash, zero.hash);
    for (const tx of [batch, good]) expectSuccess(await client.wait(tx.hash, { timeoutMs: 60_000, via: 'poll' }));
    assert.equal((await refresh('account-5')).balances['CNY']! - before5, a);
  });

  describe('admission rejection codes', () => {
    const expectCode = async (tx: SignedTransaction | Uint8Array, code: string, retryable = false) => {
      const e = await rejectedCode(tx);
      assert.equal(e.code, code, e.message);
      assert.equal(e.retryable, retryable, `${code} retryable`);
      assert.equal(e.rpcCode, 1001);
    };

    test('malformed', async () => {
    ready();
      const tx = await signed('account-5', pay('account-6', 1n));
      await expectCode(tx.encode().slice(0, -1), 'malformed');
      await expectCode(concatBytes(tx.encode(), Uint8Array.of(0)), 'malformed');
      // A memo over 512 bytes does not decode either.
      const longMemo = await signed('account-5', pay('account-6', 1n), { skipChecks: true, tweak: (t) => ({ ...t, memo: new Uint8Array(513) }) });
      await expectCode(longMemo, 'malformed');
    });

    test('too_large', async () => {
    ready();
      const tx = await signed('account-5', pay('account-6', 1n));
      await expectCode(concatBytes(tx.encode(), new Uint8Array(16_384)), 'too_large');
    });

    test('wrong_chain', async () => {
    ready();
      await expectCode(await signed('account-5', pay('account-6', 1n), { tweak: (t) => ({ ...t, chainId: new Uint8Array(32) }) }), 'wrong_chain');
    });

    test('bad_signature', async () => {
    ready();
      const tx = await signed('account-5', pay('account-6', 1n));
      const sig = tx.signature.slice();
      sig[0]! ^= 1;
      await expectCode(new SignedTransaction(tx.tx, sig), 'bad_signature');
    });

    test('unknown_sender (retryable)', async () => {
    ready();
      const stranger = seededKey('stranger');
      const tx = signTransaction(await client.prepare(stranger, pay('account-6', 1n), { sequence: 0n }), stranger);
      await expectCode(tx, 'unknown_sender', true);
    });

    test('stale_sequence', async () => {
    ready();
      const acct = await refresh('account-1');
      assert.ok(acct.sequence > 0n);
      await expectCode(await signed('account-1', pay('account-6', 1n), { sequence: acct.sequence - 1n }), 'stale_sequence');
    });

    test('sequence_too_far (retryable)', async () => {
    ready();
      const acct = await refresh('account-5');
      const far = acct.nextSequence + BigInt(params.sizes.sequenceWindow) + 10n;
      await expectCode(await signed('account-5', pay('account-6', 1n), { sequence: far }), 'sequence_too_far', true);
    });

    test('expired', async () => {
    ready();
      await expectCode(await signed('account-5', pay('account-6', 1n), { tweak: (t) => ({ ...t, expiry: { height: 1n } }) }), 'expired');
      const s = await client.status();
      await expectCode(await signed('account-5', pay('account-6', 1n), { tweak: (t) => ({ ...t, expiry: { timeMs: BigInt(s.timestampMs) - 60_000n } }) }), 'expired');
    });

    test('sequence_taken', async () => {
    ready();
      // A transaction held pending behind a gap, then another one with its sequence.
      const acct = await refresh('account-7');
      const s = await client.status();
      const gap = acct.nextSequence + 3n;
      const shortly = { height: BigInt(s.height + 40) };
      const held = await signed('account-7', pay('account-6', 1n), { sequence: gap, tweak: (t) => ({ ...t, expiry: shortly }) });
      assert.equal((await client.submit(held)).status, 'pending');
      assert.equal((await client.getTransaction(held.hash)).status, 'pending');
      const rival = await signed('account-7', pay('account-6', 2n), { sequence: gap, tweak: (t) => ({ ...t, expiry: shortly }) });
      await expectCode(rival, 'sequence_taken');
    });

    test('zero_amount', async () => {
    ready();
      await expectCode(await signed('account-5', pay('account-6', 0n), { skipChecks: true }), 'zero_amount');
    });

    test('self_transfer', async () => {
    ready();
      await expectCode(await signed('account-5', pay('account-5', 1n), { skipChecks: true }), 'self_transfer');
    });

    // Codes added to the node in the same change as this SDK: a node
    // without them fails these four tests with what it answered instead.
    const NEWER = 'a node with the newer admission codes (unknown_asset, cosignature_*)';
    const expectNewCode = async (tx: SignedTransaction, code: string) => {
      let answer: string;
      try {
        const v = await client.submit(tx);
        answer = `admitted it (${v.status})`;
      } catch (e) {
        if (!(e instanceof RejectedError)) throw e;
        if (e.code === code) {
          assert.equal(e.retryable, false, `${code} retryable`);
          assert.equal(e.rpcCode, 1001);
          return;
        }
        answer = `rejected it with ${e.code}`;
      }
      assert.fail(`expected the rejection code ${code}, but the node ${answer}: this test needs ${NEWER}`);
    };

    test('unknown_asset (new admission code)', async () => {
    ready();
      await expectNewCode(await signed('account-5', pay('account-6', 1n, 'XYZ')), 'unknown_asset');
    });

    test('cosignature_missing (new admission code)', async () => {
    ready();
      const acct = accounts['account-5']!;
      const inst = Object.values(keys).find((k) => k.address === acct.institution)!;
      const tx = await signed('account-5', pay('account-6', 1n), { tweak: (t) => ({ ...t, cosigner: inst.publicKey }) });
      await expectNewCode(tx, 'cosignature_missing');
    });

    test('cosignature_unexpected (new admission code)', async () => {
    ready();
      const tx = await signed('account-5', pay('account-6', 1n));
      await expectNewCode(tx.withCosignature(seeded('cosig', 64)), 'cosignature_unexpected');
    });

    test('cosignature_invalid (new admission code)', async () => {
    ready();
      const acct = accounts['account-5']!;
      const inst = Object.values(keys).find((k) => k.address === acct.institution)!;
      const tx = await signed('account-5', pay('account-6', 1n), { tweak: (t) => ({ ...t, cosigner: inst.publicKey }) });
      await expectNewCode(tx.withCosignature(seeded('cosig', 64)), 'cosignature_invalid');
    });
  });

  test('sender_frozen: admitted, then failed at execution (a regulator freezes, then unfreezes)', async () => {
    ready();
    // Not an admission rejection: the frozen sender's transaction is
    // ordered and fails with `sender_frozen`, its sequence number used, so
    // the attempt is on the ledger for the regulator and every member.
    const target = keys['account-8']!.address;
    const freeze = await signed('regulator', { type: 'freeze', account: target, reason: 'regulatory' });
    expectSuccess(await client.send(freeze, { timeoutMs: 60_000 }));
    const frozen = await refresh('account-8');
    assert.equal(frozen.status, 'frozen');
    assert.ok(frozen.frozen, 'the account view names the freeze');
    const before6 = (await refresh('account-6')).balances['CNY']!;

    const attempt = await signed('account-8', pay('account-6', 1n));
    assert.equal(BigInt(attempt.tx.sequence), frozen.nextSequence > frozen.sequence ? frozen.nextSequence : frozen.sequence);
    const verdict = await client.submit(attempt); // admitted: no RejectedError
    assert.deepEqual([verdict.status, verdict.hash], ['pending', attempt.hash]);
    const failed = await client.wait(attempt.hash, { timeoutMs: 60_000 });
    assert.equal(receiptCode(failed), 'sender_frozen');
    const receipt = failed.status === 'committed' ? failed.receipt! : assert.fail('committed');
    assert.equal(receipt.success, false);
    assert.equal(receipt.failure?.['freeze_reason'], 'regulatory', JSON.stringify(receipt.raw));
    assert.equal(receipt.failure?.['frozen_by'], frozen.frozen!.by, JSON.stringify(receipt.raw));
    const after = await refresh('account-8');
    assert.equal(after.sequence, BigInt(attempt.tx.sequence) + 1n, 'the failed attempt used its sequence number');
    assert.equal(after.balances['CNY'], frozen.balances['CNY'], 'nothing left the frozen account');
    assert.equal((await refresh('account-6')).balances['CNY'], before6, 'nothing arrived');

    const unfreeze = await signed('regulator', { type: 'unfreeze', account: target });
    expectSuccess(await client.send(unfreeze, { timeoutMs: 60_000 }));
    assert.equal((await refresh('account-8')).status, 'active');
    // Unfrozen, it pays again, with the next sequence number.
    const amount = between(1n, 1000n);
    const next = await signed('account-8', pay('account-6', amount));
    assert.equal(BigInt(next.tx.sequence), BigInt(attempt.tx.sequence) + 1n);
    expectSuccess(await client.send(next, { timeoutMs: 60_000 }));
    assert.equal((await refresh('account-8')).balances['CNY']! - frozen.balances['CNY']!, -amount);
    assert.equal((await refresh('account-6')).balances['CNY']! - before6, amount);
  });

  test('a pending transaction that expires is dropped, and its subscription says so (newer node)', async () => {
    ready();
    // Held behind a sequence gap, so no block takes it before its expiry.
    const acct = await refresh('account-6');
    const s = await client.status();
    const held = await signed('account-6', pay('account-5', 1n), {
      sequence: acct.nextSequence + 2n,
      tweak: (t) => ({ ...t, expiry: { height: BigInt(s.height + 8) } }),
    });
    assert.equal((await client.submit(held)).status, 'pending');
    const stop = new AbortController();
    const sub = client.subscribeTransaction(held.hash, { timeoutMs: 60_000, signal: stop.signal });
    sub.catch(() => {});
    try {
      let st: TxStatus;
      const deadline = Date.now() + 60_000;
      do {
        await sleep(250);
        st = await client.getTransaction(held.hash);
      } while (st.status === 'pending' && Date.now() < deadline);
      if (st.status !== 'dropped') {
        assert.fail(`after its expiry the transaction is ${st.status}, expected dropped (code expired): this test needs a node with the dropped status`);
      }
      assert.equal(st.code, 'expired');
      const notified = await Promise.race([sub, sleep(10_000).then(() => null)]);
      assert.ok(notified && notified.status === 'dropped' && notified.code === 'expired', 'the subscription delivers the drop');
    } finally {
      stop.abort();
    }
  });

  // The identity layer (SPEC.md section 9). The testnet has a regulator,
  // so its genesis names the regulator's identity keys: accounts are
  // opened with an identity envelope, memos are sealed.

  /** A member's name by its account address (the parameters' `members`). */
  const memberName = (account: string): string => {
    const members = params.raw['members'] as { name: string; account: string }[];
    const m = members.find((x) => x.account === account);
    assert.ok(m, `a member with the account ${account}: ${JSON.stringify(members)}`);
    return m.name;
  };
  /** The regulator's HPKE key, from its identity seed file (`keys/regulator.identity.key`). */
  const regulatorHpke = () => {
    const seedKey = keys['regulator.identity'];
    assert.ok(seedKey, 'the key file regulator.identity.key');
    const k = identityHpkeKeyFromSeed(seedKey.secretKey());
    assert.equal(toHex(k.publicKey), params.identity!.hpkeKey, "the parameters' hpke_key is the regulator's");
    return k;
  };
  /** A seeded identity never used before: a CN_RIC-shaped number. */
  const freshIdentity = () => `CN_RIC:${seededBig('id-number', 8).toString().padStart(17, '0').slice(0, 17)}X`;

  test('an institution opens an account through the identity service for a new key; it is funded and pays', async () => {
    ready();
    assert.ok(params.identity, `the testnet has an identity service: ${JSON.stringify(params.raw['identity'])}`);
    assert.ok(endpoints['regulator'], `the regulator's RPC endpoint among ${JSON.stringify(endpoints)}`);
    const owner = seededKey('new-customer');
    // Its key file, written by the SDK, is one the hutong binary reads.
    const path = join(dir, 'new-customer.key');
    await writeKeyFile(path, owner);
    const shown = spawnSync(BIN!, ['keys', 'show', path], { encoding: 'utf8' });
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(owner.address));
    keys['new-customer'] = await readKeyFile(path);

    const bank = 'bank-a.institution';
    assert.ok(keys[bank], 'bank-a institution key');
    // The customer's tag, from the regulator's node, checked against the ledger's OPRF key.
    const identity = freshIdentity();
    console.log(`e2e: opening an account for ${identity} (seed ${SEED})`);
    const [tag] = await client.identityTags(keys[bank]!, [identity], endpoints['regulator']!);
    assert.equal(tag!.length, 64);
    // One person, one tag: written another way, asked by another institution.
    const otherBank = Object.keys(keys).find((k) => k.endsWith('.institution') && k !== bank)!;
    const spaced = identity.toLowerCase().replace(/^(\w+):(\d{6})/, '$1: $2 ');
    const [again] = await other.identityTags(keys[otherBank]!, [spaced], endpoints['regulator']!);
    assert.deepEqual(again, tag, `${spaced} is ${identity}`);
    // A fresh identity is on nobody's blacklist.
    const listing = await client.checkListing(listingKey(tag!));
    assert.equal(listing.listed, false, JSON.stringify(listing.raw));
    assert.equal(listing.listedBy, null);

    const opening = await client.openAccountWithIdentity(owner, 1, tag!);
    const open = signTransaction(await client.prepare(keys[bank]!, opening.kind), keys[bank]!);
    const opened = expectSuccess(await client.send(open, { timeoutMs: 60_000 }));
    assert.ok(opened.effects!.some((e) => e.type === 'account_opened' && e.account === owner.address), JSON.stringify(opened.raw));
    // What the regulator's node opens: the tag, for this chain and owner only.
    const reg = regulatorHpke();
    const chainId = await client.chainId();
    assert.deepEqual(openIdentity(reg.secretKey, chainId, owner.publicKey, opening.kind.identityEnvelope!, opening.kind.identityCommitment), tag);

    const fund = parseAmount('10.00', decimals);
    expectSuccess(await client.send(await signed(bank, pay('new-customer', fund)), { timeoutMs: 60_000 }));
    const acct = await refresh('new-customer');
    assert.equal(acct.balances['CNY'], fund);
    assert.equal(acct.tier, 1);
    assert.equal(acct.sequence, 0n);
    const spend = await signed('new-customer', pay('account-1', parseAmount('1.5', decimals)), {});
    expectSuccess(await client.send(spend, { timeoutMs: 60_000, via: 'poll' }));
    assert.equal(formatAmount((await refresh('new-customer')).balances['CNY']!, decimals), '8.50');
  });

  test('identity_envelope: an account opening without an envelope fails on a chain with an identity service', async () => {
    ready();
    const bare = await signed('bank-a.institution', { type: 'open_account', owner: seededKey('bare-customer').publicKey, tier: 1, identityCommitment: seeded('identity') });
    const failed = expectFailure(await client.send(bare, { timeoutMs: 60_000 }), 'identity_envelope');
    assert.equal(failed.failure?.['required'], true, JSON.stringify(failed.raw));
  });

  test('the shared blacklist: list a listing key, check it, list again, delist, delist again', async () => {
    ready();
    const bank = 'bank-a.institution';
    const [tag] = await client.identityTags(keys[bank]!, [freshIdentity()], endpoints['regulator']!);
    const key = listingKey(tag!);
    const keyHex = toHex(key);
    assert.equal((await client.checkListing(key)).listed, false);
    const reference = `(2026) Hu ${SEED % 10_000n}`;
    const listed = expectSuccess(await client.send(await signed(bank, { type: 'list_identity', listingKey: key, reason: 'legal-order', reference }), { timeoutMs: 60_000 }));
    const effect = listed.effects!.find((e) => e.type === 'identity_listed');
    assert.deepEqual([effect?.['listingKey'], effect?.['by'], effect?.['reason']], [keyHex, keys[bank]!.address, 'legal-order'], JSON.stringify(listed.raw));
    const entry = await other.checkListing(key);
    assert.deepEqual([entry.listingKey, entry.listed, entry.listedBy, entry.reason], [keyHex, true, keys[bank]!.address, 'legal-order'], JSON.stringify(entry.raw));
    assert.ok(entry.listedAtMs && entry.listedAtMs > 0);
    const twice = expectFailure(await client.send(await signed(bank, { type: 'list_identity', listingKey: key, reason: 'fraud' }), { timeoutMs: 60_000 }), 'already_listed');
    assert.equal(twice.failure?.['listed_by'], keys[bank]!.address, JSON.stringify(twice.raw));
    const delisted = expectSuccess(await client.send(await signed(bank, { type: 'delist_identity', listingKey: key }), { timeoutMs: 60_000 }));
    assert.ok(delisted.effects!.some((e) => e.type === 'identity_delisted' && e['listingKey'] === keyHex), JSON.stringify(delisted.raw));
    assert.equal((await client.checkListing(key)).listed, false);
    expectFailure(await client.send(await signed(bank, { type: 'delist_identity', listingKey: key }), { timeoutMs: 60_000 }), 'not_listed');
    // An institution publishes its memo key (here the one it has already).
    const memoKey = memoKeyFromSeed(keys['bank-a.memo']!.secretKey()).publicKey;
    const set = expectSuccess(await client.send(await signed(bank, { type: 'set_memo_key', key: memoKey }), { timeoutMs: 60_000 }));
    assert.ok(set.effects!.some((e) => e.type === 'memo_key_set' && e['institution'] === keys[bank]!.address && e['key'] === toHex(memoKey)), JSON.stringify(set.raw));
  });

  test('memos are sealed to both institutions and the regulator; the sender reads its memo through its institution; a memo in clear fails', async () => {
    ready();
    const [from, to] = ['account-1', 'account-4'];
    const text = `invoice ${SEED} 发票`;
    const tx = await client.prepare(keys[from]!, pay(to, between(1n, 1000n)), { memo: text });
    const sealed = tx.memo as Uint8Array;
    assert.ok(isSealedMemo(sealed), 'prepare sealed the memo');
    const stx = signTransaction(tx, keys[from]!);
    expectSuccess(await client.send(stx, { timeoutMs: 60_000 }));

    // Each reader opens it with its own key: the two institutions' memo keys (from their seed files) and the regulator's.
    const context = memoContext(await client.chainId(), keys[from]!.publicKey, tx.sequence);
    const institutions = [...new Set([(await refresh(from)).institution, (await refresh(to)).institution])];
    assert.equal(sealed[1], institutions.length + 1, 'one reader per institution, and the regulator');
    for (const institution of institutions) {
      const seedKey = keys[`${memberName(institution)}.memo`];
      assert.ok(seedKey, `the memo seed file of ${memberName(institution)}`);
      assert.equal(utf8.decode(openMemo(memoKeyFromSeed(seedKey.secretKey()).secretKey, context, sealed)), text);
    }
    assert.equal(utf8.decode(openMemo(regulatorHpke().secretKey, context, sealed)), text);
    assert.throws(() => openMemo(Keypair.generate().secretKey(), context, sealed), /undecryptable/);

    // The sender asks its institution's node, which holds that institution's memo key.
    const home = new HutongClient(endpoints[memberName(accounts[from]!.institution)]!);
    await home.wait(stx.hash, { timeoutMs: 30_000 }); // that node may be a block behind
    const read = await home.readMemo(stx.hash, keys[from]!);
    assert.deepEqual([read.txHash, read.text, read.textHex], [stx.hash, text, toHex(utf8.encode(text))]);
    // A third party's key may not.
    await assert.rejects(home.readMemo(stx.hash, keys['account-5']!), (e: unknown) => e instanceof RpcError && e.code === 1010);

    // A memo in clear is refused by the ledger.
    const clear = signTransaction(await client.prepare(keys[from]!, pay(to, 1n), { memo: text, sealMemo: false }), keys[from]!);
    expectFailure(await client.send(clear, { timeoutMs: 60_000 }), 'memo_not_sealed');
  });

  // Linked transactions, payment versus payment and mandates. These share
  // the demo accounts with the tests above (not account-7 as a sender: a
  // transaction of its stays held behind a sequence gap), and measure the
  // balances they check just before and after their own transactions.

  test('linked: two transfers settle together; a failing second leg undoes the first', async () => {
    ready();
    const [from, to1, to2] = ['account-4', 'account-2', 'account-3'];
    const a1 = between(1n, 10_000n);
    const a2 = between(1n, 10_000n);
    const watched: [string, string][] = [[from, 'CNY'], [to1, 'CNY'], [to2, 'CNY']];
    const before = await balancesOf(watched);
    const leg = (to: string | Uint8Array, amount: bigint) =>
      ({ type: 'transfer' as const, to: typeof to === 'string' ? keys[to]!.address : to, asset: 'CNY', amount, transferId: transferId() });

    const both = await signed(from, { type: 'linked', legs: [leg(to1, a1), leg(to2, a2)] });
    const receipt = expectSuccess(await client.send(both, { timeoutMs: 60_000 }));
    assert.deepEqual(legMarkers(receipt.effects!), [0, 1], JSON.stringify(receipt.raw));
    assert.equal(receipt.failedLeg, null);
    assert.deepEqual(
      receipt.effects!.filter((e) => e.type === 'credit').map((e) => [e.account, e.amount]),
      [[keys[to1]!.address, a1], [keys[to2]!.address, a2]],
    );
    const after = await balancesOf(watched);
    assert.deepEqual(after, [before[0]! - a1 - a2, before[1]! + a1, before[2]! + a2]);

    // The second leg pays an address with no account: nothing of either leg stays.
    const nobody = new Uint8Array(20).fill(7);
    const seq = (await refresh(from)).nextSequence;
    const broken = await signed(from, { type: 'linked', legs: [leg(to1, a1), leg(nobody, a2)] });
    const failed = expectFailure(await client.send(broken, { timeoutMs: 60_000 }), 'unknown_account');
    assert.equal(failed.failedLeg, 1, JSON.stringify(failed.raw));
    assert.deepEqual(await balancesOf(watched), after, 'no balance changed');
    assert.equal((await refresh(from)).sequence, seq + 1n, 'the failed transaction used its sequence number');
  });

  test("payment versus payment at the FX provider's signed quote, which settles once", async () => {
    ready();
    // The provider: a member named in the parameters' fx_providers (the
    // template's second member), signing with its institution key.
    const providers = (params.raw['fx_providers'] ?? []) as string[];
    const members = params.raw['members'] as { name: string; account: string }[];
    const member = members.find((m) => providers.includes(m.account));
    assert.ok(member, `an FX provider among the members: ${JSON.stringify({ providers, members })}`);
    const providerKey = keys[`${member.name}.institution`];
    assert.ok(providerKey, `the key file ${member.name}.institution.key`);

    const [payer, payee] = ['account-1', 'account-5'];
    const pay = 10_000n;
    const [num, den] = [10_912n, 10_000n];
    const receive = (pay * num) / den; // floor
    const quote: Quote = {
      provider: member.account,
      quoteId: seededId(),
      sell: 'CNY',
      buy: 'HKD',
      rateNum: num,
      rateDen: den,
      minSell: 1n,
      maxSell: 1_000_000_000_000n,
      expiresAtMs: BigInt(Date.now() + 5 * 60_000),
      payer: keys[payer]!.address,
    };
    const quoteSignature = signQuote(await client.chainId(), quote, providerKey);
    assert.equal(quoteSignature.length, 64);
    const watched: [string, string][] = [[payer, 'CNY'], [payee, 'HKD'], [member.account, 'CNY'], [member.account, 'HKD']];
    const before = await balancesOf(watched);
    const pvp = (): TxKind => ({ type: 'pvp', quote, quoteSignature, pay, minReceive: receive, to: keys[payee]!.address, transferId: transferId() });
    console.log(`e2e: pvp ${formatAmount(pay, decimals)} CNY → ${formatAmount(receive, decimals)} HKD at ${member.name}'s quote ${quote.quoteId} (seed ${SEED})`);

    const receipt = expectSuccess(await client.send(await signed(payer, pvp()), { timeoutMs: 60_000 }));
    const exchanged = receipt.effects!.filter((e) => e.type === 'exchanged');
    assert.equal(exchanged.length, 1, JSON.stringify(receipt.raw));
    const ex = exchanged[0]!;
    assert.deepEqual(
      [ex['payer'], ex['provider'], ex['payee'], ex['quoteId'], ex['sell'], ex['buy'], ex.paid, ex.received],
      [keys[payer]!.address, member.account, keys[payee]!.address, Number(quote.quoteId), 'CNY', 'HKD', pay, receive],
    );
    assert.deepEqual(legMarkers(receipt.effects!), [0, 1]);
    const after = await balancesOf(watched);
    assert.deepEqual(after, [before[0]! - pay, before[1]! + receive, before[2]! + pay, before[3]! - receive]);

    // The same quote again, with a new sequence number and transfer id.
    expectFailure(await client.send(await signed(payer, pvp()), { timeoutMs: 60_000 }), 'quote_used');
    assert.deepEqual(await balancesOf(watched), after, 'no balance changed');
  });

  test('mandates: grant, pay within the limits, read, revoke', async () => {
    ready();
    const [owner, grantee, payee] = ['account-3', 'account-6', 'account-2'];
    const mandateId = seededId();
    const now = Date.now();
    const [startMs, endMs] = [now - 60_000, now + 86_400_000];
    const grant = await signed(owner, {
      type: 'grant_mandate',
      mandateId,
      grantee: keys[grantee]!.address,
      scope: { pay: true, read: true },
      asset: 'CNY',
      perPayment: 5000n,
      perPeriod: 8000n,
      periodSeconds: 86_400,
      startMs,
      endMs,
    });
    const granted = expectSuccess(await client.send(grant, { timeoutMs: 60_000 }));
    assert.ok(granted.effects!.some((e) => e.type === 'mandate_granted'), JSON.stringify(granted.raw));

    const listed = await client.getMandates(keys[owner]!.address);
    assert.equal(listed.length, 1, JSON.stringify(listed.map((m) => m.raw)));
    const m = listed[0]!;
    assert.deepEqual(
      [m.mandateId, m.grantee, m.scope, m.asset, m.payees, m.perPayment, m.perPeriod, m.periodSeconds, m.startMs, m.endMs, m.spentInPeriod, m.active],
      [mandateId, keys[grantee]!.address, { pay: true, read: true }, 'CNY', [], 5000n, 8000n, 86_400, startMs, endMs, 0n, true],
    );

    // The grantee pays from the owner's account, with its own key and sequence numbers.
    const mandatePay = (amount: bigint): TxKind =>
      ({ type: 'mandate_pay', payer: keys[owner]!.address, mandateId, to: keys[payee]!.address, asset: 'CNY', amount, transferId: transferId() });
    const watched: [string, string][] = [[owner, 'CNY'], [payee, 'CNY'], [grantee, 'CNY']];
    const before = await balancesOf(watched);
    const ownerSeq = accounts[owner]!.sequence;
    const paid = expectSuccess(await client.send(await signed(grantee, mandatePay(4000n)), { timeoutMs: 60_000 }));
    const used = paid.effects!.filter((e) => e.type === 'mandate_used');
    assert.equal(used.length, 1, JSON.stringify(paid.raw));
    assert.deepEqual(
      [used[0]!['payer'], used[0]!['mandateId'], used[0]!['grantee'], used[0]!.spentInPeriod],
      [keys[owner]!.address, Number(mandateId), keys[grantee]!.address, 4000n],
    );
    const after = await balancesOf(watched);
    assert.deepEqual(after, [before[0]! - 4000n, before[1]! + 4000n, before[2]!]);
    assert.equal(accounts[owner]!.sequence, ownerSeq, "the owner's sequence did not move");
    assert.equal((await client.getMandates(keys[owner]!.address))[0]!.spentInPeriod, 4000n);

    // 4000 + 4001 is past the period's 8000.
    expectFailure(await client.send(await signed(grantee, mandatePay(4001n)), { timeoutMs: 60_000 }), 'mandate_limit');
    assert.deepEqual(await balancesOf(watched), after, 'no balance changed');

    // The grantee reads the owner's account; a third key (the payee's) may not.
    const view = await client.readAccount(keys[owner]!.address, mandateId, keys[grantee]!);
    const direct = await refresh(owner);
    assert.deepEqual([view.address, view.kind, view.balances, view.sequence], [direct.address, 'customer', direct.balances, direct.sequence]);
    await assert.rejects(client.readAccount(keys[owner]!.address, mandateId, keys[payee]!), (e: unknown) => {
      assert.ok(e instanceof RpcError, String(e));
      assert.equal(e.code, 1013);
      assert.equal((e.data as { code?: string } | undefined)?.code, 'unknown_mandate', JSON.stringify(e.data));
      return true;
    });

    // Revoked: no longer listed, no longer pays.
    const revoked = expectSuccess(await client.send(await signed(owner, { type: 'revoke_mandate', mandateId }), { timeoutMs: 60_000 }));
    assert.ok(revoked.effects!.some((e) => e.type === 'mandate_revoked'), JSON.stringify(revoked.raw));
    assert.deepEqual(await client.getMandates(keys[owner]!.address), []);
    expectFailure(await client.send(await signed(grantee, mandatePay(1000n)), { timeoutMs: 60_000 }), 'unknown_mandate');
    assert.deepEqual(await balancesOf(watched), after, 'no balance changed');
  });
});
