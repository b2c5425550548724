//! The ledger state a genesis starts from.

use std::collections::BTreeMap;

use hutong_runtime::governance::{Consortium, MemberEntry, MemberRole as Role, RegulatorEntry};
use hutong_runtime::state::{Account, AccountKind, AssetInfo, Holding, StateKey, StateValue};
use hutong_runtime::store::{prepare_commit, StateStore, StoreError};
use hutong_runtime::{Address, Amount, AssetCode, Hash, Height, Nonce};

use crate::validate::{Genesis, MemberRole};

impl Genesis {
    /// Every state entry at height 0, in key order.
    pub fn initial_state(&self) -> Vec<(StateKey, StateValue)> {
        let mut state: BTreeMap<StateKey, StateValue> = BTreeMap::new();
        state.insert(StateKey::Params, StateValue::Params(self.params.clone()));
        state.insert(
            StateKey::Consortium,
            StateValue::Consortium(self.consortium()),
        );
        for m in &self.members {
            let address = m.address();
            state.insert(
                StateKey::Account(address),
                StateValue::Account(Account {
                    owner: m.institution_key,
                    kind: AccountKind::Institution,
                    institution: address,
                    sequence: Nonce(0),
                    frozen: None,
                    restriction: None,
                }),
            );
            if let Some(key) = m.memo_key {
                state.insert(StateKey::MemoKey(address), StateValue::MemoKey(key));
            }
        }
        for r in &self.regulators {
            let address = Address::of(&r.key);
            state.insert(
                StateKey::Account(address),
                StateValue::Account(Account {
                    owner: r.key,
                    kind: AccountKind::Regulator,
                    institution: address,
                    sequence: Nonce(0),
                    frozen: None,
                    restriction: None,
                }),
            );
        }
        for a in &self.accounts {
            state.insert(
                StateKey::Account(Address::of(&a.owner)),
                StateValue::Account(Account {
                    owner: a.owner,
                    kind: AccountKind::Customer {
                        tier: a.tier,
                        identity_commitment: a.identity_commitment,
                    },
                    institution: a.institution,
                    sequence: Nonce(0),
                    frozen: None,
                    restriction: None,
                }),
            );
        }
        let mut supply: BTreeMap<AssetCode, Amount> = BTreeMap::new();
        for (owner, asset, amount) in &self.balances {
            state.insert(
                StateKey::Balance(*owner, *asset),
                StateValue::Balance(Holding::of(*amount)),
            );
            let total = supply.entry(*asset).or_insert(Amount::ZERO);
            // Validation proved the sums fit.
            *total = total
                .checked_add(*amount)
                .expect("genesis supply checked at validation");
        }
        for a in &self.assets {
            state.insert(
                StateKey::Asset(a.code),
                StateValue::Asset(AssetInfo {
                    code: a.code,
                    decimals: a.decimals,
                    issuer: a.issuer,
                    total_supply: supply.get(&a.code).copied().unwrap_or(Amount::ZERO),
                }),
            );
        }
        state.into_iter().collect()
    }

    /// The consortium as the ledger starts with it. Address hints stay
    /// off the ledger (they are not part of the chain id either).
    pub fn consortium(&self) -> Consortium {
        let mut assets: Vec<_> = self.assets.iter().map(|a| a.code).collect();
        assets.sort();
        let mut consortium = Consortium {
            epoch: 0,
            epoch_start: Height(1),
            active_validators: Vec::new(),
            set_change_pending: None,
            dev_chain: self.dev_chain,
            members: self
                .members
                .iter()
                .map(|m| MemberEntry {
                    name: m.name.clone(),
                    account: m.address(),
                    institution_key: m.institution_key,
                    node_key: m.node_key,
                    role: match m.role {
                        MemberRole::Validator => Role::Validator,
                        MemberRole::Observer => Role::Observer,
                    },
                    p2p_address: None,
                })
                .collect(),
            regulators: self
                .regulators
                .iter()
                .map(|r| RegulatorEntry {
                    name: r.name.clone(),
                    account: Address::of(&r.key),
                    key: r.key,
                    node_key: r.node_key,
                    p2p_address: None,
                })
                .collect(),
            assets,
            voting: self.voting,
            timing: self.timing,
        };
        consortium.active_validators = consortium.validator_keys();
        consortium
    }

    /// Writes the initial state into an empty store as version 0 and
    /// returns the genesis state root.
    pub fn apply<S: StateStore>(&self, store: &mut S) -> Result<Hash, StoreError> {
        let update = prepare_commit(
            store,
            0,
            self.initial_state().into_iter().map(|(k, v)| (k, Some(v))),
        )?;
        let root = update.root;
        store.apply(update)?;
        Ok(root)
    }
}
