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
        cosigner: None,
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
            Some(StateValue::Balance(hutong_runtime::state::Holding::of(
                Amount(5),
            ))),
        ),
        (
            StateKey::Balance(Address([2; 20]), AssetCode::new("CNY").unwrap()),
            Some(StateValue::Balance(hutong_runtime::state::Holding::of(
                Amount(6),
            ))),
        ),
    ];
    let root = prepare_commit(&store, 0, state.clone()).unwrap().root;
    assert_eq!(root.to_hex(), GOLDEN_STATE_ROOT);
    assert_eq!(
        root.0,
        documented_root(&state),
        "the tree's documented hashing"
    );
    assert_eq!(Hash::tagged(b"t", b"d").to_hex(), GOLDEN_TAGGED);
}

/// The root of a tree of two keys by the rules `hutong_runtime::tree`
/// documents, computed here from SHA-256 alone: each leaf hashes its key
/// hash and its value's hash; the node where the two key hashes part has
/// both leaves as children; each node above it has one child.
fn documented_root(state: &[(StateKey, Option<StateValue>)]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let sha = |parts: &[&[u8]]| -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    };
    let nibble = |k: &[u8; 32], i: usize| {
        if i.is_multiple_of(2) {
            k[i / 2] >> 4
        } else {
            k[i / 2] & 15
        }
    };
    let mut leaves: Vec<([u8; 32], [u8; 32])> = state
        .iter()
        .map(|(k, v)| {
            let key = k.key_hash();
            let value = sha(&[b"hutong/tree/value/v1\0", &v.as_ref().unwrap().encode()]);
            (key, sha(&[b"hutong/tree/leaf/v1\0", &key, &value]))
        })
        .collect();
    leaves.sort();
    let [(a, leaf_a), (b, leaf_b)] = [leaves[0], leaves[1]];
    let part = (0..64).find(|&i| nibble(&a, i) != nibble(&b, i)).unwrap();
    let bitmap = |nibbles: &[u8]| {
        nibbles
            .iter()
            .fold(0u16, |m, n| m | (1 << (15 - n)))
            .to_be_bytes()
    };
    let (na, nb) = (nibble(&a, part), nibble(&b, part));
    let mut hash = sha(&[
        b"hutong/tree/node/v1\0",
        &bitmap(&[na, nb]),
        &leaf_a,
        &leaf_b,
    ]);
    for depth in (0..part).rev() {
        hash = sha(&[
            b"hutong/tree/node/v1\0",
            &bitmap(&[nibble(&a, depth)]),
            &hash,
        ]);
    }
    hash
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
        "abababababababababababababababababababababababababababababababab8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c070000000000000000e803000000000000002222222222222222222222222222222222222222434e59000000000040e20100000000000000000000000000100f0e0d0c0b0a090807060504030201000a000000696e766f696365203432",
    ),
    (
        "tx_hash",
        "5fc1018f1501e2e9c3c20933d1653d3a864465358c666e24abf53386fc3fc028",
    ),
    (
        "signature",
        "090f57f22ab9bde42086c6ee4adb31d1917d4fa3d85459adb3d4bdf95fbeb4c6b282d02c1539ac1783f4f287281e2c371207a030b6895f3b3d0082ecc49be807",
    ),
];
const GOLDEN_BATCH_HASH: &str = "5a987b7fd51023dd82665d8cc95bb5546f14f351878529f0d0646a79e39f9f5e";
// State format v4 (key hashes tagged `hutong/state-key/v4`): a balance
// entry holds the balance, the daily outflow, the held amount and the open
// holds; an account its restriction. The state tree of `hutong_runtime::tree`
// (hashes tagged `hutong/tree/*/v1`; it replaced the Jellyfish tree).
const GOLDEN_STATE_ROOT: &str = "4b49143e1093bd4a2789d55d4f24388a4d3c953e1a284570f144b7d2999ae6ec";
/// SHA-256("t" || 0x00 || "d"), checked with an independent SHA-256.
const GOLDEN_TAGGED: &str = "0bf5b9fd8828040f3bd1e47565723c55a778a7f17f3431c02104627b9e64fa3c";
