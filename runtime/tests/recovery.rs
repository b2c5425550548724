//! Recovery statements: who must sign, what the new set may be, and how
//! the ledger puts it in force at the next block.

mod common;

use common::{ApplyUpdate, Chain};
use hutong_runtime::governance::{MemberRole, VotingRules};
use hutong_runtime::recovery::{
    check, NewValidator, RecoveryError, RecoveryPlan, RecoveryStatement,
};
use hutong_runtime::store::prepare_commit;
use hutong_runtime::{execute_block_with, Hash, Keypair, SignatureCheck};
use rand_core::SeedableRng;

/// A chain of four validator members, a few blocks in.
fn chain() -> Chain {
    let mut ch = Chain::governed(4, 41, 4, VotingRules::default());
    for _ in 0..3 {
        ch.execute(&[]);
    }
    ch
}

/// A plan keeping members 0 and 1 on their nodes and giving members 2 and
/// 3 new node keys (their machines were lost).
fn plan(ch: &Chain, replacements: &[Keypair]) -> RecoveryPlan {
    let c = ch.consortium();
    RecoveryPlan {
        chain_id: ch.chain_id,
        epoch: c.epoch,
        height: hutong_runtime::Height(ch.height),
        block_id: Hash([7; 32]),
        state_root: *ch.state_roots.last().unwrap(),
        validators: vec![
            NewValidator {
                member: c.members[0].name.clone(),
                node_key: c.members[0].node_key,
                p2p_address: None,
            },
            NewValidator {
                member: c.members[1].name.clone(),
                node_key: c.members[1].node_key,
                p2p_address: None,
            },
            NewValidator {
                member: c.members[2].name.clone(),
                node_key: replacements[0].public(),
                p2p_address: None,
            },
            NewValidator {
                member: c.members[3].name.clone(),
                node_key: replacements[1].public(),
                p2p_address: None,
            },
        ],
    }
}

fn signed(ch: &Chain, plan: RecoveryPlan, signers: &[usize]) -> RecoveryStatement {
    let mut s = RecoveryStatement {
        plan,
        signatures: Vec::new(),
    };
    for &i in signers {
        s.sign(&ch.members[i]);
    }
    s
}

fn keys(seed: u64, n: usize) -> Vec<Keypair> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    (0..n).map(|_| Keypair::generate(&mut rng)).collect()
}

#[test]
fn more_than_two_thirds_of_members_must_sign() {
    let ch = chain();
    let new = keys(1, 2);
    // 2 of 4 is not more than two thirds; 3 of 4 is.
    let two = signed(&ch, plan(&ch, &new), &[0, 1]);
    let err = check(&ch.store, ch.chain_id, &two).unwrap_err();
    assert_eq!(err.code(), "too_few_signers", "{err}");
    let three = signed(&ch, plan(&ch, &new), &[0, 2, 3]);
    let c = check(&ch.store, ch.chain_id, &three).unwrap();
    assert_eq!(c.epoch, ch.consortium().epoch + 1);
    assert_eq!(c.epoch_start.0, ch.height + 1);
    assert_eq!(c.active_validators.len(), 4);
    assert_eq!(c.active_validators[2], new[0].public());
    assert_eq!(c.set_change_pending, None);

    // A signer counted twice, a stranger, a signature on another plan.
    let mut twice = signed(&ch, plan(&ch, &new), &[0, 1]);
    let again = twice.signatures[0];
    twice.signatures.push(again);
    assert_eq!(
        check(&ch.store, ch.chain_id, &twice).unwrap_err().code(),
        "duplicate_signer"
    );
    let mut stranger = signed(&ch, plan(&ch, &new), &[0, 1, 2]);
    stranger.sign(&ch.customers[0]);
    assert_eq!(
        check(&ch.store, ch.chain_id, &stranger).unwrap_err().code(),
        "not_a_member"
    );
    let mut altered = signed(&ch, plan(&ch, &new), &[0, 1, 2]);
    altered.plan.state_root = Hash([1; 32]);
    assert_eq!(
        check(&ch.store, ch.chain_id, &altered).unwrap_err().code(),
        "bad_signature"
    );
    let mut other_chain = plan(&ch, &new);
    other_chain.chain_id = hutong_runtime::ChainId([9; 32]);
    let other_chain = signed(&ch, other_chain, &[0, 1, 2]);
    assert_eq!(
        check(&ch.store, ch.chain_id, &other_chain)
            .unwrap_err()
            .code(),
        "wrong_chain"
    );
}

#[test]
fn the_new_set_is_checked() {
    let ch = chain();
    let new = keys(2, 2);
    let refused = |edit: &dyn Fn(&mut RecoveryPlan)| -> RecoveryError {
        let mut p = plan(&ch, &new);
        edit(&mut p);
        check(&ch.store, ch.chain_id, &signed(&ch, p, &[0, 1, 2])).unwrap_err()
    };
    assert_eq!(refused(&|p| p.validators.clear()).code(), "no_validators");
    assert_eq!(
        refused(&|p| p.validators[3].member = "nobody".into()).code(),
        "unknown_member"
    );
    assert_eq!(
        refused(&|p| p.validators[3].member = p.validators[2].member.clone()).code(),
        "duplicate_member"
    );
    assert_eq!(
        refused(&|p| p.validators[3].node_key = p.validators[2].node_key).code(),
        "duplicate_node_key"
    );
    assert_eq!(refused(&|p| p.validators.swap(0, 1)).code(), "unordered");
    // Another party's key, a customer's account key, a small-order key.
    let regulator_node = ch.regulator_node.as_ref().unwrap().public();
    assert_eq!(
        refused(&|p| p.validators[3].node_key = regulator_node).code(),
        "key_in_use"
    );
    let customer = ch.customers[1].public();
    assert_eq!(
        refused(&|p| p.validators[3].node_key = customer).code(),
        "key_in_use"
    );
    assert_eq!(
        refused(&|p| p.validators[3].node_key = hutong_runtime::PublicKey([0; 32])).code(),
        "weak_key"
    );
    assert_eq!(refused(&|p| p.epoch += 1).code(), "wrong_epoch");
    assert_eq!(
        refused(&|p| p.validators[3].p2p_address = Some("not a multiaddr".into())).code(),
        "bad_address"
    );
}

#[test]
fn the_next_block_runs_in_the_new_epoch_and_unnamed_validators_observe() {
    let mut ch = chain();
    let new = keys(3, 1);
    let c = ch.consortium();
    // Members 0, 1 and 3 (with a new key) validate; member 2 is not named.
    let mut p = plan(&ch, &[new[0].clone(), new[0].clone()]);
    p.validators.remove(2);
    p.validators[2].p2p_address = Some("/ip4/10.0.0.9/tcp/26600".into());
    let statement = signed(&ch, p, &[0, 1, 3]);
    check(&ch.store, ch.chain_id, &statement).unwrap();

    let ctx = ch.context();
    let transfer = ch.transfer(
        &ch.customers[0],
        common::addr(&ch.customers[2]),
        common::cny(),
        100,
        1,
    );
    let outcome = execute_block_with(
        &ch.store,
        &ctx,
        std::slice::from_ref(&transfer),
        SignatureCheck::Verify,
        Some(&statement.plan),
    )
    .unwrap();
    assert!(
        matches!(
            outcome.receipts[0].outcome,
            hutong_runtime::Outcome::Success { .. }
        ),
        "{:?}",
        outcome.receipts[0]
    );
    let update = prepare_commit(&ch.store, ctx.height.0, outcome.changes).unwrap();
    ch.store.apply_update(update);
    ch.height += 1;
    let after = ch.consortium();
    assert_eq!(after.epoch, c.epoch + 1);
    assert_eq!(after.epoch_start.0, ch.height);
    assert_eq!(
        after.active_validators,
        vec![
            c.members[0].node_key,
            c.members[1].node_key,
            new[0].public()
        ]
    );
    assert_eq!(after.members[2].role, MemberRole::Observer);
    assert_eq!(after.members[3].node_key, new[0].public());
    assert_eq!(
        after.members[3].p2p_address.as_deref(),
        Some("/ip4/10.0.0.9/tcp/26600")
    );

    // The same plan at any other height is an execution error, not a
    // silent no-op.
    let ctx = ch.context();
    let err = execute_block_with(
        &ch.store,
        &ctx,
        &[],
        SignatureCheck::Verify,
        Some(&statement.plan),
    )
    .unwrap_err();
    assert!(
        matches!(err, hutong_runtime::ExecError::Recovery { .. }),
        "{err}"
    );
}

#[test]
fn statements_decode_within_bounds() {
    let ch = chain();
    let s = signed(&ch, plan(&ch, &keys(4, 2)), &[0, 1, 2]);
    let bytes = s.encode();
    assert_eq!(RecoveryStatement::decode(&bytes).unwrap(), s);
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(
            RecoveryStatement::decode(&bytes[..cut]).unwrap_err().code(),
            "malformed"
        );
    }
    let huge = vec![0u8; hutong_runtime::recovery::STATEMENT_BYTES_MAX + 1];
    assert_eq!(
        RecoveryStatement::decode(&huge).unwrap_err().code(),
        "too_large"
    );
}
