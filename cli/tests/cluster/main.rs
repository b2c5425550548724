//! Multi-process clusters of the real `hutong` binary on loopback: four
//! validators and a regulator, ports chosen free at run time. One test
//! binary, one cluster at a time (five nodes already fill a 2-core
//! machine); a file per theme, over a shared harness.

mod harness;

mod bench;
mod byzantine;
mod ceremony;
mod commit;
mod deploy;
mod faults;
mod governance;
mod hostile;
mod identity;
mod join;
mod partitions;
mod reconfigure;
mod recovery;
mod regulator;
mod settlement;
mod soak;
