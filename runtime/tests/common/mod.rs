//! A small chain for the runtime's tests and benchmarks: two institutions
//! (bank A issues CNY, bank B issues HKD), a regulator, and funded
//! customers, built directly in a `MemStore` from a seed.

#![allow(dead_code)]

use hutong_runtime::governance::{
    ConsensusTiming, Consortium, MemberEntry, MemberRole, RegulatorEntry, VotingRules,
};
use hutong_runtime::state::{
    Account, AccountKind, AssetInfo, AssetLimits, Params, StateKey, StateValue, TierParams,
};
use hutong_runtime::store::{prepare_commit, read_value};
use hutong_runtime::tx::Expiry;
use hutong_runtime::{
    execute_block, Address, Amount, AssetCode, BlockContext, ChainId, Hash, Height, Keypair,
    MemStore, Nonce, Receipt, SignatureCheck, SignedTransaction, Tier, TimestampMs, Transaction,
    TxKind,
};
use rand::SeedableRng;

pub const START_BALANCE: u128 = 100_000;
/// 2026-01-01T00:00:00+08:00 in milliseconds.
pub const T0: u64 = 1_767_196_800_000;

pub fn cny() -> AssetCode {
    AssetCode::new("CNY").unwrap()
}

pub fn hkd() -> AssetCode {
    AssetCode::new("HKD").unwrap()
}

pub fn params() -> Params {
    let lim = |asset, single, daily, step: Option<u128>| AssetLimits {
        asset,
        single_max: Amount(single),
        daily_max: Amount(daily),
        step_up_threshold: step.map(Amount),
    };
    let mut t2 = vec![
        lim(cny(), 10_000, 50_000, Some(5_000)),
        lim(hkd(), 10_000, 50_000, None),
    ];
    t2.sort_by_key(|l| l.asset);
    Params {
        utc_offset_seconds: 8 * 3600,
        settlement_cycle_seconds: 86_400,
        fx_providers: Vec::new(),
        identity: None,
        tiers: vec![
            TierParams {
                tier: Tier(1),
                name: "basic".into(),
                limits: vec![lim(cny(), 1_000, 3_000, None)],
            },
            TierParams {
                tier: Tier(2),
                name: "verified".into(),
                limits: t2,
            },
        ],
    }
}

pub struct Chain {
    pub store: MemStore,
    pub chain_id: ChainId,
    pub height: u64,
    pub time: u64,
    pub bank_a: Keypair,
    pub bank_b: Keypair,
    pub regulator: Keypair,
    /// customers[i] is at bank A for even i, bank B for odd i; tier 1 for
    /// i % 4 == 0, tier 2 otherwise.
    pub customers: Vec<Keypair>,
    pub state_roots: Vec<Hash>,
    /// With [`Chain::governed`]: the members' institution keys (bank A,
    /// bank B, then the others) and node keys, in validator order.
    pub members: Vec<Keypair>,
    pub nodes: Vec<Keypair>,
    pub regulator_node: Option<Keypair>,
}

pub fn addr(k: &Keypair) -> Address {
    Address::of(&k.public())
}

impl Chain {
    pub fn new(customers: usize, seed: u64) -> Chain {
        Chain::build(customers, seed, None)
    }

    /// A chain whose state also holds the consortium: `members` validator
    /// members (bank A, bank B and more, at least 2) and the regulator,
    /// voting by `voting`.
    pub fn governed(customers: usize, seed: u64, members: usize, voting: VotingRules) -> Chain {
        Chain::build(customers, seed, Some((members, voting)))
    }

    fn build(customers: usize, seed: u64, governed: Option<(usize, VotingRules)>) -> Chain {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let bank_a = Keypair::generate(&mut rng);
        let bank_b = Keypair::generate(&mut rng);
        let regulator = Keypair::generate(&mut rng);
        let customers: Vec<Keypair> = (0..customers)
            .map(|_| Keypair::generate(&mut rng))
            .collect();
        // Bank B quotes CNY/HKD for payments versus payments.
        let mut chain_params = params();
        chain_params.fx_providers = vec![addr(&bank_b)];
        let mut state: Vec<(StateKey, StateValue)> =
            vec![(StateKey::Params, StateValue::Params(chain_params))];
        let mut account = |k: &Keypair, kind, institution| {
            state.push((
                StateKey::Account(addr(k)),
                StateValue::Account(Account {
                    owner: k.public(),
                    kind,
                    institution,
                    sequence: Nonce(0),
                    frozen: None,
                    restriction: None,
                }),
            ));
        };
        account(&bank_a, AccountKind::Institution, addr(&bank_a));
        account(&bank_b, AccountKind::Institution, addr(&bank_b));
        account(&regulator, AccountKind::Regulator, addr(&regulator));
        for (i, c) in customers.iter().enumerate() {
            let bank = if i % 2 == 0 { &bank_a } else { &bank_b };
            let tier = if i % 4 == 0 { 1 } else { 2 };
            account(
                c,
                AccountKind::Customer {
                    tier: Tier(tier),
                    identity_commitment: Hash::tagged(b"test-identity", &(i as u64).to_le_bytes()),
                },
                addr(bank),
            );
        }
        let holders: Vec<Address> = [&bank_a, &bank_b]
            .into_iter()
            .chain(customers.iter())
            .map(addr)
            .collect();
        for h in &holders {
            for asset in [cny(), hkd()] {
                state.push((
                    StateKey::Balance(*h, asset),
                    StateValue::Balance(hutong_runtime::state::Holding::of(Amount(START_BALANCE))),
                ));
            }
        }
        let supply = Amount(START_BALANCE * holders.len() as u128);
        for (asset, issuer) in [(cny(), addr(&bank_a)), (hkd(), addr(&bank_b))] {
            state.push((
                StateKey::Asset(asset),
                StateValue::Asset(AssetInfo {
                    code: asset,
                    decimals: 2,
                    issuer,
                    total_supply: supply,
                }),
            ));
        }
        let mut members = Vec::new();
        let mut nodes = Vec::new();
        let mut regulator_node = None;
        if let Some((count, voting)) = governed {
            members.push(bank_a.clone());
            members.push(bank_b.clone());
            for _ in 2..count {
                let k = Keypair::generate(&mut rng);
                state.push((
                    StateKey::Account(addr(&k)),
                    StateValue::Account(Account {
                        owner: k.public(),
                        kind: AccountKind::Institution,
                        institution: addr(&k),
                        sequence: Nonce(0),
                        frozen: None,
                        restriction: None,
                    }),
                ));
                members.push(k);
            }
            nodes = (0..count).map(|_| Keypair::generate(&mut rng)).collect();
            let reg_node = Keypair::generate(&mut rng);
            let mut consortium = Consortium {
                epoch: 0,
                epoch_start: Height(1),
                active_validators: Vec::new(),
                set_change_pending: None,
                dev_chain: false,
                members: members
                    .iter()
                    .zip(&nodes)
                    .enumerate()
                    .map(|(i, (m, n))| MemberEntry {
                        name: format!("member-{i}"),
                        account: addr(m),
                        institution_key: m.public(),
                        node_key: n.public(),
                        role: MemberRole::Validator,
                        p2p_address: None,
                    })
                    .collect(),
                regulators: vec![RegulatorEntry {
                    name: "regulator".into(),
                    account: addr(&regulator),
                    key: regulator.public(),
                    node_key: reg_node.public(),
                    p2p_address: None,
                }],
                assets: vec![cny(), hkd()],
                voting,
                timing: ConsensusTiming::default(),
            };
            consortium.active_validators = consortium.validator_keys();
            state.push((StateKey::Consortium, StateValue::Consortium(consortium)));
            regulator_node = Some(reg_node);
        }
        let mut store = MemStore::new();
        let update =
            prepare_commit(&store, 0, state.into_iter().map(|(k, v)| (k, Some(v)))).unwrap();
        let root = update.root;
        store.apply_update(update);
        Chain {
            store,
            chain_id: ChainId(Hash::tagged(b"test-chain", &seed.to_le_bytes()).0),
            height: 0,
            time: T0,
            bank_a,
            bank_b,
            regulator,
            customers,
            state_roots: vec![root],
            members,
            nodes,
            regulator_node,
        }
    }

    /// The same chain with the regulator's identity service in its
    /// parameters (the keys are placeholders: the runtime checks the
    /// envelopes' structure, only the regulator's node opens them).
    #[allow(dead_code)]
    pub fn with_identity(mut self) -> Chain {
        let mut p = match hutong_runtime::store::read_value(&self.store, &StateKey::Params).unwrap()
        {
            Some(StateValue::Params(p)) => p,
            other => panic!("no parameters: {other:?}"),
        };
        p.identity = Some(hutong_runtime::state::IdentityParams {
            oprf_key: [0x0e; 32],
            hpke_key: [0x0f; 32],
        });
        let update = prepare_commit(
            &self.store,
            self.height + 1,
            [(StateKey::Params, Some(StateValue::Params(p)))],
        )
        .unwrap();
        self.state_roots.push(update.root);
        self.store.apply_update(update);
        self.height += 1;
        self
    }

    pub fn unsigned(&self, from: &Keypair, kind: TxKind) -> Transaction {
        Transaction {
            chain_id: self.chain_id,
            sender: from.public(),
            sequence: self.sequence(&addr(from)),
            expiry: Expiry::Height(Height(self.height + 100)),
            kind,
            cosigner: None,
            memo: Vec::new(),
        }
    }

    /// A transaction from `from` with its next sequence number.
    pub fn tx(&self, from: &Keypair, kind: TxKind) -> SignedTransaction {
        self.unsigned(from, kind).sign(from)
    }

    pub fn transfer(
        &self,
        from: &Keypair,
        to: Address,
        asset: AssetCode,
        amount: u128,
        id: u128,
    ) -> SignedTransaction {
        self.tx(
            from,
            TxKind::Transfer {
                to,
                asset,
                amount: Amount(amount),
                transfer_id: hutong_runtime::TransferId(id),
            },
        )
    }

    /// A CNY transfer co-signed by `institution` (named in the body).
    pub fn transfer_cosigned(
        &self,
        from: &Keypair,
        to: Address,
        amount: u128,
        institution: &Keypair,
    ) -> SignedTransaction {
        let kind = TxKind::Transfer {
            to,
            asset: cny(),
            amount: Amount(amount),
            transfer_id: hutong_runtime::TransferId(1),
        };
        self.unsigned(from, kind).sign_cosigned(from, institution)
    }

    pub fn context(&self) -> BlockContext {
        BlockContext {
            chain_id: self.chain_id,
            height: Height(self.height + 1),
            timestamp: TimestampMs(self.time),
            // As if every block claimed its parent's result.
            certified: Height(self.height),
        }
    }

    /// Executes a block, commits it, and returns the receipts.
    pub fn execute(&mut self, txs: &[SignedTransaction]) -> Vec<Receipt> {
        let certified = self.height;
        self.execute_certifying(txs, certified)
    }

    /// Executes a block whose payload claims the result of `certified`.
    pub fn execute_certifying(
        &mut self,
        txs: &[SignedTransaction],
        certified: u64,
    ) -> Vec<Receipt> {
        let mut ctx = self.context();
        ctx.certified = Height(certified);
        let outcome = execute_block(&self.store, &ctx, txs, SignatureCheck::Verify).unwrap();
        let update = prepare_commit(&self.store, ctx.height.0, outcome.changes).unwrap();
        self.state_roots.push(update.root);
        self.store.apply_update(update);
        self.height += 1;
        self.time += 1_000;
        outcome.receipts
    }

    /// Executes one transaction in its own block.
    pub fn run(&mut self, tx: SignedTransaction) -> Receipt {
        self.execute(&[tx]).pop().unwrap()
    }

    pub fn account(&self, a: &Address) -> Option<Account> {
        match read_value(&self.store, &StateKey::Account(*a)).unwrap() {
            Some(StateValue::Account(acct)) => Some(acct),
            None => None,
            other => panic!("not an account: {other:?}"),
        }
    }

    pub fn sequence(&self, a: &Address) -> Nonce {
        self.account(a).map(|a| a.sequence).unwrap_or(Nonce(0))
    }

    pub fn balance(&self, a: &Address, asset: AssetCode) -> u128 {
        match read_value(&self.store, &StateKey::Balance(*a, asset)).unwrap() {
            Some(StateValue::Balance(b)) => b.balance.0,
            None => 0,
            other => panic!("not a balance: {other:?}"),
        }
    }

    pub fn supply(&self, asset: AssetCode) -> u128 {
        match read_value(&self.store, &StateKey::Asset(asset)).unwrap() {
            Some(StateValue::Asset(info)) => info.total_supply.0,
            other => panic!("not an asset: {other:?}"),
        }
    }

    /// The sum of every balance of `asset` in the store.
    pub fn sum_balances(&self, asset: AssetCode) -> u128 {
        self.store
            .entries()
            .into_iter()
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::Balance(_, a), StateValue::Balance(b)) if a == asset => {
                    Some(b.balance.0)
                }
                _ => None,
            })
            .sum()
    }
}

/// `MemStore::apply` with the error unwrapped (tests only).
pub trait ApplyUpdate {
    fn apply_update(&mut self, update: hutong_runtime::StateUpdate);
}

impl ApplyUpdate for MemStore {
    fn apply_update(&mut self, update: hutong_runtime::StateUpdate) {
        use hutong_runtime::StateStore;
        self.apply(update).unwrap();
    }
}

/// Governance reads and transactions.
impl Chain {
    pub fn consortium(&self) -> Consortium {
        match read_value(&self.store, &StateKey::Consortium).unwrap() {
            Some(StateValue::Consortium(c)) => c,
            other => panic!("no consortium: {other:?}"),
        }
    }

    pub fn proposal(&self, id: u64) -> hutong_runtime::governance::Proposal {
        match read_value(&self.store, &StateKey::Proposal(id)).unwrap() {
            Some(StateValue::Proposal(p)) => p,
            other => panic!("no proposal {id}: {other:?}"),
        }
    }

    /// A transaction signed by `key` for the account at `account` (whose
    /// address is not the key's after a key rotation).
    pub fn tx_for(&self, account: Address, key: &Keypair, kind: TxKind) -> SignedTransaction {
        let mut tx = self.unsigned(key, kind);
        tx.sequence = self.sequence(&account);
        tx.sign(key)
    }
}
