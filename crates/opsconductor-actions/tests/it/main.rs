//! Integration tests of the executors and the chunk runner against real servers on
//! loopback (`scripts/test-servers.sh start` starts snmpd and sshd; HTTP servers start in
//! the tests themselves). One test binary for the crate.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod http;
mod ping;
mod runner;
mod snmp;
mod ssh;
mod tcp;
