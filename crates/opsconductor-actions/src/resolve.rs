//! Host-name resolution shared by every executor.
//!
//! Names under `.invalid` (RFC 6761 §6.4) are answered "no such host" without a query: the
//! RFC asks resolvers to do exactly that, and it means a typo'd placeholder in a job never
//! sends a DNS query off the agent's segment (and tests can exercise DNS failure without
//! leaving loopback).

use std::io;
use std::net::SocketAddr;

/// Resolves `name` like `getaddrinfo` (`/etc/hosts`, then DNS), except for reserved names.
pub async fn lookup_host(name: &str, port: u16) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    if is_reserved_invalid(name) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no such host (names under .invalid never resolve)",
        ));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port)).await?.collect();
    Ok(addrs.into_iter())
}

fn is_reserved_invalid(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name.eq_ignore_ascii_case("invalid")
        || name
            .rsplit_once('.')
            .is_some_and(|(_, tld)| tld.eq_ignore_ascii_case("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalid_names_fail_without_a_query() {
        for name in ["no-such-host.invalid", "A.INVALID.", "invalid"] {
            let err = lookup_host(name, 80).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{name}");
        }
    }

    #[tokio::test]
    async fn other_names_go_to_the_system_resolver() {
        let addrs: Vec<_> = lookup_host("localhost", 80).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(!is_reserved_invalid("invalid.example"));
    }
}
