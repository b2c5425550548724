//! A generated genesis, transactions verified by the node's parallel batch
//! verifier and executed by the runtime, against the same block executed
//! with single signature checks: two "nodes" that must agree byte for byte.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;
use hutong_host::sigverify::verify_parallel;
use hutong_runtime::block::{prove_tx, tx_root, verify_tx_inclusion};
use hutong_runtime::store::{prepare_commit, prove, StateStore};
use hutong_runtime::tx::Expiry;
use hutong_runtime::{
    execute_block, Address, Amount, AssetCode, BlockContext, Height, Keypair, MemStore, Nonce,
    SignatureCheck, SignedTransaction, StateKey, StateValue, TimestampMs, Transaction, TransferId,
    TxKind,
};
use rand::{Rng, SeedableRng};

fn seed() -> u64 {
    hutong_testkit::seed_or_random()
}

#[test]
fn batch_verifying_node_and_single_checking_node_agree() {
    let seed = seed();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let opts = TemplateOptions {
        demo_accounts: 40,
        ..TemplateOptions::default()
    };
    let generated = generate(&opts, &mut rng);
    let genesis = Genesis::from_doc(&generated.doc).unwrap();
    let keys: BTreeMap<String, Keypair> = generated
        .keys
        .into_iter()
        .map(|k| (k.name, k.key))
        .collect();
    let customers: Vec<&Keypair> = (1..=40).map(|i| &keys[&format!("account-{i}")]).collect();

    let mut batch_node = MemStore::new();
    let mut single_node = MemStore::new();
    let root0 = genesis.apply(&mut batch_node).unwrap();
    assert_eq!(genesis.apply(&mut single_node).unwrap(), root0);

    let cny = AssetCode::new("CNY").unwrap();
    let mut next = vec![0u64; customers.len()];
    let mut roots = vec![root0];
    for height in 1..=4u64 {
        let mut txs: Vec<SignedTransaction> = Vec::new();
        for n in 0..300 {
            let from = rng.gen_range(0..customers.len());
            let to = (from + rng.gen_range(1..customers.len())) % customers.len();
            let tx = Transaction {
                chain_id: genesis.chain_id(),
                sender: customers[from].public(),
                sequence: Nonce(next[from]),
                expiry: Expiry::Height(Height(height + 5)),
                kind: TxKind::Transfer {
                    to: Address::of(&customers[to].public()),
                    asset: cny,
                    amount: Amount(rng.gen_range(1..400_000)),
                    transfer_id: TransferId(u128::from(height * 1_000 + n)),
                },
                cosigner: None,
                memo: Vec::new(),
            };
            let mut stx = tx.sign(customers[from]);
            if rng.gen_ratio(1, 25) {
                // A corrupted signature: both nodes must reject it, and it
                // must not consume the sequence number.
                stx.signature.0[rng.gen_range(0..64)] ^= 1 << rng.gen_range(0..8);
            } else {
                next[from] += 1;
            }
            txs.push(stx);
        }
        let ctx = BlockContext {
            chain_id: genesis.chain_id(),
            height: Height(height),
            timestamp: TimestampMs(genesis.genesis_time.0 + height * 1_000),
            certified: Height(height - 1),
        };
        let pre = verify_parallel(&txs, NonZeroUsize::new(2).unwrap());
        let a = execute_block(&batch_node, &ctx, &txs, SignatureCheck::Preverified(&pre)).unwrap();
        let b = execute_block(&single_node, &ctx, &txs, SignatureCheck::Verify).unwrap();
        assert_eq!(
            a, b,
            "seed {seed}: the two nodes disagree at height {height}"
        );
        let bad = a
            .receipts
            .iter()
            .filter(|r| r.failure().is_some_and(|f| f.code() == "bad_signature"))
            .count();
        assert!(
            bad > 0 || height > 1,
            "seed {seed}: no corrupted signature was generated"
        );

        let ua = prepare_commit(&batch_node, height, a.changes.clone()).unwrap();
        let ub = prepare_commit(&single_node, height, b.changes).unwrap();
        assert_eq!(
            ua.root, ub.root,
            "seed {seed}: state roots differ at height {height}"
        );
        roots.push(ua.root);
        batch_node.apply(ua).unwrap();
        single_node.apply(ub).unwrap();

        // A third party checks a transaction and a balance with nothing but
        // the roots a certified header would carry.
        let troot = tx_root(&txs);
        let i = rng.gen_range(0..txs.len());
        verify_tx_inclusion(
            &txs[i],
            &prove_tx(&txs, i).unwrap(),
            &troot,
            txs.len() as u64,
        )
        .unwrap();
        let who = Address::of(&customers[rng.gen_range(0..customers.len())].public());
        let proof = prove(&batch_node, StateKey::Balance(who, cny), height).unwrap();
        proof.verify(&roots[height as usize]).unwrap();
        assert!(matches!(proof.value, Some(StateValue::Balance(_))));
    }
    assert_eq!(batch_node.entries(), single_node.entries());
}
