//! Integration tests of the executors and the chunk runner against real servers on
//! loopback (`scripts/test-servers.sh start` starts snmpd and sshd; HTTP servers start in
//! the tests themselves). One test binary for the crate.

mod support;

mod http;
mod ping;
mod runner;
mod snmp;
mod ssh;
mod tcp;
