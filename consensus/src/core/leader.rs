//! Leader election: round-robin with leader reputation. A validator whose
//! latest turn as leader left no block on the chain, and which has not
//! been seen alive on the chain since (no block proposed, no certificate
//! signed), is skipped, at most f of them, so one crashed validator does
//! not cost a timeout every n rounds. The rule reads only the chain a
//! proposal extends, so every honest validator computes the same leader.

use std::collections::BTreeMap;

use super::{Consensus, Signer};
use crate::types::{Block, BlockId, Round, ValidatorId};
use crate::validators::Verifier;

/// What the reputation rule needs to know of a block on the chain.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub(super) parent: BlockId,
    pub(super) round: Round,
    pub(super) proposer: ValidatorId,
    /// The signers of its certificate of the parent: they were alive.
    pub(super) voters: Vec<ValidatorId>,
    /// The round of that certificate: when they voted.
    pub(super) voted_round: Round,
}

impl Link {
    pub(super) fn of(block: &Block) -> Link {
        Link {
            parent: block.parent_id(),
            round: block.round,
            proposer: block.proposer,
            voters: block.justify.signers.clone(),
            voted_round: block.justify.round(),
        }
    }
}

/// How many rounds of chain the leader-reputation rule reads: ten full
/// rotations, so one failure keeps a validator out for a while, and one
/// unlucky round does not outweigh its successes.
pub(super) fn reputation_window(validators: usize) -> u64 {
    10 * validators as u64
}

impl<S: Signer, V: Verifier> Consensus<S, V> {
    /// The round-robin leader of `round`, before reputation.
    pub fn round_robin(&self, round: Round) -> ValidatorId {
        ValidatorId((round.0 % self.validators.len() as u64) as u16)
    }

    /// The leader of `round` for a proposal that extends block `anchor` (of
    /// round `anchor_round`): round-robin, skipping validators that look
    /// crashed on the anchor's chain (leader reputation), so a crashed
    /// validator does not cost a timeout every n rounds.
    ///
    /// Within the window of rounds read, a validator looks crashed when
    /// its latest turn as round-robin leader left no block of its own on
    /// the chain, and it has not been seen alive since: no block of the
    /// chain proposed by it, no certificate on the chain carrying its vote,
    /// in a later round. Recency, not a balance of successes and failures:
    /// a validator that signed every certificate until it crashed would
    /// otherwise stay in the rotation, timing out each of its turns, until
    /// its signatures left the window. A restarted one comes back as soon
    /// as one of its votes lands in a certificate.
    ///
    /// The rule reads only the chain ending at the anchor, which every
    /// validator checking the proposal holds (it votes only with the full
    /// ancestry), so all honest validators agree on it. At most f
    /// validators are skipped, the most recently failed first (ties by
    /// id), so a quorum of candidates always remains.
    pub fn leader_after(&self, round: Round, anchor: BlockId, anchor_round: Round) -> ValidatorId {
        let n = self.validators.len() as u64;
        let low = anchor_round
            .0
            .saturating_sub(reputation_window(self.validators.len()));
        // Walk the anchor's chain down through the window, noting who
        // proposed each round's block and when each validator was last
        // seen alive. Where the chain is not known, nobody is blamed.
        let mut authored: BTreeMap<u64, ValidatorId> = BTreeMap::new();
        let mut alive: BTreeMap<u64, u64> = BTreeMap::new();
        let seen = |v: ValidatorId, at: u64, alive: &mut BTreeMap<u64, u64>| {
            let e = alive.entry(u64::from(v.0)).or_default();
            *e = (*e).max(at);
        };
        let mut floor = low;
        let mut id = anchor;
        loop {
            let Some(link) = self.links.get(&id) else {
                if id != self.validators.genesis() {
                    // The anchor itself is unknown: no blame at all.
                    floor = anchor_round.0;
                }
                break;
            };
            if link.round.0 <= low {
                break;
            }
            authored.insert(link.round.0, link.proposer);
            seen(link.proposer, link.round.0, &mut alive);
            for v in &link.voters {
                seen(*v, link.voted_round.0, &mut alive);
            }
            if !self.links.contains_key(&link.parent) && link.parent != self.validators.genesis() {
                floor = link.round.0;
                break;
            }
            id = link.parent;
        }
        // Each validator's latest failed turn in the rounds above the
        // floor, up to the anchor's. Both can be u64::MAX: a proposal's
        // certificate is not verified yet when its leader is checked, so
        // `floor + 1` must not be computed (it overflowed, and in release
        // wrapped into a 2^64-round loop).
        let mut failed: BTreeMap<u64, u64> = BTreeMap::new();
        for x in (floor..anchor_round.0).map(|r| r + 1) {
            let expected = x % n;
            if authored.get(&x).map(|p| u64::from(p.0)) != Some(expected) {
                failed.insert(expected, x);
            }
        }
        // Skip those not seen alive since their latest failure, at most f
        // of them, the most recent failures first.
        let mut ranked: Vec<(u64, u64)> = failed
            .into_iter()
            .filter(|(v, at)| alive.get(v).is_none_or(|a| a < at))
            .map(|(v, at)| (at, v))
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let excluded: Vec<u64> = ranked
            .into_iter()
            .take(self.validators.max_faulty())
            .map(|(_, v)| v)
            .collect();
        let mut candidate = round.0 % n;
        while excluded.contains(&candidate) {
            candidate = (candidate + 1) % n;
        }
        ValidatorId(candidate as u16)
    }

    /// The leader of `round` after this validator's highest certificate.
    pub(super) fn leader(&self, round: Round) -> ValidatorId {
        self.leader_after(round, self.high_qc.data.block_id, self.high_qc.round())
    }
}
