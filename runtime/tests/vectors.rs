//! The published golden vectors (`sdk/vectors/transactions.json`): every
//! case's transaction is built from the file's own fields (the JSON form
//! that `sdk/SPEC.md` describes), then its encoding, transaction id,
//! signatures, signed encoding and sender address must be the file's. A
//! wallet in another language checks itself against the same file, so the
//! specification and this code cannot drift apart.
//!
//! `HUTONG_VECTORS_OUT=$PWD/sdk/vectors/transactions.json cargo test -p
//! hutong-runtime --test vectors` rewrites the file from the cases below:
//! only for a new case. A changed output of an old case is a changed
//! wire format, which needs a new domain tag, not a new vector.

use hutong_runtime::crypto::PublicKey;
use hutong_runtime::exchange::{Quote, Rate};
use hutong_runtime::hold::AccountState;
use hutong_runtime::mandate::MandateScope;
use hutong_runtime::tx::{Expiry, FreezeReason, LinkedOp, Payout};
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Hash, Height, Keypair, Nonce, Signature,
    SignedTransaction, Tier, TimestampMs, Transaction, TransferId, TxKind,
};
use serde_json::{json, Value};

const FILE: &str = include_str!("../../sdk/vectors/transactions.json");

fn key(byte: u8) -> Keypair {
    Keypair::from_secret_bytes(&[byte; 32])
}

/// The cases: (name, what it shows, sender's secret byte, co-signer's
/// secret byte, transaction).
fn cases() -> Vec<(&'static str, &'static str, u8, Option<u8>, Transaction)> {
    let chain_id = ChainId([0xab; 32]);
    let cny = AssetCode::new("CNY").unwrap();
    let base = |sender: u8, kind: TxKind| Transaction {
        chain_id,
        sender: key(sender).public(),
        sequence: Nonce(7),
        expiry: Expiry::Height(Height(1_000)),
        kind,
        cosigner: None,
        memo: Vec::new(),
    };
    vec![
        (
            "transfer",
            "a customer pays another, with a memo, valid up to height 1000",
            1,
            None,
            Transaction {
                memo: b"invoice 42".to_vec(),
                ..base(
                    1,
                    TxKind::Transfer {
                        to: Address([0x22; 20]),
                        asset: cny,
                        amount: Amount(123_456),
                        transfer_id: TransferId(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
                    },
                )
            },
        ),
        (
            "transfer_step_up",
            "a large transfer co-signed by the sender's institution (step-up), valid until a block time",
            3,
            Some(9),
            Transaction {
                sequence: Nonce(0),
                expiry: Expiry::Time(TimestampMs(1_767_225_600_000)),
                cosigner: Some(key(9).public()),
                ..base(
                    3,
                    TxKind::Transfer {
                        to: Address::of(&key(4).public()),
                        asset: cny,
                        amount: Amount(500_000_000),
                        transfer_id: TransferId(u128::MAX),
                    },
                )
            },
        ),
        (
            "batch_transfer",
            "an institution pays two recipients, all or nothing",
            9,
            None,
            base(
                9,
                TxKind::BatchTransfer {
                    asset: AssetCode::new("HKD").unwrap(),
                    payouts: vec![
                        Payout {
                            to: Address([1; 20]),
                            amount: Amount(1),
                        },
                        Payout {
                            to: Address([2; 20]),
                            amount: Amount(u128::MAX),
                        },
                    ],
                    transfer_id: TransferId(9),
                },
            ),
        ),
        (
            "open_account",
            "an institution opens a tier-2 account for a customer's key",
            9,
            None,
            base(
                9,
                TxKind::OpenAccount {
                    owner: key(4).public(),
                    tier: Tier(2),
                    identity_commitment: Hash([0x5a; 32]),
                    identity_envelope: vec![0x6b; hutong_runtime::tx::IDENTITY_ENVELOPE_BYTES],
                },
            ),
        ),
        (
            "freeze",
            "a regulator freezes an account on a legal order",
            11,
            None,
            base(
                11,
                TxKind::Freeze {
                    account: Address::of(&key(4).public()),
                    reason: FreezeReason::LegalOrder,
                },
            ),
        ),
        (
            "anchor_audit_log",
            "a regulator anchors its audit-query log: 1,234 entries and the last one's hash",
            11,
            None,
            base(
                11,
                TxKind::AnchorAuditLog {
                    entries: 1_234,
                    head: Hash([0xc3; 32]),
                },
            ),
        ),
        (
            "hold",
            "an EV's wallet reserves 200.00 CNY for a charger until a block time",
            1,
            None,
            base(
                1,
                TxKind::Hold {
                    to: Address([0x33; 20]),
                    asset: cny,
                    amount: Amount(20_000),
                    hold_id: TransferId(0xfeed),
                    expires_at: TimestampMs(1_767_229_200_000),
                },
            ),
        ),
        (
            "capture",
            "the charger captures 73.50 CNY of the hold; the rest is released",
            4,
            None,
            base(
                4,
                TxKind::Capture {
                    payer: Address::of(&key(1).public()),
                    hold_id: TransferId(0xfeed),
                    amount: Amount(7_350),
                },
            ),
        ),
        (
            "void",
            "the payee releases a hold without moving anything",
            4,
            None,
            base(
                4,
                TxKind::Void {
                    payer: Address::of(&key(1).public()),
                    hold_id: TransferId(0xfeed),
                },
            ),
        ),
        (
            "freeze_amount",
            "a regulator freezes 5,000.00 CNY of an account on a court order, until a block time",
            11,
            None,
            base(
                11,
                TxKind::FreezeAmount {
                    account: Address::of(&key(4).public()),
                    asset: cny,
                    amount: Amount(500_000),
                    freeze_id: 77,
                    reason: FreezeReason::LegalOrder,
                    reference: b"(2026) Hu 0101 Zhi 123".to_vec(),
                    expires_at: Some(TimestampMs(1_798_761_600_000)),
                },
            ),
        ),
        (
            "release_freeze",
            "the regulator lifts its amount freeze",
            11,
            None,
            base(
                11,
                TxKind::ReleaseFreeze {
                    account: Address::of(&key(4).public()),
                    freeze_id: 77,
                },
            ),
        ),
        (
            "set_account_state",
            "an institution makes an account receive-only, with no expiry",
            9,
            None,
            base(
                9,
                TxKind::SetAccountState {
                    account: Address::of(&key(4).public()),
                    state: AccountState::ReceiveOnly,
                    reason: FreezeReason::Fraud,
                    reference: Vec::new(),
                    expires_at: None,
                },
            ),
        ),
        (
            "register_device",
            "a customer lets its car's key hold up to 300.00 CNY a session, 500.00 a day, at one charger",
            1,
            None,
            base(
                1,
                TxKind::RegisterDevice {
                    key: key(5).public(),
                    asset: cny,
                    max_per_hold: Amount(30_000),
                    daily_max: Amount(50_000),
                    payees: vec![Address([0x33; 20])],
                },
            ),
        ),
        (
            "revoke_device",
            "the customer revokes the car's key",
            1,
            None,
            base(
                1,
                TxKind::RevokeDevice {
                    key: key(5).public(),
                },
            ),
        ),
        (
            "linked",
            "four legs, all or none: a payment, a hold, a capture and a void",
            1,
            None,
            base(
                1,
                TxKind::Linked {
                    legs: vec![
                        LinkedOp::Transfer {
                            to: Address([0x22; 20]),
                            asset: cny,
                            amount: Amount(97_000),
                            transfer_id: TransferId(0xa1),
                        },
                        LinkedOp::Hold {
                            to: Address([0x33; 20]),
                            asset: cny,
                            amount: Amount(3_000),
                            hold_id: TransferId(0xa2),
                            expires_at: TimestampMs(1_767_229_200_000),
                        },
                        LinkedOp::Capture {
                            payer: Address([0x44; 20]),
                            hold_id: TransferId(0xb1),
                            amount: Amount(500),
                        },
                        LinkedOp::Void {
                            payer: Address([0x44; 20]),
                            hold_id: TransferId(0xb2),
                        },
                    ],
                },
            ),
        ),
        (
            "pvp",
            "a customer pays 1,000.00 CNY and the payee receives HKD at the FX provider's quote \
             (signed by secret key 12 over the quote's signing hash), at least 1,090.00 HKD",
            1,
            None,
            base(1, {
                let quote = Quote {
                    provider: Address::of(&key(12).public()),
                    quote_id: 4_242,
                    sell: cny,
                    buy: AssetCode::new("HKD").unwrap(),
                    rate: Rate {
                        num: 10_912,
                        den: 10_000,
                    },
                    min_sell: Amount(10_000),
                    max_sell: Amount(1_000_000),
                    expires_at: TimestampMs(1_767_229_200_000),
                    payer: Some(Address::of(&key(1).public())),
                };
                TxKind::Pvp {
                    quote_signature: quote.sign(chain_id, &key(12)),
                    quote,
                    pay: Amount(100_000),
                    min_receive: Amount(109_000),
                    to: Address([0x22; 20]),
                    transfer_id: TransferId(0xc1),
                }
            }),
        ),
        (
            "grant_mandate",
            "a customer lets a bill-paying app pay up to 500.00 CNY a payment, 2,000.00 a 30-day period, to two payees",
            1,
            None,
            base(
                1,
                TxKind::GrantMandate {
                    mandate_id: 3,
                    grantee: Address([0x55; 20]),
                    scope: MandateScope {
                        pay: true,
                        read: true,
                    },
                    asset: cny,
                    payees: vec![Address([0x66; 20]), Address([0x77; 20])],
                    per_payment: Amount(50_000),
                    per_period: Amount(200_000),
                    period_seconds: 30 * 86_400,
                    start: TimestampMs(1_767_196_800_000),
                    end: TimestampMs(1_798_732_800_000),
                },
            ),
        ),
        (
            "revoke_mandate",
            "the customer revokes the mandate",
            1,
            None,
            base(1, TxKind::RevokeMandate { mandate_id: 3 }),
        ),
        (
            "mandate_pay",
            "the app (secret key 6) pays a utility 321.00 CNY from the customer's account under mandate 3",
            6,
            None,
            base(
                6,
                TxKind::MandatePay {
                    payer: Address::of(&key(1).public()),
                    mandate_id: 3,
                    to: Address([0x66; 20]),
                    asset: cny,
                    amount: Amount(32_100),
                    transfer_id: TransferId(0xd1),
                },
            ),
        ),
        (
            "list_identity",
            "an institution lists an identity on the shared blacklist, by its listing key, under a court order",
            9,
            None,
            base(
                9,
                TxKind::ListIdentity {
                    listing_key: Hash([0x4c; 32]),
                    reason: FreezeReason::LegalOrder,
                    reference: b"(2026) Hu 0101 Zhi 456".to_vec(),
                },
            ),
        ),
        (
            "delist_identity",
            "the institution that listed an identity removes it from the blacklist",
            9,
            None,
            base(
                9,
                TxKind::DelistIdentity {
                    listing_key: Hash([0x4c; 32]),
                },
            ),
        ),
        (
            "set_memo_key",
            "an institution publishes the X25519 key its customers' memos are sealed to",
            9,
            None,
            base(9, TxKind::SetMemoKey { key: [0x3e; 32] }),
        ),
    ]
}

fn hex_of<T: borsh::BorshSerialize>(value: &T) -> String {
    hex::encode(borsh::to_vec(value).unwrap())
}

/// The JSON form of a transaction (`sdk/SPEC.md`, "Vectors").
fn to_json(tx: &Transaction) -> Value {
    let expiry = match tx.expiry {
        Expiry::Height(h) => json!({ "height": h.0 }),
        Expiry::Time(t) => json!({ "time_ms": t.0 }),
    };
    let kind = match &tx.kind {
        TxKind::Transfer {
            to,
            asset,
            amount,
            transfer_id,
        } => json!({ "transfer": {
            "to": to.to_string(),
            "asset": asset.as_str(),
            "amount": amount.0.to_string(),
            "transfer_id": transfer_id.to_string(),
        }}),
        TxKind::BatchTransfer {
            asset,
            payouts,
            transfer_id,
        } => json!({ "batch_transfer": {
            "asset": asset.as_str(),
            "payouts": payouts.iter().map(|p| json!({
                "to": p.to.to_string(),
                "amount": p.amount.0.to_string(),
            })).collect::<Vec<_>>(),
            "transfer_id": transfer_id.to_string(),
        }}),
        TxKind::OpenAccount {
            owner,
            tier,
            identity_commitment,
            identity_envelope,
        } => json!({ "open_account": {
            "owner": owner.to_hex(),
            "tier": tier.0,
            "identity_commitment": identity_commitment.to_hex(),
            "identity_envelope": hex::encode(identity_envelope),
        }}),
        TxKind::Freeze { account, reason } => json!({ "freeze": {
            "account": account.to_string(),
            "reason": reason.name(),
        }}),
        TxKind::AnchorAuditLog { entries, head } => json!({ "anchor_audit_log": {
            "entries": entries,
            "head": head.to_hex(),
        }}),
        TxKind::Hold {
            to,
            asset,
            amount,
            hold_id,
            expires_at,
        } => json!({ "hold": {
            "to": to.to_string(),
            "asset": asset.as_str(),
            "amount": amount.0.to_string(),
            "hold_id": hold_id.to_string(),
            "expires_at_ms": expires_at.0,
        }}),
        TxKind::Capture {
            payer,
            hold_id,
            amount,
        } => json!({ "capture": {
            "payer": payer.to_string(),
            "hold_id": hold_id.to_string(),
            "amount": amount.0.to_string(),
        }}),
        TxKind::Void { payer, hold_id } => json!({ "void": {
            "payer": payer.to_string(),
            "hold_id": hold_id.to_string(),
        }}),
        TxKind::FreezeAmount {
            account,
            asset,
            amount,
            freeze_id,
            reason,
            reference,
            expires_at,
        } => json!({ "freeze_amount": {
            "account": account.to_string(),
            "asset": asset.as_str(),
            "amount": amount.0.to_string(),
            "freeze_id": freeze_id,
            "reason": reason.name(),
            "reference": hex::encode(reference),
            "expires_at_ms": expires_at.map(|t| t.0),
        }}),
        TxKind::ReleaseFreeze { account, freeze_id } => json!({ "release_freeze": {
            "account": account.to_string(),
            "freeze_id": freeze_id,
        }}),
        TxKind::SetAccountState {
            account,
            state,
            reason,
            reference,
            expires_at,
        } => json!({ "set_account_state": {
            "account": account.to_string(),
            "state": state.name(),
            "reason": reason.name(),
            "reference": hex::encode(reference),
            "expires_at_ms": expires_at.map(|t| t.0),
        }}),
        TxKind::RegisterDevice {
            key,
            asset,
            max_per_hold,
            daily_max,
            payees,
        } => json!({ "register_device": {
            "key": key.to_hex(),
            "asset": asset.as_str(),
            "max_per_hold": max_per_hold.0.to_string(),
            "daily_max": daily_max.0.to_string(),
            "payees": payees.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        }}),
        TxKind::RevokeDevice { key } => json!({ "revoke_device": { "key": key.to_hex() }}),
        TxKind::Linked { legs } => json!({ "linked": {
            "legs": legs.iter().map(|op| {
                let (name, body) = kind_of_json(&to_json(&Transaction {
                    kind: op.kind(),
                    ..tx.clone()
                }));
                json!({ name: body })
            }).collect::<Vec<_>>(),
        }}),
        TxKind::Pvp {
            quote,
            quote_signature,
            pay,
            min_receive,
            to,
            transfer_id,
        } => json!({ "pvp": {
            "quote": {
                "provider": quote.provider.to_string(),
                "quote_id": quote.quote_id,
                "sell": quote.sell.as_str(),
                "buy": quote.buy.as_str(),
                "rate_num": quote.rate.num,
                "rate_den": quote.rate.den,
                "min_sell": quote.min_sell.0.to_string(),
                "max_sell": quote.max_sell.0.to_string(),
                "expires_at_ms": quote.expires_at.0,
                "payer": quote.payer.map(|p| p.to_string()),
            },
            "quote_signature": quote_signature.to_hex(),
            "pay": pay.0.to_string(),
            "min_receive": min_receive.0.to_string(),
            "to": to.to_string(),
            "transfer_id": transfer_id.to_string(),
        }}),
        TxKind::GrantMandate {
            mandate_id,
            grantee,
            scope,
            asset,
            payees,
            per_payment,
            per_period,
            period_seconds,
            start,
            end,
        } => json!({ "grant_mandate": {
            "mandate_id": mandate_id,
            "grantee": grantee.to_string(),
            "scope": { "pay": scope.pay, "read": scope.read },
            "asset": asset.as_str(),
            "payees": payees.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "per_payment": per_payment.0.to_string(),
            "per_period": per_period.0.to_string(),
            "period_seconds": period_seconds,
            "start_ms": start.0,
            "end_ms": end.0,
        }}),
        TxKind::RevokeMandate { mandate_id } => {
            json!({ "revoke_mandate": { "mandate_id": mandate_id }})
        }
        TxKind::MandatePay {
            payer,
            mandate_id,
            to,
            asset,
            amount,
            transfer_id,
        } => json!({ "mandate_pay": {
            "payer": payer.to_string(),
            "mandate_id": mandate_id,
            "to": to.to_string(),
            "asset": asset.as_str(),
            "amount": amount.0.to_string(),
            "transfer_id": transfer_id.to_string(),
        }}),
        TxKind::ListIdentity {
            listing_key,
            reason,
            reference,
        } => json!({ "list_identity": {
            "listing_key": listing_key.to_hex(),
            "reason": reason.name(),
            "reference": hex::encode(reference),
        }}),
        TxKind::DelistIdentity { listing_key } => json!({ "delist_identity": {
            "listing_key": listing_key.to_hex(),
        }}),
        TxKind::SetMemoKey { key } => json!({ "set_memo_key": {
            "key": hex::encode(key),
        }}),
        other => panic!("no JSON form for {} in the vectors", other.name()),
    };
    json!({
        "chain_id": tx.chain_id.to_string(),
        "sender": tx.sender.to_hex(),
        "sequence": tx.sequence.0,
        "expiry": expiry,
        "kind": kind,
        "cosigner": tx.cosigner.map(|k| k.to_hex()),
        "memo": hex::encode(&tx.memo),
    })
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {v}"))
}

fn u64_of(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

fn u128_of(v: &Value, field: &str) -> u128 {
    str_of(v, field).parse().unwrap()
}

fn address_of(v: &Value, field: &str) -> Address {
    Address::parse(str_of(v, field)).unwrap()
}

fn asset_of(v: &Value) -> AssetCode {
    AssetCode::new(str_of(v, "asset")).unwrap()
}

fn transfer_id_of(v: &Value) -> TransferId {
    TransferId(u128::from_str_radix(str_of(v, "transfer_id"), 16).unwrap())
}

fn hold_id_of(v: &Value) -> TransferId {
    TransferId(u128::from_str_radix(str_of(v, "hold_id"), 16).unwrap())
}

fn reason_of(v: &Value) -> FreezeReason {
    match str_of(v, "reason") {
        "fraud" => FreezeReason::Fraud,
        "legal-order" => FreezeReason::LegalOrder,
        "regulatory" => FreezeReason::Regulatory,
        "customer-request" => FreezeReason::CustomerRequest,
        "other" => FreezeReason::Other,
        r => panic!("unknown reason {r}"),
    }
}

fn array32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// A transaction from its JSON form: what a wallet in another language
/// builds from the same fields.
fn from_json(v: &Value) -> Transaction {
    let expiry = &v["expiry"];
    let expiry = if expiry.get("height").is_some() {
        Expiry::Height(Height(u64_of(expiry, "height")))
    } else {
        Expiry::Time(TimestampMs(u64_of(expiry, "time_ms")))
    };
    let (name, body) = kind_of_json(v);
    let kind = kind_from_json(&name, &body);
    Transaction {
        chain_id: ChainId(array32(str_of(v, "chain_id"))),
        sender: PublicKey::from_hex(str_of(v, "sender")).unwrap(),
        sequence: Nonce(u64_of(v, "sequence")),
        expiry,
        kind,
        cosigner: v["cosigner"]
            .as_str()
            .map(|k| PublicKey::from_hex(k).unwrap()),
        memo: hex::decode(str_of(v, "memo")).unwrap(),
    }
}

/// A transaction JSON's kind: its name and body.
fn kind_of_json(v: &Value) -> (String, Value) {
    let (name, body) = v["kind"]
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("a kind");
    (name.clone(), body.clone())
}

fn addresses_of(v: &Value, field: &str) -> Vec<Address> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect()
}

fn kind_from_json(name: &str, body: &Value) -> TxKind {
    let body = body.clone();
    let body = &body;
    match name {
        "transfer" => TxKind::Transfer {
            to: address_of(body, "to"),
            asset: asset_of(body),
            amount: Amount(u128_of(body, "amount")),
            transfer_id: transfer_id_of(body),
        },
        "batch_transfer" => TxKind::BatchTransfer {
            asset: asset_of(body),
            payouts: body["payouts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| Payout {
                    to: address_of(p, "to"),
                    amount: Amount(u128_of(p, "amount")),
                })
                .collect(),
            transfer_id: transfer_id_of(body),
        },
        "open_account" => TxKind::OpenAccount {
            owner: PublicKey::from_hex(str_of(body, "owner")).unwrap(),
            tier: Tier(u8::try_from(u64_of(body, "tier")).unwrap()),
            identity_commitment: Hash::from_hex(str_of(body, "identity_commitment")).unwrap(),
            identity_envelope: hex::decode(str_of(body, "identity_envelope")).unwrap(),
        },
        "freeze" => TxKind::Freeze {
            account: address_of(body, "account"),
            reason: reason_of(body),
        },
        "hold" => TxKind::Hold {
            to: address_of(body, "to"),
            asset: asset_of(body),
            amount: Amount(u128_of(body, "amount")),
            hold_id: hold_id_of(body),
            expires_at: TimestampMs(u64_of(body, "expires_at_ms")),
        },
        "capture" => TxKind::Capture {
            payer: address_of(body, "payer"),
            hold_id: hold_id_of(body),
            amount: Amount(u128_of(body, "amount")),
        },
        "void" => TxKind::Void {
            payer: address_of(body, "payer"),
            hold_id: hold_id_of(body),
        },
        "freeze_amount" => TxKind::FreezeAmount {
            account: address_of(body, "account"),
            asset: asset_of(body),
            amount: Amount(u128_of(body, "amount")),
            freeze_id: u64_of(body, "freeze_id"),
            reason: reason_of(body),
            reference: hex::decode(str_of(body, "reference")).unwrap(),
            expires_at: body["expires_at_ms"].as_u64().map(TimestampMs),
        },
        "release_freeze" => TxKind::ReleaseFreeze {
            account: address_of(body, "account"),
            freeze_id: u64_of(body, "freeze_id"),
        },
        "set_account_state" => TxKind::SetAccountState {
            account: address_of(body, "account"),
            state: match str_of(body, "state") {
                "normal" => AccountState::Normal,
                "receive-only" => AccountState::ReceiveOnly,
                "send-only" => AccountState::SendOnly,
                s => panic!("unknown state {s}"),
            },
            reason: reason_of(body),
            reference: hex::decode(str_of(body, "reference")).unwrap(),
            expires_at: body["expires_at_ms"].as_u64().map(TimestampMs),
        },
        "anchor_audit_log" => TxKind::AnchorAuditLog {
            entries: u64_of(body, "entries"),
            head: Hash::from_hex(str_of(body, "head")).unwrap(),
        },
        "register_device" => TxKind::RegisterDevice {
            key: PublicKey::from_hex(str_of(body, "key")).unwrap(),
            asset: asset_of(body),
            max_per_hold: Amount(u128_of(body, "max_per_hold")),
            daily_max: Amount(u128_of(body, "daily_max")),
            payees: addresses_of(body, "payees"),
        },
        "revoke_device" => TxKind::RevokeDevice {
            key: PublicKey::from_hex(str_of(body, "key")).unwrap(),
        },
        "linked" => TxKind::Linked {
            legs: body["legs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|leg| {
                    let (name, leg_body) = leg.as_object().and_then(|o| o.iter().next()).unwrap();
                    let kind = kind_from_json(name, leg_body);
                    LinkedOp::of_kind(&kind)
                        .unwrap_or_else(|| panic!("{} is not a linked leg", kind.name()))
                })
                .collect(),
        },
        "pvp" => {
            let q = &body["quote"];
            TxKind::Pvp {
                quote: Quote {
                    provider: address_of(q, "provider"),
                    quote_id: u64_of(q, "quote_id"),
                    sell: AssetCode::new(str_of(q, "sell")).unwrap(),
                    buy: AssetCode::new(str_of(q, "buy")).unwrap(),
                    rate: Rate {
                        num: u64_of(q, "rate_num"),
                        den: u64_of(q, "rate_den"),
                    },
                    min_sell: Amount(u128_of(q, "min_sell")),
                    max_sell: Amount(u128_of(q, "max_sell")),
                    expires_at: TimestampMs(u64_of(q, "expires_at_ms")),
                    payer: q["payer"].as_str().map(|p| p.parse().unwrap()),
                },
                quote_signature: Signature::from_hex(str_of(body, "quote_signature")).unwrap(),
                pay: Amount(u128_of(body, "pay")),
                min_receive: Amount(u128_of(body, "min_receive")),
                to: address_of(body, "to"),
                transfer_id: transfer_id_of(body),
            }
        }
        "grant_mandate" => TxKind::GrantMandate {
            mandate_id: u64_of(body, "mandate_id"),
            grantee: address_of(body, "grantee"),
            scope: MandateScope {
                pay: body["scope"]["pay"].as_bool().unwrap(),
                read: body["scope"]["read"].as_bool().unwrap(),
            },
            asset: asset_of(body),
            payees: addresses_of(body, "payees"),
            per_payment: Amount(u128_of(body, "per_payment")),
            per_period: Amount(u128_of(body, "per_period")),
            period_seconds: u32::try_from(u64_of(body, "period_seconds")).unwrap(),
            start: TimestampMs(u64_of(body, "start_ms")),
            end: TimestampMs(u64_of(body, "end_ms")),
        },
        "revoke_mandate" => TxKind::RevokeMandate {
            mandate_id: u64_of(body, "mandate_id"),
        },
        "mandate_pay" => TxKind::MandatePay {
            payer: address_of(body, "payer"),
            mandate_id: u64_of(body, "mandate_id"),
            to: address_of(body, "to"),
            asset: asset_of(body),
            amount: Amount(u128_of(body, "amount")),
            transfer_id: transfer_id_of(body),
        },
        "list_identity" => TxKind::ListIdentity {
            listing_key: Hash::from_hex(str_of(body, "listing_key")).unwrap(),
            reason: reason_of(body),
            reference: hex::decode(str_of(body, "reference")).unwrap(),
        },
        "delist_identity" => TxKind::DelistIdentity {
            listing_key: Hash::from_hex(str_of(body, "listing_key")).unwrap(),
        },
        "set_memo_key" => TxKind::SetMemoKey {
            key: hex::decode(str_of(body, "key"))
                .unwrap()
                .try_into()
                .unwrap(),
        },
        k => panic!("unknown kind {k}"),
    }
}

/// A case's inputs and every output.
fn case_json(
    name: &str,
    about: &str,
    sender: &Keypair,
    cosigner: Option<&Keypair>,
    tx: &Transaction,
) -> Value {
    let signed = match cosigner {
        Some(c) => tx.clone().sign(sender).cosign(c),
        None => tx.clone().sign(sender),
    };
    let id = tx.hash();
    json!({
        "name": name,
        "about": about,
        "sender_secret_key": hex::encode(sender.secret_bytes()),
        "cosigner_secret_key": cosigner.map(|c| hex::encode(c.secret_bytes())),
        "tx": to_json(tx),
        "sender_address": tx.sender_address().to_string(),
        "encoding": hex_of(tx),
        "tx_id": id.to_hex(),
        "cosign_message": cosigner.map(|_| Transaction::cosign_message(&id).to_hex()),
        "signature": signed.signature.to_hex(),
        "cosignature": signed.cosignature.map(|s| s.to_hex()),
        "signed_encoding": hex::encode(signed.encode()),
    })
}

#[test]
fn the_published_vectors_hold() {
    let expected: Vec<Value> = cases()
        .iter()
        .map(|(name, about, s, c, tx)| {
            let cosigner = c.map(key);
            case_json(name, about, &key(*s), cosigner.as_ref(), tx)
        })
        .collect();
    if let Some(out) = std::env::var_os("HUTONG_VECTORS_OUT") {
        let doc = json!({
            "about": "Golden vectors of Hutong's transaction encoding and signing; see sdk/SPEC.md. \
                      Every hex string is lowercase; u128 values are decimal strings, transfer ids \
                      32 hex digits; u64 values are JSON numbers.",
            "cases": expected,
        });
        std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
        return;
    }
    let published: Value = serde_json::from_str(FILE).expect("the vectors file is JSON");
    let published = published["cases"].as_array().expect("cases");
    assert_eq!(
        published.len(),
        expected.len(),
        "a case was added or removed"
    );
    for case in published {
        let name = str_of(case, "name");
        // Built from the file's own fields, not from the cases above.
        let tx = from_json(&case["tx"]);
        assert_eq!(
            to_json(&tx),
            case["tx"],
            "{name}: the JSON form round-trips"
        );
        let sender = Keypair::from_secret_bytes(&array32(str_of(case, "sender_secret_key")));
        assert_eq!(
            sender.public(),
            tx.sender,
            "{name}: the secret key is the sender's"
        );
        let cosigner = case["cosigner_secret_key"]
            .as_str()
            .map(|k| Keypair::from_secret_bytes(&array32(k)));
        assert_eq!(
            cosigner.as_ref().map(Keypair::public),
            tx.cosigner,
            "{name}: the co-signer"
        );
        let got = case_json(name, str_of(case, "about"), &sender, cosigner.as_ref(), &tx);
        assert_eq!(
            &got, case,
            "{name}: an output differs from the published vector"
        );
        // The signed bytes decode to the same transaction, and verify.
        let bytes = hex::decode(str_of(case, "signed_encoding")).unwrap();
        let decoded = SignedTransaction::decode(&bytes).unwrap();
        assert_eq!(decoded.tx, tx);
        decoded.verify_signatures().unwrap();
    }
}

/// The identity commitment vectors (`sdk/vectors/identity.json`): each
/// case's raw document type and number, normalised, committed under its
/// salt; and inputs every implementation must refuse.
/// `HUTONG_VECTORS_OUT_IDENTITY=$PWD/sdk/vectors/identity.json cargo test
/// -p hutong-runtime --test vectors` rewrites the file.
#[test]
fn identity_commitments_match_the_published_vectors() {
    use hutong_runtime::identity::{commitment, normalise_number, normalise_type};
    let good: [(&str, &str, &str, u8); 5] = [
        (
            "mainland resident identity card, lower-case check letter and spaces",
            "cn_ric",
            "110105 19491231 002x",
            0x11,
        ),
        (
            "Hong Kong identity card with its check digit in brackets",
            "HK_ID",
            "A123456(7)",
            0x22,
        ),
        (
            "passport, issuing country in the type",
            " Passport_CN ",
            "e-1234 5678",
            0x33,
        ),
        (
            "the same document as the first, written the normal way",
            "CN_RIC",
            "11010519491231002X",
            0x11,
        ),
        (
            "the same document as the first under another salt",
            "CN_RIC",
            "11010519491231002X",
            0x44,
        ),
    ];
    let bad: [(&str, &str, &str); 4] = [
        ("a type with a space", "CN RIC", "123"),
        ("full-width digits", "CN_RIC", "１２３４"),
        ("a number with a dot", "CN_RIC", "12.34"),
        ("nothing left of the number", "CN_RIC", " - "),
    ];
    let built = json!({
        "about": "Identity commitments (sdk/SPEC.md, 7. Opening an account): \
                  tagged(\"hutong/identity/v1\", borsh(id_type) || borsh(id_number) || salt) \
                  of the normalised type and number.",
        "cases": good.iter().map(|(about, t, n, salt)| json!({
            "about": about,
            "id_type": t,
            "id_number": n,
            "salt": hex::encode([*salt; 32]),
            "normalised_type": normalise_type(t).unwrap(),
            "normalised_number": normalise_number(n).unwrap(),
            "commitment": commitment(t, n, &[*salt; 32]).unwrap().to_hex(),
        })).collect::<Vec<_>>(),
        "refused": bad.iter().map(|(about, t, n)| {
            assert!(commitment(t, n, &[0; 32]).is_err(), "{about}");
            json!({"about": about, "id_type": t, "id_number": n})
        }).collect::<Vec<_>>(),
    });
    if let Ok(out) = std::env::var("HUTONG_VECTORS_OUT_IDENTITY") {
        std::fs::write(&out, serde_json::to_string_pretty(&built).unwrap() + "\n").unwrap();
        println!("wrote {out}");
        return;
    }
    let published: Value =
        serde_json::from_str(include_str!("../../sdk/vectors/identity.json")).unwrap();
    // Read back from the file's own fields, as another implementation
    // would: every commitment and refusal reproduces.
    for case in published["cases"].as_array().unwrap() {
        let salt = array32(str_of(case, "salt"));
        let got = commitment(str_of(case, "id_type"), str_of(case, "id_number"), &salt)
            .unwrap()
            .to_hex();
        assert_eq!(got, str_of(case, "commitment"), "{case}");
    }
    for case in published["refused"].as_array().unwrap() {
        assert!(
            commitment(str_of(case, "id_type"), str_of(case, "id_number"), &[0; 32]).is_err(),
            "{case}"
        );
    }
    assert_eq!(published, built, "the identity vectors file is stale");
}
