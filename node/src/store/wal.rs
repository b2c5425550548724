//! The write-ahead log's damaged tail, cut before RocksDB reads it.
//!
//! After a crash, or on a disk that lost or garbled its last sectors, the
//! newest WAL may end in a torn or garbled record. Point-in-time recovery
//! (our `wal_recovery_mode`) keeps the log up to the last intact record
//! and drops the rest; but RocksDB's own reader has been seen to spin
//! without end on some garbage (facebook/rocksdb#13333), so a node would
//! never open. Before RocksDB opens, this module reads the WAL records
//! itself and cuts the newest log at the start of the first logical
//! record that is not intact: what point-in-time recovery keeps, exactly.
//! Damage in a log that newer logs follow is not cut (that would open a
//! hole): the database is refused with a message instead.
//!
//! The format (RocksDB's `db/log_format.h`): the file is a sequence of
//! 32 KiB blocks; a block holds physical records, each a 7-byte header —
//! masked CRC-32C (4, little-endian), payload length (2, little-endian),
//! type (1) — then the payload; the recyclable types (5–8 and 11) carry a
//! 4-byte log number after the type. The checksum covers the type, the
//! log number if any, and the payload. A logical record is one `FULL`
//! record or `FIRST`, `MIDDLE`…, `LAST`. Fewer than a header's bytes left
//! in a block are zero padding; a zero header is preallocated space, the
//! end of the log.

use std::path::{Path, PathBuf};

const BLOCK: usize = 32 * 1024;
const HEADER: usize = 7;
const RECYCLABLE_HEADER: usize = HEADER + 4;

const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;
const RECYCLABLE_FULL: u8 = 5;
const RECYCLABLE_LAST: u8 = 8;
const RECYCLABLE_TIMESTAMP_SIZE: u8 = 11;

/// Where a log's intact records end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bytes of whole, intact logical records from the start.
    pub intact: u64,
    /// The file's length.
    pub len: u64,
}

impl Scan {
    pub fn damaged(&self) -> bool {
        self.intact < self.len
    }
}

/// The intact prefix of one log's bytes.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let len = bytes.len();
    // The end of the last whole logical record, and whether one is open.
    let mut intact = 0usize;
    let mut open = false;
    let mut at = 0usize;
    while at < len {
        let left_in_block = BLOCK - at % BLOCK;
        if left_in_block < HEADER {
            // A block's trailer: padding, which must be zeros.
            let end = (at + left_in_block).min(len);
            if bytes[at..end].iter().any(|b| *b != 0) {
                break;
            }
            at = end;
            if !open {
                intact = at;
            }
            continue;
        }
        if len - at < HEADER {
            break;
        }
        let header = &bytes[at..at + HEADER];
        let stored = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let size = usize::from(u16::from_le_bytes([header[4], header[5]]));
        let kind = header[6];
        if kind == 0 {
            // Preallocated space (all zeros) or garbage: the end either way.
            break;
        }
        let recyclable = (RECYCLABLE_FULL..=RECYCLABLE_LAST).contains(&kind)
            || kind == RECYCLABLE_TIMESTAMP_SIZE
            || (kind >= 128 && kind % 2 == 1);
        let head = if recyclable {
            RECYCLABLE_HEADER
        } else {
            HEADER
        };
        let end = at + head + size;
        if head > left_in_block || end > at - at % BLOCK + BLOCK || end > len {
            break;
        }
        let crc = crc32c(&bytes[at + 6..end]);
        if unmask(stored) != crc {
            break;
        }
        // Fragments must come in order: FIRST, MIDDLE…, LAST.
        let fragment = match kind {
            FULL | RECYCLABLE_FULL => Some(false),
            FIRST | 6 => Some(true),
            MIDDLE | 7 => {
                if !open {
                    break;
                }
                None
            }
            LAST | RECYCLABLE_LAST => {
                if !open {
                    break;
                }
                Some(false)
            }
            // Metadata records (timestamp sizes, predecessor WAL info):
            // whole in themselves.
            _ => Some(open),
        };
        if matches!(kind, FULL | RECYCLABLE_FULL | FIRST | 6) && open {
            // A new record while one is open: the open one never ended.
            break;
        }
        at = end;
        if let Some(still_open) = fragment {
            open = still_open;
        }
        if !open {
            intact = at;
        }
    }
    Scan {
        intact: intact as u64,
        len: len as u64,
    }
}

/// The write-ahead logs of a database folder, oldest first.
fn logs(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let number = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = number {
            out.push((n, path));
        }
    }
    out.sort();
    Ok(out)
}

/// What [`cut_damaged_tail`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Repair {
    /// Every log is intact (or there is none).
    Intact,
    /// The newest log was cut from `len` to `intact` bytes.
    Cut { log: PathBuf, intact: u64, len: u64 },
}

/// A log that newer logs follow is damaged: cutting it would lose what
/// they depend on.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("the write-ahead log {log} is damaged at byte {at} of {len}, and newer logs follow it: the database cannot be brought back to a block boundary; restore this node from a snapshot or a peer (hutong node join)")]
    DamagedBeforeNewest { log: String, at: u64, len: u64 },
    #[error("reading the write-ahead log {log}: {error}")]
    Io { log: String, error: std::io::Error },
}

/// Cuts the newest log of `dir` after its last intact logical record.
pub(crate) fn cut_damaged_tail(dir: &Path) -> Result<Repair, WalError> {
    let io = |log: &Path| {
        let log = log.display().to_string();
        move |error| WalError::Io { log, error }
    };
    let logs = match logs(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Repair::Intact),
        Err(e) => return Err(io(dir)(e)),
    };
    let Some(((_, newest), older)) = logs.split_last() else {
        return Ok(Repair::Intact);
    };
    for (_, log) in older {
        let bytes = std::fs::read(log).map_err(io(log))?;
        let s = scan(&bytes);
        // An older log ends where its writer switched logs: whole records,
        // perhaps preallocated zeros after them, nothing else.
        let tail_is_zeros = bytes[s.intact as usize..].iter().all(|b| *b == 0);
        if s.damaged() && !tail_is_zeros {
            return Err(WalError::DamagedBeforeNewest {
                log: log.display().to_string(),
                at: s.intact,
                len: s.len,
            });
        }
    }
    let bytes = std::fs::read(newest).map_err(io(newest))?;
    let s = scan(&bytes);
    if !s.damaged() || bytes[s.intact as usize..].iter().all(|b| *b == 0) {
        return Ok(Repair::Intact);
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(newest)
        .map_err(io(newest))?;
    file.set_len(s.intact).map_err(io(newest))?;
    file.sync_all().map_err(io(newest))?;
    Ok(Repair::Cut {
        log: newest.clone(),
        intact: s.intact,
        len: s.len,
    })
}

/// RocksDB's stored checksums are masked (`crc32c::Mask`).
fn unmask(masked: u32) -> u32 {
    let rot = masked.wrapping_sub(0xa282_ead8);
    rot.rotate_left(15)
}

/// CRC-32C (Castagnoli), reflected, as RocksDB's `crc32c::Value`.
fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82f6_3b78
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for b in bytes {
        crc = TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(crc: u32) -> u32 {
        crc.rotate_right(15).wrapping_add(0xa282_ead8)
    }

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut checked = vec![kind];
        checked.extend_from_slice(payload);
        let mut out = mask(crc32c(&checked)).to_le_bytes().to_vec();
        out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        out.extend_from_slice(&checked);
        out
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(unmask(mask(0x1234_5678)), 0x1234_5678);
    }

    #[test]
    fn intact_records_are_kept_and_a_damaged_tail_is_cut() {
        let mut log = record(FULL, b"block 1");
        log.extend(record(FIRST, b"block 2, part one"));
        log.extend(record(LAST, b"part two"));
        let whole = log.len() as u64;
        assert_eq!(
            scan(&log),
            Scan {
                intact: whole,
                len: whole
            }
        );
        // Garbage appended.
        let mut appended = log.clone();
        appended.extend([0x5a; 100]);
        assert_eq!(scan(&appended).intact, whole);
        // A torn last fragment: back to the start of its logical record.
        let mut torn = record(FULL, b"block 1");
        let first_end = torn.len() as u64;
        torn.extend(record(FIRST, b"block 2, part one"));
        torn.extend(&record(LAST, b"part two")[..5]);
        assert_eq!(scan(&torn).intact, first_end);
        // A flipped payload bit.
        let mut flipped = log.clone();
        let n = flipped.len();
        flipped[n - 1] ^= 1;
        assert_eq!(scan(&flipped).intact, first_end);
        // A fragment out of order.
        let mut orphan = record(FULL, b"x");
        let orphan_end = orphan.len() as u64;
        orphan.extend(record(LAST, b"y"));
        assert_eq!(scan(&orphan).intact, orphan_end);
    }

    #[test]
    fn records_cross_blocks_with_zero_trailers() {
        let mut log = Vec::new();
        // Fill the first block to 3 bytes short of its end: a trailer.
        let payload = vec![7u8; BLOCK - HEADER - 3];
        log.extend(record(FULL, &payload));
        log.extend([0, 0, 0]);
        log.extend(record(FULL, b"next block"));
        let whole = log.len() as u64;
        assert_eq!(scan(&log).intact, whole);
        // A non-zero trailer is damage.
        let mut bad = log.clone();
        bad[BLOCK - 2] = 1;
        assert_eq!(scan(&bad).intact, (BLOCK - 3) as u64);
    }

    #[test]
    fn the_newest_log_is_cut_and_an_older_damaged_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = record(FULL, b"one");
        let mut newest = good.clone();
        newest.extend([9u8; 40]);
        std::fs::write(dir.path().join("000007.log"), &good).unwrap();
        std::fs::write(dir.path().join("000009.log"), &newest).unwrap();
        match cut_damaged_tail(dir.path()).unwrap() {
            Repair::Cut { intact, len, .. } => {
                assert_eq!((intact, len), (good.len() as u64, newest.len() as u64))
            }
            other => panic!("not cut: {other:?}"),
        }
        assert_eq!(std::fs::read(dir.path().join("000009.log")).unwrap(), good);
        assert_eq!(cut_damaged_tail(dir.path()).unwrap(), Repair::Intact);
        // Damage in the older log, with a newer one after it: refused.
        std::fs::write(dir.path().join("000007.log"), &newest).unwrap();
        let refused = cut_damaged_tail(dir.path()).unwrap_err();
        assert!(
            matches!(refused, WalError::DamagedBeforeNewest { .. }),
            "{refused}"
        );
    }
}
