//! The pacemaker: which round to be in, round timers with exponential
//! back-off, timeouts (rule T1) and timeout certificates.

use super::*;

impl<S: Signer, V: Verifier> Consensus<S, V> {
    /// The round to be in, given the certificates held.
    pub(super) fn entry_round(&self) -> Round {
        let by_qc = self.high_qc.round().next();
        let by_tc = self.high_tc.as_ref().map_or(Round(0), |tc| tc.round.next());
        by_qc.max(by_tc).max(Round(1))
    }

    pub(super) fn timeout_duration(&self) -> Duration {
        let factor = 1u32
            .checked_shl(self.failed_rounds.min(16))
            .unwrap_or(u32::MAX);
        self.config
            .base_timeout
            .saturating_mul(factor)
            .min(self.config.max_timeout)
    }

    /// Pacemaker: enter `round` if it is ahead of the current one.
    pub(super) fn enter_round(&mut self, round: Round, force: bool) {
        if !self.started || (round <= self.round && !force) {
            return;
        }
        self.round = round;
        // Votes and timeouts for rounds well behind are of no use any more.
        let keep = Round(round.0.saturating_sub(2));
        self.votes = self.votes.split_off(&keep);
        self.timeouts = self.timeouts.split_off(&keep);
        // Rounds can advance for a long time without commits (a partition);
        // the evidence bookkeeping must not grow with them.
        self.first_proposals = self.first_proposals.split_off(&(keep, ValidatorId(0)));
        self.first_votes = self.first_votes.split_off(&(keep, ValidatorId(0)));
        self.out.push(Action::SetTimer {
            round,
            after: self.timeout_duration(),
        });
        // Progress does not fire timers, so retry fetches every few rounds.
        if round.0.is_multiple_of(4) {
            self.refetch(round);
        }
        // A restarted leader that already voted in this round proposed in
        // it before the crash; proposing again would equivocate.
        if self.member
            && self.leader(round) == self.me
            && round > self.safety.last_voted_round
            && round > self.safety.last_proposed_round
        {
            self.fetch_proposal_parent();
            self.out.push(Action::NeedPayload {
                round,
                parent: self.high_qc.data.block_id,
            });
        }
    }

    /// The round timer fired (Pacemaker `local_timeout_round`): time out
    /// the round if T1 allows, and keep the timer running.
    pub(super) fn on_timer(&mut self, round: Round) {
        if round != self.round || !self.started || !self.member {
            return;
        }
        self.failed_rounds = self.failed_rounds.saturating_add(1);
        let tc = self.high_tc.clone().filter(|tc| tc.round.next() == round);
        // T1 refuses only when this validator is not really in `round`;
        // then there is nothing to send, but the timer keeps running.
        if let Ok((next, data)) = safety::timeout(&self.safety, round, &self.high_qc, tc.as_ref()) {
            {
                self.persist_safety(next);
                let timeout = Timeout {
                    signature: self
                        .signer
                        .sign(&data.signing_message(&self.validators.genesis())),
                    data,
                    high_qc: self.high_qc.clone(),
                    high_tc: self.high_tc.clone(),
                    voter: self.me,
                };
                self.out
                    .push(Action::Broadcast(Message::Timeout(timeout.clone())));
                if let Err(reason) = self.on_timeout(timeout) {
                    self.drop(reason);
                }
            }
        }
        self.refetch(round);
        // Keep re-sending while the round lasts: messages may have been lost.
        if self.round == round {
            self.out.push(Action::SetTimer {
                round,
                after: self.timeout_duration(),
            });
        }
    }

    /// A peer's timeout (Pacemaker `process_remote_timeout`): its high QC
    /// and high TC are processed like any certificate, and the `2f + 1`-th
    /// timeout of a round forms that round's TC, broadcast and processed
    /// at once.
    pub(super) fn on_timeout(&mut self, timeout: Timeout) -> Result<(), DropReason> {
        let data = timeout.data;
        if data.epoch != self.validators.epoch() {
            return Err(DropReason::WrongEpoch);
        }
        self.check_round(data.round)?;
        if data.high_qc_round != timeout.high_qc.round() || data.high_qc_round >= data.round {
            return Err(DropReason::Malformed);
        }
        let key = self
            .validators
            .key(timeout.voter)
            .ok_or(DropReason::NotMember)?;
        if !self.verifier.verify(
            key,
            &data.signing_message(&self.validators.genesis()),
            &timeout.signature,
        ) {
            return Err(DropReason::BadSignature);
        }
        self.verify_qc(&timeout.high_qc)?;
        self.process_qc(timeout.high_qc);
        // Only a certificate that moves this validator forward matters; an
        // old one is no reason to drop the timeout that carries it.
        if let Some(tc) = timeout.high_tc.filter(|tc| tc.round >= self.round) {
            self.on_timeout_cert(tc)?;
        }
        if data.round < self.round {
            return Ok(());
        }
        let quorum = self.validators.quorum();
        let signers = self.timeouts.entry(data.round).or_default();
        signers
            .entry(timeout.voter)
            .or_insert((data.high_qc_round, timeout.signature));
        if signers.len() == quorum {
            let tc = TimeoutCert {
                epoch: data.epoch,
                round: data.round,
                signers: signers.iter().map(|(v, (r, _))| (*v, *r)).collect(),
                signatures: signers.values().map(|(_, s)| *s).collect(),
            };
            self.out
                .push(Action::Broadcast(Message::TimeoutCert(tc.clone())));
            self.process_tc(tc);
        }
        Ok(())
    }

    pub(super) fn on_timeout_cert(&mut self, tc: TimeoutCert) -> Result<(), DropReason> {
        if tc.epoch != self.validators.epoch() {
            return Err(DropReason::WrongEpoch);
        }
        self.check_round(tc.round)?;
        if self.high_tc.as_ref().is_some_and(|h| h.round >= tc.round) {
            return Ok(());
        }
        self.validators
            .verify_tc(&tc, &self.verifier)
            .map_err(DropReason::BadCertificate)?;
        self.process_tc(tc);
        Ok(())
    }

    /// Process a TC (Pacemaker `advance_round_tc`): keep the highest and
    /// enter the round after it. The TC is verified or formed here by the
    /// caller.
    pub(super) fn process_tc(&mut self, tc: TimeoutCert) {
        let round = tc.round;
        if self.high_tc.as_ref().is_none_or(|h| h.round < round) {
            self.high_tc = Some(tc);
        }
        self.enter_round(round.next(), false);
    }
}
