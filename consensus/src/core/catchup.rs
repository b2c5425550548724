//! Catching up: fetching missing ancestors one by one, syncing committed
//! blocks in bulk with the certificate that commits the last one, and
//! moving to the next epoch when the host says the current one ended.

use super::*;

impl<S: Signer, V: Verifier> Consensus<S, V> {
    /// Asks again for missing blocks, from `round`'s leader: the first
    /// answer may have been lost, or its first source lacked the block.
    pub(super) fn refetch(&mut self, round: Round) {
        let leader = self.round_robin(round);
        let mut missing: Vec<BlockId> = self.missing.keys().copied().collect();
        missing.sort();
        for block_id in missing.into_iter().take(16) {
            self.out.push(Action::Fetch {
                block_id,
                from: leader,
            });
        }
    }

    /// Whether `block`'s parent is known; if not, fetches it (once) from
    /// `from` and remembers that `block` waits for it.
    pub(super) fn has_ancestry(&mut self, block: &Block, from: ValidatorId) -> bool {
        let parent = block.parent_id();
        if parent == self.committed.id || self.blocks.contains_key(&parent) {
            return true;
        }
        if block.justify.round() <= self.committed.round {
            // Its parent is at or below our committed round but is not our
            // committed block: it is on a dead branch.
            return false;
        }
        if !self.missing.contains_key(&parent) && self.missing.len() >= MISSING_MAX {
            // Too much is missing at once: wait for later certificates
            // (and the timer's re-fetches) rather than remember more.
            return false;
        }
        let waiting = self.missing.entry(parent).or_default();
        if waiting.is_empty() {
            self.out.push(Action::Fetch {
                block_id: parent,
                from,
            });
        }
        if waiting.len() < 16 {
            waiting.push(block.id());
        }
        false
    }

    /// A leader about to propose on a certified block it never received
    /// (the votes reached it, the proposal did not) fetches that block: its
    /// host builds the payload on the parent's (the result claim must not
    /// go back from the parent's, and the parent's transactions are in
    /// flight), so without it the proposal would be refused.
    pub(super) fn fetch_proposal_parent(&mut self) {
        let parent = self.high_qc.data.block_id;
        if parent == self.committed.id
            || self.blocks.contains_key(&parent)
            || self.missing.contains_key(&parent)
            || self.missing.len() >= MISSING_MAX
        {
            return;
        }
        let Some(from) = self.high_qc.signers.iter().copied().find(|s| *s != self.me) else {
            return;
        };
        self.missing.insert(parent, Vec::new());
        self.out.push(Action::Fetch {
            block_id: parent,
            from,
        });
    }

    /// A fetched block: accept it if it was asked for and its certificate
    /// holds, then resume what waited for it.
    pub(super) fn on_fetched(&mut self, block: Block) -> Result<(), DropReason> {
        let id = block.id();
        let Some(waiting) = self.missing.remove(&id) else {
            return Err(DropReason::Stale);
        };
        if block.epoch != self.validators.epoch()
            || block.round <= block.justify.round()
            || Some(block.height.0) != block.justify.data.height.0.checked_add(1)
        {
            return Err(DropReason::Malformed);
        }
        self.verify_qc(&block.justify)?;
        if block.round > self.committed.round && !self.blocks.contains_key(&id) {
            if self.blocks.len() >= self.config.blocks_max {
                return Err(DropReason::TooManyBlocks);
            }
            self.out.push(Action::PersistBlock(block.clone()));
            self.links.insert(id, Link::of(&block));
            self.blocks.insert(id, block.clone());
        }
        let from = block.proposer;
        self.process_qc(block.justify.clone());
        let complete = self.has_ancestry(&block, from);
        if complete {
            for child in waiting {
                if let Some(child) = self.blocks.get(&child).cloned() {
                    if child.round == self.round && self.has_ancestry(&child, from) {
                        self.try_vote(&child);
                    }
                }
            }
        } else if let Some(again) = self.missing.get_mut(&block.parent_id()) {
            // Still missing further up: the children wait on, behind it.
            again.extend(waiting);
            again.truncate(16);
        }
        if let Some((target, proof)) = self.pending_commit.take() {
            self.commit(target, &proof);
        }
        Ok(())
    }

    /// The host ended the epoch at its committed block; start the next one
    /// from that block. Everything of the old epoch is dropped: its
    /// messages are refused from now on by the epoch checks.
    pub(super) fn on_new_epoch(&mut self, validators: ValidatorSet, me: Option<ValidatorId>) {
        if validators.epoch() <= self.validators.epoch() {
            return;
        }
        let epoch = validators.epoch();
        self.committed = Committed {
            id: validators.genesis(),
            round: Round(0),
            height: validators.genesis_height(),
        };
        self.high_qc = validators.genesis_qc();
        self.member = me.is_some_and(|id| validators.key(id).is_some());
        self.me = me.unwrap_or(ValidatorId(u16::MAX));
        self.validators = validators;
        self.epoch_ahead = self.epoch_ahead.max(epoch);
        self.persist_safety(SafetyData::new(epoch));
        self.round = Round(0);
        self.high_tc = None;
        self.blocks.clear();
        self.links.clear();
        self.votes.clear();
        self.first_votes.clear();
        self.first_proposals.clear();
        self.timeouts.clear();
        self.missing.clear();
        self.payload_valid.clear();
        self.payload_pending.clear();
        self.pending_commit = None;
        self.sync_requested = None;
        self.failed_rounds = 0;
        if self.started {
            self.enter_round(Round(1), true);
        }
    }

    /// Bulk catch-up: committed blocks with the certificate that commits
    /// the last one. Checked by hash chain from our committed block, so a
    /// peer can neither forge nor reorder them.
    pub(super) fn on_sync(
        &mut self,
        blocks: Vec<Block>,
        proof: QuorumCert,
    ) -> Result<(), DropReason> {
        if blocks.is_empty() || blocks.len() > SYNC_RESPONSE_BLOCKS_MAX {
            return Err(DropReason::Malformed);
        }
        if proof.data.epoch != self.validators.epoch() {
            return Err(DropReason::WrongEpoch);
        }
        let last = blocks.last().expect("checked non-empty");
        if proof.data.commits() != Some(last.id()) || proof.data.parent_round != last.round {
            return Err(DropReason::Malformed);
        }
        let mut parent = (
            self.committed.id,
            self.committed.round,
            self.committed.height,
        );
        for b in &blocks {
            if b.epoch != self.validators.epoch()
                || b.parent_id() != parent.0
                || b.round <= parent.1
                || Some(b.height.0) != parent.2 .0.checked_add(1)
            {
                return Err(DropReason::Malformed);
            }
            parent = (b.id(), b.round, b.height);
        }
        self.verify_qc(&proof)?;
        for b in &blocks {
            self.links.insert(b.id(), Link::of(b));
        }
        let pending = self.pending_commit.take();
        self.sync_requested = None;
        self.apply_commit(blocks, &proof);
        self.process_qc(proof);
        if let Some((target, proof)) = pending {
            if proof.data.parent_round > self.committed.round {
                self.commit(target, &proof);
            }
        }
        Ok(())
    }
}
