//! Certificates and commits: aggregating votes into a quorum certificate
//! (Block-tree `process_vote`), processing a QC (Block-tree `process_qc`,
//! Main `process_certificates`), and the two-chain commit rule that turns
//! a certified run of consecutive rounds into committed blocks.

use super::*;

impl<S: Signer, V: Verifier> Consensus<S, V> {
    /// Aggregate (Block-tree `process_vote`): a vote checked here is
    /// counted with the others on the same [`VoteData`]; the `2f + 1`-th
    /// forms the QC, processed at once. Two different votes of one voter
    /// in a round are equivocation evidence.
    pub(super) fn on_vote(&mut self, vote: Vote) -> Result<(), DropReason> {
        if vote.data.epoch != self.validators.epoch() {
            return Err(DropReason::WrongEpoch);
        }
        self.check_round(vote.data.round)?;
        if vote.data.round < Round(self.round.0.saturating_sub(2)) {
            return Err(DropReason::Stale);
        }
        let key = self
            .validators
            .key(vote.voter)
            .ok_or(DropReason::NotMember)?;
        let message = vote.data.signing_message();
        if !self.verifier.verify(key, &message, &vote.signature) {
            return Err(DropReason::BadSignature);
        }
        match self.first_votes.get(&(vote.data.round, vote.voter)) {
            Some(first) if first.data != vote.data => {
                self.out.push(Action::Equivocation(Equivocation::Votes(
                    Box::new(first.clone()),
                    Box::new(vote),
                )));
                return Err(DropReason::Equivocation);
            }
            Some(_) => {}
            None => {
                self.first_votes
                    .insert((vote.data.round, vote.voter), vote.clone());
            }
        }
        let quorum = self.validators.quorum();
        let entry = self
            .votes
            .entry(vote.data.round)
            .or_default()
            .entry(message)
            .or_insert_with(|| (vote.data, BTreeMap::new()));
        entry.1.insert(vote.voter, vote.signature);
        if entry.1.len() == quorum {
            let (data, sigs) = entry.clone();
            let qc = QuorumCert {
                data,
                signers: sigs.keys().copied().collect(),
                signatures: sigs.values().copied().collect(),
            };
            self.process_qc(qc);
        }
        Ok(())
    }

    /// Process a QC (Block-tree `process_qc`): keep the highest, apply the
    /// two-chain commit rule (commit the QC's parent when the QC certifies
    /// the round right after it), and enter the next round (Pacemaker
    /// `advance_round_qc`). The QC is verified by the caller.
    pub(super) fn process_qc(&mut self, qc: QuorumCert) {
        if qc.round() > self.high_qc.round() {
            self.high_qc = qc.clone();
            self.failed_rounds = 0;
        }
        // A certificate that commits a block at or below our committed
        // round brings nothing new (it is an old one, or a late copy).
        if let Some(parent) = qc.data.commits() {
            if qc.data.parent_round > self.committed.round {
                self.commit(parent, &qc);
            }
        }
        self.enter_round(qc.round().next(), false);
    }

    /// Commits `id` and its uncommitted ancestors, oldest first.
    pub(super) fn commit(&mut self, id: BlockId, proof: &QuorumCert) {
        if id == self.committed.id {
            return;
        }
        // Far behind: sync the committed chain in bulk.
        let target_height = proof.data.height.0.saturating_sub(1);
        if target_height > self.committed.height.0 + SYNC_GAP {
            // One request at a time; ask again a few rounds later if the
            // answer did not come (lost, or the peer lacked the blocks).
            let due = self
                .sync_requested
                .is_none_or(|asked| self.round.0 >= asked.0.saturating_add(4));
            if due {
                self.sync_requested = Some(self.round);
                let signers = &proof.signers;
                let from = signers
                    .get((self.round.0 as usize) % signers.len().max(1))
                    .copied()
                    .unwrap_or(self.me);
                self.out.push(Action::SyncRequest {
                    after: self.committed.height,
                    from,
                });
            }
            self.pending_commit = Some((id, proof.clone()));
            return;
        }
        let mut chain = Vec::new();
        let mut cursor = id;
        while cursor != self.committed.id {
            let Some(block) = self.blocks.get(&cursor) else {
                // An ancestor is missing: fetch it, and commit once it came.
                if let std::collections::hash_map::Entry::Vacant(slot) = self.missing.entry(cursor)
                {
                    slot.insert(Vec::new());
                    self.out.push(Action::Fetch {
                        block_id: cursor,
                        from: proof.signers.first().copied().unwrap_or(self.me),
                    });
                }
                self.pending_commit = Some((id, proof.clone()));
                return;
            };
            if block.round <= self.committed.round {
                // A branch that does not extend our committed block: only
                // a safety violation elsewhere could get here.
                return;
            }
            chain.push(block.clone());
            cursor = block.parent_id();
        }
        chain.reverse();
        self.apply_commit(chain, proof);
    }

    /// Commits `chain` (oldest first, extending the committed block) with
    /// its commit certificate.
    pub(super) fn apply_commit(&mut self, chain: Vec<Block>, proof: &QuorumCert) {
        let Some(last) = chain.last() else {
            return;
        };
        self.committed = Committed {
            id: last.id(),
            round: last.round,
            height: last.height,
        };
        let committed_round = self.committed.round;
        self.blocks.retain(|_, b| b.round > committed_round);
        let blocks = &self.blocks;
        self.payload_valid.retain(|id| blocks.contains_key(id));
        self.payload_pending.retain(|id| blocks.contains_key(id));
        let keep_from = committed_round
            .0
            .saturating_sub(reputation_window(self.validators.len()));
        self.links.retain(|_, link| link.round.0 > keep_from);
        self.pending_commit = None;
        self.first_proposals = self
            .first_proposals
            .split_off(&(committed_round, ValidatorId(0)));
        self.first_votes = self
            .first_votes
            .split_off(&(committed_round, ValidatorId(0)));
        self.out.push(Action::Commit {
            blocks: chain,
            proof: proof.clone(),
        });
    }
}
