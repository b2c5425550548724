//! Executing `Propose`, `Vote` and `Withdraw`: the rules are described in
//! [`crate::governance`]. The order of checks decides which reason a
//! receipt gives, so it is part of the protocol.

use std::collections::{BTreeMap, BTreeSet};

use crate::execute::{ExecError, Executor, TxResult};
use crate::governance::{
    address_ok, limits_ok, name_ok, set_limits, Action, ActionProblem, Consortium, MemberEntry,
    Proposal, ProposalIndex, ProposalStatus, RegulatorEntry, Status, MEMBERS_MAX,
    OPEN_PROPOSALS_MAX, OPEN_PROPOSALS_PER_PROPOSER_MAX, VOTING_PERIOD_MAX_MS,
    VOTING_PERIOD_MIN_MS,
};
use crate::receipt::{Effect, FailureReason};
use crate::state::{Account, AccountKind, AssetInfo, StateKey, StateValue};
use crate::store::StateStore;
use crate::types::{Address, Amount, AssetCode, Nonce, TimestampMs};

/// The most decimals an asset may have (as at genesis).
const DECIMALS_MAX: u8 = 18;

impl<S: StateStore + ?Sized> Executor<'_, S> {
    pub(crate) fn consortium(&mut self) -> Result<Consortium, ExecError> {
        let key = StateKey::Consortium;
        match self.overlay.get(&key)? {
            Some(StateValue::Consortium(c)) => Ok(c),
            Some(_) => Err(ExecError::WrongValueKind { key }),
            None => Err(ExecError::NoConsortium),
        }
    }

    fn proposal_index(&mut self) -> Result<ProposalIndex, ExecError> {
        let key = StateKey::Proposals;
        match self.overlay.get(&key)? {
            Some(StateValue::Proposals(p)) => Ok(p),
            Some(_) => Err(ExecError::WrongValueKind { key }),
            None => Ok(ProposalIndex::default()),
        }
    }

    fn proposal(&mut self, id: u64) -> Result<Option<Proposal>, ExecError> {
        let key = StateKey::Proposal(id);
        match self.overlay.get(&key)? {
            Some(StateValue::Proposal(p)) => Ok(Some(p)),
            Some(_) => Err(ExecError::WrongValueKind { key }),
            None => Ok(None),
        }
    }

    fn put_proposal(&mut self, p: Proposal) {
        self.overlay
            .put(StateKey::Proposal(p.id), Some(StateValue::Proposal(p)));
    }

    fn put_index(&mut self, index: ProposalIndex) {
        self.overlay
            .put(StateKey::Proposals, Some(StateValue::Proposals(index)));
    }

    pub(crate) fn propose(
        &mut self,
        sender: Address,
        actions: &[Action],
        voting_period_ms: u64,
    ) -> Result<TxResult, ExecError> {
        let consortium = self.consortium()?;
        if !consortium.is_voter(&sender) {
            return Ok(Err(FailureReason::Unauthorised));
        }
        if !(VOTING_PERIOD_MIN_MS..=VOTING_PERIOD_MAX_MS).contains(&voting_period_ms) {
            return Ok(Err(FailureReason::BadVotingPeriod {
                min_ms: VOTING_PERIOD_MIN_MS,
                max_ms: VOTING_PERIOD_MAX_MS,
            }));
        }
        // Checked now against today's state (and again at execution).
        if let Err((action, problem)) = self.check_actions(&consortium, actions)? {
            return Ok(Err(FailureReason::InvalidAction { action, problem }));
        }
        let mut index = self.proposal_index()?;
        // Room: drop the proposals that expired.
        let mut still_open = Vec::with_capacity(index.open.len());
        let mut mine = 0;
        for id in index.open.iter().copied() {
            let Some(p) = self.proposal(id)? else {
                continue;
            };
            if p.status_at(self.ctx.timestamp) == Status::Open {
                mine += usize::from(p.proposer == sender);
                still_open.push(id);
            }
        }
        if still_open.len() >= OPEN_PROPOSALS_MAX {
            return Ok(Err(FailureReason::TooManyProposals {
                max: OPEN_PROPOSALS_MAX as u16,
            }));
        }
        if mine >= OPEN_PROPOSALS_PER_PROPOSER_MAX {
            return Ok(Err(FailureReason::TooManyProposals {
                max: OPEN_PROPOSALS_PER_PROPOSER_MAX as u16,
            }));
        }
        let id = index.next_id;
        index.next_id += 1;
        still_open.push(id);
        index.open = still_open;
        self.put_index(index);
        let proposal = Proposal {
            id,
            proposer: sender,
            actions: actions.to_vec(),
            created_at: self.ctx.height,
            deadline: TimestampMs(self.ctx.timestamp.0.saturating_add(voting_period_ms)),
            votes: Vec::new(),
            status: ProposalStatus::Open,
        };
        let mut effects = vec![Effect::ProposalCreated { proposal: id }];
        // Proposing is approving: this may already pass (a consortium of
        // one voter, in a development chain).
        effects.extend(self.cast(consortium, proposal, sender, true)?);
        Ok(Ok(effects))
    }

    pub(crate) fn vote(
        &mut self,
        sender: Address,
        id: u64,
        approve: bool,
    ) -> Result<TxResult, ExecError> {
        let consortium = self.consortium()?;
        let is_vetoer = consortium.voting.regulators == crate::governance::RegulatorPower::Veto
            && consortium.is_regulator(&sender);
        if !consortium.is_voter(&sender) && !is_vetoer {
            return Ok(Err(FailureReason::Unauthorised));
        }
        let Some(proposal) = self.proposal(id)? else {
            return Ok(Err(FailureReason::UnknownProposal { proposal: id }));
        };
        match proposal.status_at(self.ctx.timestamp) {
            Status::Open => {}
            Status::Expired => {
                return Ok(Err(FailureReason::VotingClosed {
                    proposal: id,
                    deadline: proposal.deadline,
                }))
            }
            _ => return Ok(Err(FailureReason::ProposalClosed { proposal: id })),
        }
        Ok(Ok(self.cast(consortium, proposal, sender, approve)?))
    }

    pub(crate) fn withdraw(&mut self, sender: Address, id: u64) -> Result<TxResult, ExecError> {
        let Some(mut proposal) = self.proposal(id)? else {
            return Ok(Err(FailureReason::UnknownProposal { proposal: id }));
        };
        if proposal.proposer != sender {
            return Ok(Err(FailureReason::Unauthorised));
        }
        match proposal.status_at(self.ctx.timestamp) {
            Status::Open => {}
            Status::Expired => {
                return Ok(Err(FailureReason::VotingClosed {
                    proposal: id,
                    deadline: proposal.deadline,
                }))
            }
            _ => return Ok(Err(FailureReason::ProposalClosed { proposal: id })),
        }
        proposal.status = ProposalStatus::Withdrawn {
            height: self.ctx.height,
        };
        self.close(proposal)?;
        Ok(Ok(vec![Effect::ProposalWithdrawn { proposal: id }]))
    }

    /// Records a vote, then executes or rejects the proposal if the tally
    /// decides it.
    fn cast(
        &mut self,
        consortium: Consortium,
        mut proposal: Proposal,
        voter: Address,
        approve: bool,
    ) -> Result<Vec<Effect>, ExecError> {
        let id = proposal.id;
        proposal.record(voter, approve);
        let tally = proposal.tally(&consortium);
        let narrow = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let mut effects = vec![Effect::Voted {
            proposal: id,
            approve,
            approvals: narrow(tally.approvals),
            rejections: narrow(tally.rejections),
            voters: narrow(tally.voters),
        }];
        if tally.passes(&consortium.voting) {
            match self.check_actions(&consortium, &proposal.actions)? {
                Ok(()) => {
                    let epoch = self.apply_actions(consortium, &proposal.actions)?;
                    proposal.status = ProposalStatus::Executed {
                        height: self.ctx.height,
                    };
                    effects.push(Effect::ProposalExecuted {
                        proposal: id,
                        epoch,
                    });
                }
                Err((action, problem)) => {
                    proposal.status = ProposalStatus::Failed {
                        height: self.ctx.height,
                        action,
                        problem,
                    };
                    effects.push(Effect::ProposalFailed {
                        proposal: id,
                        action,
                        problem,
                    });
                }
            }
            self.close(proposal)?;
        } else if !tally.can_pass(&consortium.voting) {
            proposal.status = ProposalStatus::Rejected {
                height: self.ctx.height,
            };
            effects.push(Effect::ProposalRejected { proposal: id });
            self.close(proposal)?;
        } else {
            self.put_proposal(proposal);
        }
        Ok(effects)
    }

    /// Writes a proposal that is no longer open and takes it off the
    /// open list.
    fn close(&mut self, proposal: Proposal) -> Result<(), ExecError> {
        let mut index = self.proposal_index()?;
        index.open.retain(|id| *id != proposal.id);
        self.put_index(index);
        self.put_proposal(proposal);
        Ok(())
    }

    /// Checks every action in order against the state as the earlier ones
    /// would leave it, writing nothing. `Err((index, problem))` names the
    /// first that cannot execute.
    fn check_actions(
        &mut self,
        consortium: &Consortium,
        actions: &[Action],
    ) -> Result<Result<(), (u8, ActionProblem)>, ExecError> {
        let mut c = consortium.clone();
        let mut new_keys = BTreeSet::new();
        let mut new_issuers = BTreeMap::new();
        let pending = consortium.set_change_pending.is_some();
        let set_before = pending.then(|| consortium.validator_keys());
        for (i, action) in actions.iter().enumerate() {
            let at = u8::try_from(i).unwrap_or(u8::MAX);
            if let Err(problem) =
                self.check_action(&mut c, &mut new_keys, &mut new_issuers, action)?
            {
                return Ok(Err((at, problem)));
            }
            if set_before
                .as_ref()
                .is_some_and(|keys| *keys != c.validator_keys())
            {
                return Ok(Err((at, ActionProblem::ValidatorChangePending)));
            }
        }
        Ok(Ok(()))
    }

    /// Checks one action and applies it to the copy `c` (so that the next
    /// is checked against the result).
    fn check_action(
        &mut self,
        c: &mut Consortium,
        new_keys: &mut BTreeSet<Address>,
        new_issuers: &mut BTreeMap<AssetCode, Address>,
        action: &Action,
    ) -> Result<Result<(), ActionProblem>, ExecError> {
        use ActionProblem as P;
        let validators_after = |c: &Consortium| c.validators().count();
        let enough = |c: &Consortium| -> Result<(), ActionProblem> {
            let n = validators_after(c);
            if c.dev_chain {
                if n != 1 {
                    return Err(P::DevChainValidators);
                }
            } else if n < 4 {
                return Err(P::TooFewValidators);
            }
            Ok(())
        };
        let verdict = match action {
            Action::AddMember {
                name,
                institution_key,
                node_key,
                role,
                p2p_address,
            } => {
                if let Err(p) = self.check_new_party(
                    c,
                    new_keys,
                    name,
                    &[institution_key, node_key],
                    p2p_address,
                )? {
                    return Ok(Err(p));
                }
                if c.members.len() + c.regulators.len() >= MEMBERS_MAX {
                    return Ok(Err(P::TooManyMembers));
                }
                c.members.push(MemberEntry {
                    name: name.clone(),
                    account: Address::of(institution_key),
                    institution_key: *institution_key,
                    node_key: *node_key,
                    role: *role,
                    p2p_address: p2p_address.clone(),
                });
                enough(c)
            }
            Action::RemoveMember { name } => {
                let Some(i) = c.members.iter().position(|m| m.name == *name) else {
                    return Ok(Err(P::UnknownMember));
                };
                let account = c.members[i].account;
                for code in c.assets.clone() {
                    let issuer = match new_issuers.get(&code) {
                        Some(issuer) => Some(*issuer),
                        None => self.asset(&code)?.map(|info| info.issuer),
                    };
                    if issuer == Some(account) {
                        return Ok(Err(P::IssuerCannotLeave));
                    }
                }
                c.members.remove(i);
                enough(c)
            }
            Action::SetRole { name, role } => {
                let Some(m) = c.members.iter_mut().find(|m| m.name == *name) else {
                    return Ok(Err(P::UnknownMember));
                };
                if m.role == *role {
                    return Ok(Err(P::NoChange));
                }
                m.role = *role;
                enough(c)
            }
            Action::RotateNodeKey {
                name,
                node_key: key,
            }
            | Action::RotateInstitutionKey {
                name,
                institution_key: key,
            } => {
                if c.member(name).is_none() {
                    return Ok(Err(P::UnknownMember));
                }
                if let Err(p) = self.check_new_key(c, new_keys, key)? {
                    return Ok(Err(p));
                }
                if let Some(m) = c.members.iter_mut().find(|m| m.name == *name) {
                    match action {
                        Action::RotateNodeKey { .. } => m.node_key = *key,
                        _ => m.institution_key = *key,
                    }
                }
                Ok(())
            }
            Action::AddRegulator {
                name,
                key,
                node_key,
                p2p_address,
            } => {
                if let Err(p) =
                    self.check_new_party(c, new_keys, name, &[key, node_key], p2p_address)?
                {
                    return Ok(Err(p));
                }
                if c.members.len() + c.regulators.len() >= MEMBERS_MAX {
                    return Ok(Err(P::TooManyMembers));
                }
                c.regulators.push(RegulatorEntry {
                    name: name.clone(),
                    account: Address::of(key),
                    key: *key,
                    node_key: *node_key,
                    p2p_address: p2p_address.clone(),
                });
                Ok(())
            }
            Action::RemoveRegulator { name } => {
                let Some(i) = c.regulators.iter().position(|r| r.name == *name) else {
                    return Ok(Err(P::UnknownRegulator));
                };
                if c.regulators.len() == 1 {
                    return Ok(Err(P::LastRegulator));
                }
                c.regulators.remove(i);
                Ok(())
            }
            Action::AddAsset {
                code,
                decimals,
                issuer,
            } => {
                if *decimals > DECIMALS_MAX {
                    return Ok(Err(P::BadAsset));
                }
                let Some(issuer) = c.member(issuer).map(|m| m.account) else {
                    return Ok(Err(P::UnknownMember));
                };
                if c.assets.contains(code) || self.asset(code)?.is_some() {
                    return Ok(Err(P::AssetExists));
                }
                new_issuers.insert(*code, issuer);
                c.assets.push(*code);
                c.assets.sort();
                Ok(())
            }
            Action::SetTierLimits { name, limits, .. } => {
                if !limits_ok(limits) || name.is_empty() {
                    return Ok(Err(P::BadLimits));
                }
                if !c.assets.contains(&limits.asset) {
                    return Ok(Err(P::BadAsset));
                }
                Ok(())
            }
            Action::SetConsensusTiming { timing } => {
                if !timing.is_sane() {
                    return Ok(Err(P::BadTiming));
                }
                c.timing = *timing;
                Ok(())
            }
            Action::SetFxProvider { name, enabled } => {
                let Some(account) = c.member(name).map(|m| m.account) else {
                    return Ok(Err(P::UnknownMember));
                };
                if self.params.is_fx_provider(&account) == *enabled {
                    return Ok(Err(P::NoChange));
                }
                Ok(())
            }
        };
        Ok(verdict)
    }

    /// A new member or regulator: a free, well-formed name and fresh keys.
    fn check_new_party(
        &mut self,
        c: &Consortium,
        new_keys: &mut BTreeSet<Address>,
        name: &str,
        keys: &[&crate::crypto::PublicKey],
        p2p_address: &Option<String>,
    ) -> Result<Result<(), ActionProblem>, ExecError> {
        if !name_ok(name) {
            return Ok(Err(ActionProblem::BadName));
        }
        if p2p_address.as_deref().is_some_and(|a| !address_ok(a)) {
            return Ok(Err(ActionProblem::BadAddress));
        }
        if c.member(name).is_some() || c.regulators.iter().any(|r| r.name == name) {
            return Ok(Err(ActionProblem::DuplicateName));
        }
        for key in keys {
            if let Err(p) = self.check_new_key(c, new_keys, key)? {
                return Ok(Err(p));
            }
        }
        Ok(Ok(()))
    }

    /// A key about to be given a role: strong, and nobody's yet (not a
    /// member's or regulator's key, not an account's, not an alias).
    fn check_new_key(
        &mut self,
        c: &Consortium,
        new_keys: &mut BTreeSet<Address>,
        key: &crate::crypto::PublicKey,
    ) -> Result<Result<(), ActionProblem>, ExecError> {
        if key.check_strong().is_err() {
            return Ok(Err(ActionProblem::WeakKey));
        }
        let in_consortium = c
            .members
            .iter()
            .any(|m| m.institution_key == *key || m.node_key == *key)
            || c.regulators
                .iter()
                .any(|r| r.key == *key || r.node_key == *key)
            // A node key rotated or removed while its epoch goes on still
            // signs in consensus until the change takes effect.
            || c.active_validators.contains(key);
        let address = Address::of(key);
        if in_consortium
            || !new_keys.insert(address)
            || self.account(&address)?.is_some()
            || self.overlay.get(&StateKey::KeyAlias(address))?.is_some()
            || self.device(&address)?.is_some()
        {
            return Ok(Err(ActionProblem::KeyInUse));
        }
        Ok(Ok(()))
    }

    /// Applies checked actions. Returns the epoch the change starts if it
    /// changed the validator set: the change waits for a block that
    /// certifies this height's result ([`Executor::start_pending_epoch`]).
    fn apply_actions(
        &mut self,
        mut c: Consortium,
        actions: &[Action],
    ) -> Result<Option<u64>, ExecError> {
        let validators_before: Vec<_> = c.validator_keys();
        for action in actions {
            self.apply_action(&mut c, action)?;
        }
        let epoch = if c.validator_keys() != validators_before {
            c.set_change_pending = Some(self.ctx.height);
            Some(c.epoch + 1)
        } else {
            None
        };
        self.overlay
            .put(StateKey::Consortium, Some(StateValue::Consortium(c)));
        Ok(epoch)
    }

    /// At the end of a block: a validator-set change waiting for this
    /// block takes effect. This block is the last of its epoch when it
    /// certifies (its payload's result claim) the result of the height
    /// that made the latest change: that state, with the new set in it, is
    /// then signed by the old epoch's validators. (The record is one
    /// small entry, read once per block; a state without one, as some
    /// tests build, has nothing waiting.)
    pub(crate) fn start_pending_epoch(&mut self) -> Result<(), ExecError> {
        let key = StateKey::Consortium;
        let mut c = match self.overlay.get(&key)? {
            Some(StateValue::Consortium(c)) => c,
            Some(_) => return Err(ExecError::WrongValueKind { key }),
            None => return Ok(()),
        };
        let Some(since) = c.set_change_pending else {
            return Ok(());
        };
        if self.ctx.certified < since {
            return Ok(());
        }
        c.epoch += 1;
        c.epoch_start = crate::types::Height(self.ctx.height.0.saturating_add(1));
        c.active_validators = c.validator_keys();
        c.set_change_pending = None;
        self.overlay
            .put(StateKey::Consortium, Some(StateValue::Consortium(c)));
        Ok(())
    }

    fn apply_action(&mut self, c: &mut Consortium, action: &Action) -> Result<(), ExecError> {
        match action {
            Action::AddMember {
                name,
                institution_key,
                node_key,
                role,
                p2p_address,
            } => {
                let account = Address::of(institution_key);
                c.members.push(MemberEntry {
                    name: name.clone(),
                    account,
                    institution_key: *institution_key,
                    node_key: *node_key,
                    role: *role,
                    p2p_address: p2p_address.clone(),
                });
                self.put_account(
                    account,
                    Account {
                        owner: *institution_key,
                        kind: AccountKind::Institution,
                        institution: account,
                        sequence: Nonce(0),
                        frozen: None,
                        restriction: None,
                    },
                );
            }
            Action::RemoveMember { name } => {
                if let Some(i) = c.members.iter().position(|m| m.name == *name) {
                    let m = c.members.remove(i);
                    self.retire(&m.account)?;
                    // A member that leaves quotes no more.
                    if let Ok(j) = self.params.fx_providers.binary_search(&m.account) {
                        self.params.fx_providers.remove(j);
                        self.overlay.put(
                            StateKey::Params,
                            Some(StateValue::Params(self.params.clone())),
                        );
                    }
                }
            }
            Action::SetRole { name, role } => {
                if let Some(m) = c.members.iter_mut().find(|m| m.name == *name) {
                    m.role = *role;
                }
            }
            Action::RotateNodeKey { name, node_key } => {
                if let Some(m) = c.members.iter_mut().find(|m| m.name == *name) {
                    m.node_key = *node_key;
                }
            }
            Action::RotateInstitutionKey {
                name,
                institution_key,
            } => {
                if let Some(m) = c.members.iter_mut().find(|m| m.name == *name) {
                    let old = m.institution_key;
                    m.institution_key = *institution_key;
                    let account = m.account;
                    if let Some(mut a) = self.account(&account)? {
                        a.owner = *institution_key;
                        self.put_account(account, a);
                    }
                    // The new key's address points to the account; the old
                    // key's alias (if it was itself a rotated key) goes.
                    let old_address = Address::of(&old);
                    if old_address != account {
                        self.overlay.put(StateKey::KeyAlias(old_address), None);
                    }
                    let new_address = Address::of(institution_key);
                    if new_address != account {
                        self.overlay.put(
                            StateKey::KeyAlias(new_address),
                            Some(StateValue::KeyAlias(account)),
                        );
                    }
                }
            }
            Action::AddRegulator {
                name,
                key,
                node_key,
                p2p_address,
            } => {
                let account = Address::of(key);
                c.regulators.push(RegulatorEntry {
                    name: name.clone(),
                    account,
                    key: *key,
                    node_key: *node_key,
                    p2p_address: p2p_address.clone(),
                });
                self.put_account(
                    account,
                    Account {
                        owner: *key,
                        kind: AccountKind::Regulator,
                        institution: account,
                        sequence: Nonce(0),
                        frozen: None,
                        restriction: None,
                    },
                );
            }
            Action::RemoveRegulator { name } => {
                if let Some(i) = c.regulators.iter().position(|r| r.name == *name) {
                    let r = c.regulators.remove(i);
                    self.retire(&r.account)?;
                }
            }
            Action::AddAsset {
                code,
                decimals,
                issuer,
            } => {
                let issuer = c
                    .member(issuer)
                    .map(|m| m.account)
                    .expect("checked: the issuer is a member");
                self.overlay.put(
                    StateKey::Asset(*code),
                    Some(StateValue::Asset(AssetInfo {
                        code: *code,
                        decimals: *decimals,
                        issuer,
                        total_supply: Amount::ZERO,
                    })),
                );
                if let Err(i) = c.assets.binary_search(code) {
                    c.assets.insert(i, *code);
                }
            }
            Action::SetTierLimits { tier, name, limits } => {
                set_limits(&mut self.params.tiers, *tier, name, *limits);
                self.overlay.put(
                    StateKey::Params,
                    Some(StateValue::Params(self.params.clone())),
                );
            }
            Action::SetConsensusTiming { timing } => c.timing = *timing,
            Action::SetFxProvider { name, enabled } => {
                if let Some(account) = c.member(name).map(|m| m.account) {
                    let providers = &mut self.params.fx_providers;
                    match (providers.binary_search(&account), enabled) {
                        (Err(i), true) => providers.insert(i, account),
                        (Ok(i), false) => {
                            providers.remove(i);
                        }
                        _ => {}
                    }
                    self.overlay.put(
                        StateKey::Params,
                        Some(StateValue::Params(self.params.clone())),
                    );
                }
            }
        }
        Ok(())
    }

    /// A departing institution's or regulator's account keeps its balances
    /// and loses its powers.
    fn retire(&mut self, account: &Address) -> Result<(), ExecError> {
        if let Some(mut a) = self.account(account)? {
            a.kind = AccountKind::Retired;
            self.put_account(*account, a);
        }
        Ok(())
    }
}
