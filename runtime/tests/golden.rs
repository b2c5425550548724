//! Golden vectors: the encoding, the transaction id, the signature, the
//! address text and a state root. If one of these changes, the wire or the
//! ledger format changed: that needs a new format version, not a new vector.

use hutong_runtime::crypto::Hash;
use hutong_runtime::store::prepare_commit;
use hutong_runtime::tx::{Expiry, Payout};
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, MemStore, Nonce, StateKey, StateValue,
    Transaction, TransferId, TxKind,
};

fn sender() -> Keypair {
    Keypair::from_secret_bytes(&[1; 32])
}

fn transfer() -> Transaction {
    Transaction {
        chain_id: ChainId([0xab; 32]),
        sender: sender().public(),
        sequence: Nonce(7),
        expiry: Expiry::Height(Height(1_000)),
        kind: TxKind::Transfer {
            to: Address([0x22; 20]),
            asset: AssetCode::new("CNY").unwrap(),
            amount: Amount(123_456),
            transfer_id: TransferId(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
        },
        memo: b"invoice 42".to_vec(),
    }
}

#[test]
fn transfer_encoding_and_hash() {
    let tx = transfer();
    let signed = tx.clone().sign(&sender());
    let golden = [
        ("sender", sender().public().to_hex()),
        ("address", Address::of(&sender().public()).to_string()),
        ("encoding", hex::encode(borsh::to_vec(&tx).unwrap())),
        ("tx_hash", tx.hash().to_hex()),
        ("signature", signed.signature.to_hex()),
    ];
    let expected = GOLDEN_TRANSFER;
    for ((name, got), (ename, want)) in golden.iter().zip(expected.iter()) {
        assert_eq!(name, ename);
        assert_eq!(got, want, "golden {name} changed");
    }
    // The signed form decodes back to itself, and only to itself.
    let bytes = signed.encode();
    assert_eq!(
        hutong_runtime::SignedTransaction::decode(&bytes).unwrap(),
        signed
    );
}

#[test]
fn batch_and_state_root() {
    let tx = Transaction {
        kind: TxKind::BatchTransfer {
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
        ..transfer()
    };
    assert_eq!(tx.hash().to_hex(), GOLDEN_BATCH_HASH);

    let store = MemStore::new();
    let state = vec![
        (
            StateKey::Balance(Address([1; 20]), AssetCode::new("CNY").unwrap()),
            Some(StateValue::Balance(Amount(5))),
        ),
        (
            StateKey::Balance(Address([2; 20]), AssetCode::new("CNY").unwrap()),
            Some(StateValue::Balance(Amount(6))),
        ),
    ];
    let root = prepare_commit(&store, 0, state).unwrap().root;
    assert_eq!(root.to_hex(), GOLDEN_STATE_ROOT);
    assert_eq!(Hash::tagged(b"t", b"d").to_hex(), GOLDEN_TAGGED);
}

const GOLDEN_TRANSFER: [(&str, &str); 5] = [
    (
        "sender",
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
    ),
    (
        "address",
        "ht1lr9fsq5ahn46ndmyh2csya2x7rvzvs2g3rljkm",
    ),
    (
        "encoding",
        "abababababababababababababababababababababababababababababababab8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c070000000000000000e803000000000000002222222222222222222222222222222222222222434e59000000000040e20100000000000000000000000000100f0e0d0c0b0a0908070605040302010a000000696e766f696365203432",
    ),
    (
        "tx_hash",
        "4fb828f3136d32768fa1713aa1c4cf7cf1025375428437b3371da34c1d825775",
    ),
    (
        "signature",
        "0156efe2b734005038d5a8d26c27490dcf04d90d799c45e1e0b410b4444ba5b90811d786c2d95a9c9e7125f2f7b2717dd3bdae9d82fdf2c1619104a67f108108",
    ),
];
const GOLDEN_BATCH_HASH: &str = "ce0bcf5c95f1f43b706494e3f7f0a1eed935cfce49e9347bae08b60381b07e40";
const GOLDEN_STATE_ROOT: &str = "cff7f237354baade6a9500d3a25a10684344ea1f14a91f86434f22f16b153ba4";
/// SHA-256("t" || 0x00 || "d"), checked with an independent SHA-256.
const GOLDEN_TAGGED: &str = "0bf5b9fd8828040f3bd1e47565723c55a778a7f17f3431c02104627b9e64fa3c";
