"""End to end against a live local testnet (see conftest.py): transfers,
idempotent retry, step-up co-signing, batch submit, admission rejection
codes, a frozen sender's failed receipt, waiting by polling and by
subscription; linked transactions, payment versus payment at the FX
provider's signed quote, and mandates (pay and read); and the identity
layer (the testnet runs an identity service): accounts opened with an
identity tag from the regulator's node, the shared blacklist, sealed
memos read back by the parties."""

import asyncio
import time

import pytest

import hutong
from hutong import (
    Address,
    BatchTransfer,
    Expiry,
    Freeze,
    GrantMandate,
    Linked,
    MandatePay,
    MandateScope,
    Payout,
    Pvp,
    Quote,
    RejectedError,
    RevokeMandate,
    SignedTransaction,
    SigningKey,
    Transaction,
    Transfer,
    Unfreeze,
    format_amount,
    sign_quote,
)
from hutong.aio import wait_subscribed as async_wait_subscribed


@pytest.fixture(scope="module")
def client(testnet):
    return testnet.client


@pytest.fixture(scope="module")
def sink(testnet):
    """An account that only receives."""
    return testnet.take_account()


def balance(client, who, asset="CNY"):
    return client.get_account(who).balance(asset)


def test_transfer_committed_balances_exact(testnet, client, sink, rng):
    sender = testnet.take_account()
    decimals = client.status().decimals("CNY")
    amount = rng.randrange(1, 100_000)
    tid = rng.getrandbits(128)
    print(f"amount {format_amount(amount, decimals)} CNY, transfer id {tid:032x}")
    before_s, before_r = balance(client, sender), balance(client, sink)

    tx = client.build(sender, Transfer(sink.address, "CNY", amount, tid), memo="sdk e2e")
    if client.identity_service() is not None:
        # Sealed to the two institutions and the regulator, bound to this transaction.
        assert hutong.is_sealed_memo(tx.memo) and tx.memo != b"sdk e2e", tx.memo
    signed = tx.sign(sender)
    verdict = client.submit(signed)
    assert verdict.status == "pending" and verdict.hash == signed.hash

    status = client.wait_subscribed(verdict.hash, timeout=60)  # by subscription
    assert status.status == "committed", status
    assert status.succeeded, status.receipt
    if client.identity_service() is not None:
        # Each party reads it in clear through its institution's node.
        for party in (sender, sink):
            home = testnet.member_client(party)
            home.wait(verdict.hash, timeout=30)  # that node may be a block behind
            memo = home.read_memo(verdict.hash, party)
            assert memo.text == "sdk e2e" and memo.data == b"sdk e2e", memo
    assert status.height is not None and status.height >= 1
    assert balance(client, sender) == before_s - amount
    assert balance(client, sink) == before_r + amount

    # A second one, waited for by polling; the sequence moved on.
    amount2 = rng.randrange(1, 100_000)
    v2 = client.send(sender, Transfer(sink.address, "CNY", amount2))
    st2 = client.wait(v2, timeout=60)
    assert st2.succeeded, st2
    assert st2.height >= status.height
    acct = client.get_account(sender)
    assert acct.sequence == tx.sequence + 2 and acct.usable_sequence == acct.sequence
    assert acct.balance("CNY") == before_s - amount - amount2
    assert balance(client, sink) == before_r + amount + amount2


def test_idempotent_retry(testnet, client, sink, rng):
    sender = testnet.take_account()
    amount = rng.randrange(1, 10_000)
    signed = client.build(sender, Transfer(sink.address, "CNY", amount)).sign(sender)
    first = client.submit(signed)
    assert first.status == "pending"
    status = asyncio.run(async_wait_subscribed(client.url, first.hash, timeout=60))  # asyncio flavour
    assert status.succeeded, status
    before = balance(client, sender)

    again = client.submit(signed)  # the exact bytes again: its committed status, no error
    assert again.status == "committed", again
    assert again.hash == signed.hash and again.height == status.height and again.index == status.index
    many = client.submit_many([signed])
    assert many[0].status == "committed" and many[0].hash == signed.hash
    assert balance(client, sender) == before  # paid once


def test_step_up_needs_the_institutions_cosignature(testnet, client, sink, rng):
    sender = testnet.take_account(tier=2)
    institution = testnet.institution_key_of(sender)
    limits = client.get_account(sender).limits["CNY"]
    assert limits.step_up_threshold is not None
    amount = limits.step_up_threshold + rng.randrange(1, 1000)
    assert amount <= limits.single_max
    print(f"step-up amount {amount} minor units over threshold {limits.step_up_threshold}")

    # Without the co-signature: committed, failed at execution.
    before = balance(client, sender)
    v = client.send(sender, Transfer(sink.address, "CNY", amount))
    st = client.wait(v, timeout=60)
    assert st.committed and not st.succeeded
    assert st.receipt.code == "step_up_required", st.receipt
    assert st.failure_code == "step_up_required"
    with pytest.raises(hutong.ExecutionFailedError) as ei:
        st.raise_for_failure()
    assert ei.value.code == "step_up_required"
    assert balance(client, sender) == before

    # Co-signed by the sender's institution: committed, paid.
    before_r = balance(client, sink)
    tx = client.build(sender, Transfer(sink.address, "CNY", amount), cosigner=institution.public_key)
    signed = tx.sign(sender)            # the wallet signs, naming the co-signer
    signed = signed.cosign(institution)  # the institution's backend co-signs
    assert signed.verify()
    st = client.wait_subscribed(client.submit(signed), timeout=60)
    assert st.succeeded, st.receipt
    assert balance(client, sender) == before - amount
    assert balance(client, sink) == before_r + amount


def test_cosigned_by_another_institution_fails(testnet, client, sink):
    """New node code: co-signed, but not by the sender's institution."""
    sender = testnet.take_account(tier=2)
    own = testnet.institution_key_of(sender)
    other = next(testnet.key(f"{m['name']}.institution.key")
                 for m in client.parameters().raw["members"]
                 if testnet.key(f"{m['name']}.institution.key").public_key != own.public_key)
    limits = client.get_account(sender).limits["CNY"]
    tx = client.build(sender, Transfer(sink.address, "CNY", limits.step_up_threshold + 1), cosigner=other)
    st = client.wait(client.submit(tx.sign(sender, other)), timeout=60)
    assert st.committed and not st.succeeded
    assert st.receipt.code == "cosigner_not_institution", st.receipt


def test_batch_submit_one_bad_item(testnet, client, sink, rng):
    sender = testnet.take_account()
    seq = client.next_sequence(sender)
    a1, a2, a3 = (rng.randrange(1, 10_000) for _ in range(3))
    good1 = client.build(sender, Transfer(sink.address, "CNY", a1), sequence=seq).sign(sender)
    bad = client.build(sender, Transfer(sink.address, "CNY", 0), sequence=seq + 1).sign(sender)
    other = SigningKey(bytes(rng.getrandbits(8) for _ in range(32)))
    good2 = client.build(sender, BatchTransfer("CNY", [Payout(sink.address, a2), Payout(other.address, a3)]),
                         sequence=seq + 1).sign(sender)
    before_r = balance(client, sink)

    verdicts = client.submit_many([good1, bad, good2])
    assert [v.status for v in verdicts] == ["pending", "rejected", "pending"], verdicts
    assert verdicts[1].code == "zero_amount" and verdicts[1].retryable is False
    assert verdicts[1].hash == bad.hash and isinstance(verdicts[1].error, RejectedError)
    assert verdicts[0].hash == good1.hash and verdicts[2].hash == good2.hash
    s1 = client.wait(verdicts[0], timeout=60)
    s2 = client.wait_subscribed(verdicts[2], timeout=60)
    assert s1.succeeded, s1
    assert s2.committed
    if s2.succeeded:  # a payout to an account that does not exist fails the batch, all or nothing
        assert balance(client, sink) == before_r + a1 + a2
    else:
        assert s2.receipt.code == "unknown_account", s2.receipt
        assert balance(client, sink) == before_r + a1


# -- admission rejections -------------------------------------------------

@pytest.fixture(scope="module")
def rej(testnet, client, sink):
    """An account with one committed transaction (its sequence is past 0)."""
    k = testnet.take_account()
    st = client.wait(client.send(k, Transfer(sink.address, "CNY", 1)), timeout=60)
    assert st.succeeded, st
    return k


def expect_rejected(client, tx, code):
    with pytest.raises(RejectedError) as ei:
        client.submit(tx)
    e = ei.value
    assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
    assert isinstance(e.retryable, bool) and e.message
    return e


def test_rejected_malformed(client):
    expect_rejected(client, b"\x00\x01\x02", "malformed")


def test_rejected_too_large(client):
    expect_rejected(client, b"\x00" * (hutong.tx.TX_BYTES_MAX + 1), "too_large")


def test_rejected_wrong_chain(client, rej, sink):
    tx = client.build(rej, Transfer(sink.address, "CNY", 1))
    other_chain = bytes(b ^ 0xFF for b in tx.chain_id)
    wrong = Transaction(other_chain, tx.sender, tx.sequence, tx.expiry, tx.kind)
    expect_rejected(client, wrong.sign(rej), "wrong_chain")


def test_rejected_bad_signature(client, rej, sink):
    s = client.build(rej, Transfer(sink.address, "CNY", 1)).sign(rej)
    sig = bytearray(s.signature)
    sig[0] ^= 1
    expect_rejected(client, SignedTransaction(s.tx, bytes(sig)), "bad_signature")


def test_rejected_unknown_sender(client, sink, rng):
    stranger = SigningKey(bytes(rng.getrandbits(8) for _ in range(32)))
    tx = client.build(stranger, Transfer(sink.address, "CNY", 1), sequence=0)
    e = expect_rejected(client, tx.sign(stranger), "unknown_sender")
    assert e.retryable is True


def test_rejected_stale_sequence(client, rej, sink):
    acct = client.get_account(rej)
    assert acct.sequence >= 1
    tx = client.build(rej, Transfer(sink.address, "CNY", 2), sequence=acct.sequence - 1)
    expect_rejected(client, tx.sign(rej), "stale_sequence")


def test_rejected_sequence_too_far(client, rej, sink):
    window = client.parameters().sizes.get("sequence_window", 256)
    tx = client.build(rej, Transfer(sink.address, "CNY", 1), sequence=client.next_sequence(rej) + window + 1)
    expect_rejected(client, tx.sign(rej), "sequence_too_far")


def test_rejected_expired(client, rej, sink):
    tx = client.build(rej, Transfer(sink.address, "CNY", 1), expiry=Expiry.at_height(1))
    expect_rejected(client, tx.sign(rej), "expired")


def test_rejected_zero_amount(client, rej, sink):
    expect_rejected(client, client.build(rej, Transfer(sink.address, "CNY", 0)).sign(rej), "zero_amount")


def test_rejected_self_transfer(client, rej):
    expect_rejected(client, client.build(rej, Transfer(rej.address, "CNY", 1)).sign(rej), "self_transfer")


def test_rejected_sequence_taken(client, rej, sink):
    seq = client.next_sequence(rej)
    # A transaction one past the next sequence waits in the pool (the gap holds it)...
    held = client.build(rej, Transfer(sink.address, "CNY", 3), sequence=seq + 1).sign(rej)
    assert client.submit(held).status == "pending"
    # ...and another one with that sequence is refused.
    rival = client.build(rej, Transfer(sink.address, "CNY", 4), sequence=seq + 1).sign(rej)
    expect_rejected(client, rival, "sequence_taken")
    # Filling the gap lets both through.
    filler = client.build(rej, Transfer(sink.address, "CNY", 5), sequence=seq).sign(rej)
    client.submit(filler)
    assert client.wait(filler, timeout=60).succeeded
    assert client.wait(held, timeout=60).succeeded


def test_sender_frozen_admitted_then_fails(testnet, client, sink, rng):
    """Not an admission rejection: a frozen sender's transaction is admitted,
    ordered, and fails at execution with ``sender_frozen``, its sequence
    number used (so the attempt is on the ledger for every member to see)."""
    victim = testnet.take_account()
    regulator = testnet.key("regulator.key")
    st = client.wait(client.send(regulator, Freeze(victim.address, "regulatory")), timeout=60)
    assert st.succeeded, st.receipt
    frozen = client.get_account(victim)
    assert frozen.status == "frozen" and frozen.frozen is not None
    before_s, before_r = frozen.balance("CNY"), balance(client, sink)

    attempt = client.build(victim, Transfer(sink.address, "CNY", 1)).sign(victim)
    assert attempt.tx.sequence == frozen.usable_sequence
    verdict = client.submit(attempt)  # admitted: no RejectedError
    assert verdict.status == "pending" and verdict.hash == attempt.hash
    st = client.wait(verdict, timeout=60)
    assert st.committed and not st.succeeded, st
    assert st.failure_code == "sender_frozen", st.receipt
    assert st.receipt.failure is not None
    assert st.receipt.failure["freeze_reason"] == "regulatory", st.receipt.failure
    assert st.receipt.failure["frozen_by"] == frozen.frozen["by"], st.receipt.failure
    with pytest.raises(hutong.ExecutionFailedError) as ei:
        st.raise_for_failure()
    assert ei.value.code == "sender_frozen"
    after = client.get_account(victim)
    assert after.sequence == attempt.tx.sequence + 1  # the failed attempt used its sequence
    assert after.balance("CNY") == before_s and balance(client, sink) == before_r  # nothing moved

    # Unfrozen by the regulator, it pays again, with the next sequence.
    st = client.wait(client.send(regulator, Unfreeze(victim.address)), timeout=60)
    assert st.succeeded, st.receipt
    assert client.get_account(victim).status == "active"
    amount = rng.randrange(1, 10_000)
    tx = client.build(victim, Transfer(sink.address, "CNY", amount))
    assert tx.sequence == attempt.tx.sequence + 1
    st = client.wait(client.submit(tx.sign(victim)), timeout=60)
    assert st.succeeded, st.receipt
    assert balance(client, victim) == before_s - amount
    assert balance(client, sink) == before_r + amount


# Codes the node gains with the lead's current change (admission checks of
# assets and co-signatures); written against the new codes.

def test_rejected_unknown_asset(client, rej, sink):
    expect_rejected(client, client.build(rej, Transfer(sink.address, "ZZZ", 1)).sign(rej), "unknown_asset")


def test_rejected_cosignature_missing(testnet, client, rej, sink):
    inst = testnet.institution_key_of(rej)
    tx = client.build(rej, Transfer(sink.address, "CNY", 1), cosigner=inst)
    expect_rejected(client, SignedTransaction(tx, tx.sign(rej).signature, None), "cosignature_missing")


def test_rejected_cosignature_unexpected(testnet, client, rej, sink):
    inst = testnet.institution_key_of(rej)
    tx = client.build(rej, Transfer(sink.address, "CNY", 1))
    forged = SignedTransaction(tx, tx.sign(rej).signature, inst.sign(tx.cosign_message()))
    expect_rejected(client, forged, "cosignature_unexpected")


def test_rejected_cosignature_invalid(testnet, client, rej, sink):
    inst = testnet.institution_key_of(rej)
    tx = client.build(rej, Transfer(sink.address, "CNY", 1), cosigner=inst)
    wrong = SigningKey.generate().sign(tx.cosign_message())
    expect_rejected(client, SignedTransaction(tx, tx.sign(rej).signature, wrong), "cosignature_invalid")


# -- reads -------------------------------------------------------------------

def test_reads(client, sink):
    st = client.status()
    assert len(st.chain_id) == 64 and st.height >= 1 and st.decimals("CNY") == 2
    params = client.parameters()
    assert params.decimals["CNY"] == 2 and params.sizes["sequence_window"] >= 1
    assert params.tier_limits(2, "CNY").step_up_threshold is not None
    acct = client.get_account(sink)
    assert acct.kind == "customer" and acct.address == str(sink.address)
    assert hutong.parse_amount(format_amount(acct.balance("CNY"), 2), 2) == acct.balance("CNY")
    with pytest.raises(hutong.NotFoundError):
        client.get_account(SigningKey.generate().address)
    assert client.get_transaction("00" * 32).status == "unknown"
    block = client.get_block(height=1)
    assert block["height"] == 1
    with pytest.raises(hutong.RpcError):
        client.call("hutong_noSuchMethod")
    with pytest.raises(hutong.TransportError):
        hutong.Client("http://127.0.0.1:9", timeout=2).status()


def test_expired_pending_transaction_is_dropped(client, rej, sink):
    """New node behaviour: a pending transaction whose expiry passes ends
    ``dropped`` (code ``expired``), a final status."""
    seq = client.next_sequence(rej)
    height = client.status().height
    # Held by the gap below it until its expiry passes.
    held = client.build(rej, Transfer(sink.address, "CNY", 1), sequence=seq + 1,
                        expiry=Expiry.at_height(height + 3)).sign(rej)
    assert client.submit(held).status == "pending"
    st = client.wait(held, timeout=30)
    assert st.status == "dropped" and st.code == "expired", st


# -- linked transactions, payment versus payment, mandates --------------------
#
# The testnet has eight demo customers and the tests above take them all, so
# these share them (never marking them taken): each test measures the
# balances it checks just before and just after its own transactions, and
# the tests run one at a time.

NOBODY = Address(bytes([7]) * 20)  # no account has this address


def customers(testnet, client, rng, n):
    """``n`` distinct demo customers, active (not frozen nor restricted), at random."""
    active = [k for k in testnet.accounts() if client.get_account(k).status == "active"]
    if len(active) < n:
        pytest.fail(f"only {len(active)} active demo customers, {n} needed")
    return rng.sample(active, n)


def balances(client, *pairs):
    """The balances of (who, asset) pairs, in minor units."""
    return [client.get_account(who).balance(asset) for who, asset in pairs]


def settle(client, key, kind):
    """Builds, signs, submits and waits for the committed receipt."""
    st = client.wait(client.send(key, kind), timeout=60)
    assert st.committed, st
    return st


def leg_markers(effects):
    return [e["leg"] for e in effects if e.get("type") == "leg"]


def fx_provider(testnet, client):
    """The FX provider's member entry (``hutong_getParameters``) and its
    institution key: the second member of the template's testnet."""
    params = client.parameters().raw
    providers = params.get("fx_providers") or []
    assert providers, f"the testnet has no FX provider: {params}"
    member = next((m for m in params["members"] if m["account"] in providers), None)
    assert member is not None, f"no member is the FX provider {providers}: {params['members']}"
    return member, testnet.key(f"{member['name']}.institution.key")


def test_linked_all_or_none(testnet, client, rng):
    sender, p1, p2 = customers(testnet, client, rng, 3)
    a1, a2 = rng.randrange(1, 10_000), rng.randrange(1, 10_000)
    before = balances(client, (sender, "CNY"), (p1, "CNY"), (p2, "CNY"))

    # Two transfers, one transaction: both legs settle.
    st = settle(client, sender, Linked([Transfer(p1.address, "CNY", a1, rng.getrandbits(128)),
                                        Transfer(p2.address, "CNY", a2, rng.getrandbits(128))]))
    assert st.succeeded, st.receipt
    effects = st.receipt.effects
    assert leg_markers(effects) == [0, 1], effects
    assert st.receipt.failed_leg is None
    credits = [(e["account"], int(e["amount"])) for e in effects if e["type"] == "credit"]
    assert credits == [(str(p1.address), a1), (str(p2.address), a2)], effects
    after = balances(client, (sender, "CNY"), (p1, "CNY"), (p2, "CNY"))
    assert after == [before[0] - a1 - a2, before[1] + a1, before[2] + a2]

    # The second leg pays nobody: the first leg is undone too.
    seq = client.next_sequence(sender)
    st = settle(client, sender, Linked([Transfer(p1.address, "CNY", a1, rng.getrandbits(128)),
                                        Transfer(NOBODY, "CNY", a2, rng.getrandbits(128))]))
    assert not st.succeeded, st.receipt
    assert st.receipt.code == "unknown_account", st.receipt
    assert st.receipt.failed_leg == 1, st.receipt
    assert balances(client, (sender, "CNY"), (p1, "CNY"), (p2, "CNY")) == after  # nothing moved
    assert client.next_sequence(sender) == seq + 1  # the failed transaction used its sequence


def test_pvp_at_the_providers_quote_settles_once(testnet, client, rng):
    provider, provider_key = fx_provider(testnet, client)
    payer, payee = customers(testnet, client, rng, 2)
    pay, num, den = 10_000, 10_912, 10_000
    receive = pay * num // den  # floor
    quote = Quote(provider=provider["account"], quote_id=rng.getrandbits(64), sell="CNY", buy="HKD",
                  rate_num=num, rate_den=den, min_sell=1, max_sell=10**12,
                  expires_at_ms=int(time.time() * 1000) + 5 * 60 * 1000, payer=payer.address)
    signature = sign_quote(client.chain_id(), quote, provider_key)
    assert len(signature) == 64
    watched = [(payer, "CNY"), (payee, "HKD"), (provider["account"], "CNY"), (provider["account"], "HKD")]
    before = balances(client, *watched)

    st = settle(client, payer, Pvp(quote, signature, pay, receive, payee.address, rng.getrandbits(128)))
    assert st.succeeded, st.receipt
    effects = st.receipt.effects
    exchanged = [e for e in effects if e["type"] == "exchanged"]
    assert len(exchanged) == 1, effects
    ex = exchanged[0]
    assert (ex["payer"], ex["provider"], ex["payee"]) == (str(payer.address), provider["account"],
                                                          str(payee.address)), ex
    assert (ex["quote_id"], ex["sell"], ex["buy"]) == (quote.quote_id, "CNY", "HKD"), ex
    assert (int(ex["paid"]), int(ex["received"])) == (pay, receive), ex
    assert leg_markers(effects) == [0, 1], effects
    after = balances(client, *watched)
    assert after == [before[0] - pay, before[1] + receive, before[2] + pay, before[3] - receive]

    # The same quote again (a new sequence, a new transfer id): it settled once.
    again = Pvp(quote, signature, pay, receive, payee.address, rng.getrandbits(128))
    st = settle(client, payer, again)
    assert not st.succeeded, st.receipt
    assert st.receipt.code == "quote_used", st.receipt
    assert balances(client, *watched) == after  # nothing moved


def test_mandate_pay_read_revoke(testnet, client, rng):
    owner, grantee, payee = customers(testnet, client, rng, 3)
    mandate_id = rng.getrandbits(64)
    now = int(time.time() * 1000)
    grant = GrantMandate(mandate_id, grantee.address, MandateScope(pay=True, read=True), "CNY", [],
                         per_payment=5000, per_period=8000, period_seconds=86_400,
                         start_ms=now - 60_000, end_ms=now + 86_400_000)
    st = settle(client, owner, grant)
    assert st.succeeded, st.receipt
    assert "mandate_granted" in [e["type"] for e in st.receipt.effects], st.receipt.effects

    mandates = client.get_mandates(owner)
    assert [m.mandate_id for m in mandates] == [mandate_id], mandates
    m = mandates[0]
    assert m.grantee == str(grantee.address) and m.scope == MandateScope(pay=True, read=True)
    assert (m.asset, m.payees, m.per_payment, m.per_period, m.period_seconds) == ("CNY", [], 5000, 8000, 86_400)
    assert (m.start_ms, m.end_ms, m.spent_in_period, m.active) == (now - 60_000, now + 86_400_000, 0, True)

    # The grantee pays from the owner's account, with its own key and sequence.
    watched = [(owner, "CNY"), (payee, "CNY"), (grantee, "CNY")]
    before = balances(client, *watched)
    owner_seq, grantee_seq = client.next_sequence(owner), client.next_sequence(grantee)
    st = settle(client, grantee, MandatePay(owner.address, mandate_id, payee.address, "CNY", 4000,
                                            rng.getrandbits(128)))
    assert st.succeeded, st.receipt
    used = [e for e in st.receipt.effects if e["type"] == "mandate_used"]
    assert len(used) == 1 and used[0]["spent_in_period"] == "4000", st.receipt.effects
    assert used[0]["mandate_id"] == mandate_id and used[0]["payer"] == str(owner.address)
    assert used[0]["grantee"] == str(grantee.address)
    after = balances(client, *watched)
    assert after == [before[0] - 4000, before[1] + 4000, before[2]]
    assert client.next_sequence(grantee) == grantee_seq + 1 and client.next_sequence(owner) == owner_seq
    assert client.get_mandates(owner)[0].spent_in_period == 4000

    # 4000 + 4001 is past the period's 8000.
    st = settle(client, grantee, MandatePay(owner.address, mandate_id, payee.address, "CNY", 4001,
                                            rng.getrandbits(128)))
    assert not st.succeeded and st.receipt.code == "mandate_limit", st.receipt
    assert balances(client, *watched) == after

    # The grantee reads the owner's account; a third key (the payee's) may not.
    view = client.read_account(owner.address, mandate_id, grantee)
    direct = client.get_account(owner)
    assert view.address == str(owner.address) and view.kind == "customer"
    assert view.balances == direct.balances and view.sequence == direct.sequence
    with pytest.raises(hutong.RpcError) as ei:
        client.read_account(owner.address, mandate_id, payee)
    assert ei.value.code == 1013, ei.value
    assert isinstance(ei.value.data, dict) and ei.value.data.get("code") == "unknown_mandate", ei.value.data

    # Revoked: gone, and no longer pays.
    st = settle(client, owner, RevokeMandate(mandate_id))
    assert st.succeeded, st.receipt
    assert "mandate_revoked" in [e["type"] for e in st.receipt.effects], st.receipt.effects
    assert client.get_mandates(owner) == []
    st = settle(client, grantee, MandatePay(owner.address, mandate_id, payee.address, "CNY", 1000,
                                            rng.getrandbits(128)))
    assert not st.succeeded and st.receipt.code == "unknown_mandate", st.receipt
    assert balances(client, *watched) == after


# -- the identity layer ------------------------------------------------------------

@pytest.fixture(scope="module")
def identity(testnet, client):
    """The testnet's identity service (its keys, from the ledger), the
    regulator's node that evaluates tags, and a member institution's key."""
    service = client.identity_service()
    assert service is not None, "the testnet runs no identity service (hutong_getParameters has no identity)"
    assert testnet.regulator_url, f"the testnet printed no regulator endpoint: {testnet.endpoints}"
    member = client.parameters().raw["members"][0]
    return service, testnet.regulator_url, member, testnet.key(f"{member['name']}.institution.key")


def new_identity(rng):
    """A random mainland resident id number nobody else in this run uses."""
    return f"CN_RIC:{rng.randrange(10**17, 10**18)}"


def test_open_account_with_an_identity_tag(client, identity, rng):
    _, regulator_url, member, institution = identity
    person = new_identity(rng)
    print(f"identity {person}")
    [tag] = client.identity_tags(institution, [person], regulator_url)
    assert len(tag) == 64
    # One person, one tag: written another way, asked again (another blind).
    [again] = client.identity_tags(institution, [person.lower().replace(":", ": ")], regulator_url)
    assert again == tag

    # A fresh identity is on nobody's list.
    listing = client.check_listing(hutong.listing_key(tag))
    assert not listing.listed and listing.listing_key == hutong.listing_key(tag).hex(), listing
    assert listing.listed_by is None and listing.height >= 1

    owner = SigningKey(bytes(rng.getrandbits(8) for _ in range(32)))
    salt = bytes(rng.getrandbits(8) for _ in range(32))  # an institution keeps it with its KYC record
    kind = client.open_account_with_identity(owner.public_key, 1, tag, salt)
    assert kind.identity_commitment == hutong.binding(tag, salt) and len(kind.identity_envelope) == 144
    st = settle(client, institution, kind)
    assert st.succeeded, st.receipt
    opened = [e for e in st.receipt.effects if e["type"] == "account_opened"]
    assert opened and opened[0]["account"] == str(owner.address), st.receipt.effects
    account = client.get_account(owner)
    assert account.kind == "customer" and account.tier == 1 and account.institution == member["account"]

    # Without an envelope, on a chain with the identity service: refused in the receipt.
    legacy = hutong.OpenAccount.from_identity(SigningKey(bytes(rng.getrandbits(8) for _ in range(32))).public_key,
                                              1, "CN_RIC", person.split(":")[1], salt)
    st = settle(client, institution, legacy)
    assert not st.succeeded and st.receipt.code == "identity_envelope", st.receipt
    assert st.receipt.failure is not None and st.receipt.failure.get("required") is True, st.receipt.failure


def test_list_check_and_delist_an_identity(client, identity, rng):
    _, regulator_url, member, institution = identity
    [tag] = client.identity_tags(institution, [new_identity(rng)], regulator_url)
    key = hutong.listing_key(tag)
    assert not client.check_listing(key).listed

    st = settle(client, institution, hutong.ListIdentity(key, "fraud", "case e2e"))
    assert st.succeeded, st.receipt
    listed = [e for e in st.receipt.effects if e["type"] == "identity_listed"]
    assert listed and listed[0]["listing_key"] == key.hex() and listed[0]["reason"] == "fraud", st.receipt.effects
    view = client.check_listing(key)
    assert view.listed and view.listed_by == member["account"] and view.reason == "fraud", view
    assert view.reference == "case e2e"

    st = settle(client, institution, hutong.ListIdentity(key, "fraud"))
    assert not st.succeeded and st.receipt.code == "already_listed", st.receipt

    st = settle(client, institution, hutong.DelistIdentity(key))
    assert st.succeeded, st.receipt
    assert "identity_delisted" in [e["type"] for e in st.receipt.effects], st.receipt.effects
    assert not client.check_listing(key).listed
    st = settle(client, institution, hutong.DelistIdentity(key))
    assert not st.succeeded and st.receipt.code == "not_listed", st.receipt


def test_a_memo_in_clear_fails_where_memos_are_sealed(testnet, client, identity, rng):
    sender, payee = customers(testnet, client, rng, 2)
    before = balances(client, (sender, "CNY"), (payee, "CNY"))
    st = client.wait(client.send(sender, Transfer(payee.address, "CNY", 1, rng.getrandbits(128)),
                                 memo="in clear", seal_memo=False), timeout=60)
    assert st.committed and not st.succeeded, st
    assert st.receipt.code == "memo_not_sealed", st.receipt
    assert balances(client, (sender, "CNY"), (payee, "CNY")) == before
