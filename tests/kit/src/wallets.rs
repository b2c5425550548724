//! Accounts that sign transactions at their next sequence number, as a
//! wallet does, with unique transfer ids.

use std::collections::HashMap;

use hutong_runtime::tx::Expiry;
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, SignedTransaction, Transaction,
    TransferId, TxKind,
};

#[derive(Debug)]
pub struct Wallets {
    pub chain_id: ChainId,
    keys: Vec<Keypair>,
    next: HashMap<usize, u64>,
    next_id: u128,
    /// The expiry every transaction carries.
    pub expiry: Expiry,
}

impl Wallets {
    pub fn new(chain_id: ChainId, keys: Vec<Keypair>) -> Wallets {
        Wallets {
            chain_id,
            keys,
            next: HashMap::new(),
            next_id: 1,
            expiry: Expiry::Height(Height(1_000_000)),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn key(&self, i: usize) -> &Keypair {
        &self.keys[i]
    }

    pub fn address(&self, i: usize) -> Address {
        Address::of(&self.keys[i].public())
    }

    /// The sequence number account `i` signs with next.
    pub fn next_sequence(&self, i: usize) -> u64 {
        self.next.get(&i).copied().unwrap_or(0)
    }

    /// Sets account `i`'s next sequence (what the ledger says it is).
    pub fn set_next_sequence(&mut self, i: usize, sequence: u64) {
        self.next.insert(i, sequence);
    }

    /// Steps account `i` back one sequence number: its next transaction
    /// reuses the last one's (a replay, for tests that want one).
    pub fn rewind(&mut self, i: usize) {
        let seq = self.next.entry(i).or_insert(0);
        *seq = seq.saturating_sub(1);
    }

    /// Sets the transfer id the next transfer carries.
    pub fn set_next_transfer_id(&mut self, id: u128) {
        self.next_id = id;
    }

    /// The demo asset every test transfers.
    pub fn cny() -> AssetCode {
        AssetCode::new("CNY").expect("a valid asset code")
    }

    /// A transfer of `amount` minor units of `asset`, at `from`'s next
    /// sequence.
    pub fn transfer_of(
        &mut self,
        from: usize,
        to: usize,
        asset: AssetCode,
        amount: u128,
    ) -> SignedTransaction {
        let kind = TxKind::Transfer {
            to: self.address(to),
            asset,
            amount: Amount(amount),
            transfer_id: TransferId(self.next_id),
        };
        self.next_id += 1;
        self.signed(from, kind)
    }

    /// A CNY transfer to any address (an account these wallets do not hold).
    pub fn transfer_to(&mut self, from: usize, to: Address, amount: u128) -> SignedTransaction {
        let kind = TxKind::Transfer {
            to,
            asset: Wallets::cny(),
            amount: Amount(amount),
            transfer_id: TransferId(self.next_id),
        };
        self.next_id += 1;
        self.signed(from, kind)
    }

    /// A CNY transfer.
    pub fn transfer(&mut self, from: usize, to: usize, amount: u128) -> SignedTransaction {
        self.transfer_of(from, to, Wallets::cny(), amount)
    }

    /// Any transaction from account `from`, at its next sequence.
    pub fn signed(&mut self, from: usize, kind: TxKind) -> SignedTransaction {
        let seq = self.next.entry(from).or_insert(0);
        let tx = Transaction {
            chain_id: self.chain_id,
            sender: self.keys[from].public(),
            sequence: Nonce(*seq),
            expiry: self.expiry,
            kind,
            cosigner: None,
            memo: Vec::new(),
        };
        *seq += 1;
        tx.sign(&self.keys[from])
    }
}
