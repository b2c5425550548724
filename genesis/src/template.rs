//! Generating a genesis and its keys from a few choices: the local
//! consortium of `hutong genesis new` and `hutong testnet`.

use std::collections::BTreeMap;

use hutong_runtime::crypto::Hash;
use hutong_runtime::Keypair;

use crate::doc::{
    AccountDoc, AmountDoc, AssetDoc, GenesisDoc, IdentityDoc, LimitDoc, MemberDoc, RegulatorDoc,
    Role, TierDoc,
};

#[derive(Debug, Clone)]
pub struct TemplateOptions {
    pub consortium: String,
    pub validators: usize,
    pub observers: usize,
    pub regulator: bool,
    /// Customer accounts to create, spread over the members, each funded
    /// with both demo assets.
    pub demo_accounts: usize,
    pub genesis_time_ms: u64,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            consortium: "Hutong demo consortium".into(),
            validators: 4,
            observers: 0,
            regulator: true,
            demo_accounts: 8,
            // 2026-01-01T00:00:00+08:00
            genesis_time_ms: 1_767_196_800_000,
        }
    }
}

/// A key and the file name it should be saved under (without extension).
#[derive(Debug)]
pub struct NamedKey {
    pub name: String,
    pub key: Keypair,
}

#[derive(Debug)]
pub struct Generated {
    pub doc: GenesisDoc,
    pub keys: Vec<NamedKey>,
}

const MEMBER_NAMES: [&str; 8] = [
    "bank-a", "wallet-b", "mall-c", "ride-d", "bank-e", "wallet-f", "mall-g", "ride-h",
];

/// Minor units of one whole CNY or HKD (2 decimals).
const UNIT: u128 = 100;

/// Builds a genesis with fresh keys from `rng`. The demo risk tiers: tier 1
/// (basic), 2 (verified) and 3 (enhanced), with limits in both CNY and HKD,
/// and a step-up threshold from tier 2 on.
pub fn generate<R: rand_core::CryptoRngCore>(opts: &TemplateOptions, rng: &mut R) -> Generated {
    // The seed of the regulator's identity keys (saved as a key file, for
    // its node's `[audit] identity_key`).
    let identity_seed = opts.regulator.then(|| Keypair::generate(rng));
    let identity = identity_seed.as_ref().map(|seed| {
        let public = hutong_privacy::keys::IdentityKeys::from_seed(&seed.secret_bytes())
            .expect("a 32-byte seed derives identity keys")
            .public();
        IdentityDoc {
            oprf_key: hex::encode(public.oprf),
            hpke_key: hex::encode(public.hpke),
        }
    });
    // Each member's memo seed (saved as a key file, for its node's
    // `[memo] key`).
    let member_count = opts.validators + opts.observers;
    let memo_seeds: Vec<Keypair> = (0..member_count).map(|_| Keypair::generate(rng)).collect();
    let mut keys = Vec::new();
    let mut new_key = |name: String| -> String {
        let key = Keypair::generate(rng);
        let public = key.public().to_hex();
        keys.push(NamedKey { name, key });
        public
    };
    let name_of = |i: usize| -> String {
        MEMBER_NAMES
            .get(i)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("member-{}", i + 1))
    };
    let mut members = Vec::with_capacity(member_count);
    for (i, memo_seed) in memo_seeds.iter().enumerate() {
        let name = name_of(i);
        let role = if i < opts.validators {
            Role::Validator
        } else {
            Role::Observer
        };
        members.push(MemberDoc {
            institution_key: new_key(format!("{name}.institution")),
            node_key: new_key(format!("{name}.node")),
            name,
            role,
            p2p_address: None,
            balances: demo_balances(10_000_000 * UNIT),
            // The second member quotes FX for payments versus payments.
            fx_provider: i == member_count.min(2) - 1,
            memo_key: Some(hex::encode(
                hutong_privacy::keys::memo_key(&memo_seed.secret_bytes()).public_key(),
            )),
        });
    }
    let regulators = if opts.regulator {
        vec![RegulatorDoc {
            name: "regulator".into(),
            key: new_key("regulator".into()),
            node_key: new_key("regulator.node".into()),
            p2p_address: None,
            identity,
        }]
    } else {
        Vec::new()
    };
    let assets = vec![
        AssetDoc {
            code: "CNY".into(),
            decimals: 2,
            issuer: name_of(0),
        },
        AssetDoc {
            code: "HKD".into(),
            decimals: 2,
            issuer: name_of(if member_count > 1 { 1 } else { 0 }),
        },
    ];
    let tier = |tier: u8, name: &str, single: u128, daily: u128, step_up: Option<u128>| TierDoc {
        tier,
        name: name.into(),
        limits: ["CNY", "HKD"]
            .iter()
            .map(|asset| LimitDoc {
                asset: (*asset).into(),
                single_max: AmountDoc::from_u128(single * UNIT),
                daily_max: AmountDoc::from_u128(daily * UNIT),
                step_up_threshold: step_up.map(|s| AmountDoc::from_u128(s * UNIT)),
            })
            .collect(),
    };
    let tiers = vec![
        tier(1, "basic", 5_000, 20_000, None),
        tier(2, "verified", 50_000, 200_000, Some(10_000)),
        tier(3, "enhanced", 1_000_000, 5_000_000, Some(100_000)),
    ];
    let mut accounts = Vec::with_capacity(opts.demo_accounts);
    for i in 0..opts.demo_accounts {
        accounts.push(AccountDoc {
            owner_key: new_key(format!("account-{}", i + 1)),
            institution: name_of(i % member_count.max(1)),
            tier: (i % 3) as u8 + 1,
            identity_commitment: Hash::tagged(b"hutong/demo-identity", &(i as u64).to_le_bytes())
                .to_hex(),
            balances: demo_balances(100_000 * UNIT),
        });
    }
    for (i, key) in memo_seeds.into_iter().enumerate() {
        keys.push(NamedKey {
            name: format!("{}.memo", name_of(i)),
            key,
        });
    }
    if let Some(key) = identity_seed {
        keys.push(NamedKey {
            name: "regulator.identity".into(),
            key,
        });
    }
    Generated {
        doc: GenesisDoc {
            consortium: opts.consortium.clone(),
            utc_offset: "+08:00".into(),
            genesis_time_ms: opts.genesis_time_ms,
            dev_chain: opts.validators == 1,
            settlement_cycle_seconds: None,
            members,
            regulators,
            assets,
            tiers,
            accounts,
            governance: Default::default(),
        },
        keys,
    }
}

fn demo_balances(each: u128) -> BTreeMap<String, AmountDoc> {
    ["CNY", "HKD"]
        .iter()
        .map(|a| (a.to_string(), AmountDoc::from_u128(each)))
        .collect()
}
