//! Names and decimals from the genesis, so that answers read as an
//! analyst expects: institutions by name, amounts as decimals.

use std::collections::HashMap;

use crate::api::LegView;
use crate::edge::Edge;
use hutong_genesis::Genesis;
use hutong_runtime::{Address, AssetCode};

/// Names and decimals from the genesis, for readable answers.
#[derive(Debug, Clone)]
pub struct Names {
    institutions: HashMap<Address, String>,
    decimals: HashMap<AssetCode, u8>,
}

impl Names {
    pub fn new(genesis: &Genesis) -> Names {
        let mut institutions = HashMap::new();
        for m in &genesis.members {
            institutions.insert(Address::of(&m.institution_key), m.name.clone());
        }
        for r in &genesis.regulators {
            institutions.insert(Address::of(&r.key), r.name.clone());
        }
        Names {
            institutions,
            decimals: genesis
                .assets
                .iter()
                .map(|a| (a.code, a.decimals))
                .collect(),
        }
    }

    pub fn institution(&self, a: &Address) -> String {
        self.institutions
            .get(a)
            .cloned()
            .unwrap_or_else(|| a.to_string())
    }

    /// An institution given by name or address.
    pub fn institution_address(&self, s: &str) -> Option<Address> {
        if let Some((a, _)) = self.institutions.iter().find(|(_, n)| n.as_str() == s) {
            return Some(*a);
        }
        s.parse().ok()
    }

    /// The genesis' assets, in code order.
    pub fn assets(&self) -> Vec<AssetCode> {
        let mut out: Vec<AssetCode> = self.decimals.keys().copied().collect();
        out.sort_by_key(|a| a.to_string());
        out
    }

    /// `amount` minor units as a decimal string ("12.34").
    pub fn display(&self, asset: &AssetCode, amount: u128) -> String {
        let d = u32::from(self.decimals.get(asset).copied().unwrap_or(0));
        if d == 0 {
            return amount.to_string();
        }
        let unit = 10u128.pow(d);
        format!(
            "{}.{:0width$}",
            amount / unit,
            amount % unit,
            width = d as usize
        )
    }

    /// A leg as the audit API shows it: institutions by name, the amount
    /// also as a decimal.
    pub fn leg(&self, e: &Edge) -> LegView {
        LegView {
            height: e.height,
            index: e.index,
            leg: e.leg,
            timestamp_ms: e.timestamp_ms,
            tx_hash: e.tx_hash.to_string(),
            kind: e.kind,
            from: e.from.to_string(),
            from_institution: self.institution(&e.from_institution),
            to: e.to.to_string(),
            to_institution: self.institution(&e.to_institution),
            asset: e.asset.map(|a| a.to_string()),
            amount: e.amount.0.to_string(),
            amount_display: e.asset.map(|a| self.display(&a, e.amount.0)),
            success: e.succeeded(),
            failure: e.failure.clone(),
        }
    }
}
