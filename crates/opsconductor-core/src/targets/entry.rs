//! One written entry — address, CIDR, range or hostname — parsed into an interval or a name.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::target::{address_problem, normalize_hostname, parse_ip, quote};

/// A parsed entry: an inclusive address interval of one family, or one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    V4(u32, u32),
    V6(u128, u128),
    Host(String),
}

/// What a CIDR stands for where it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CidrMode {
    /// In a selection: the usable hosts. An IPv4 block of /30 or wider leaves out its
    /// network and broadcast addresses (pinging a broadcast address is never what an
    /// operator wants); /31 and /32 (RFC 3021) and every IPv6 block keep all addresses.
    Hosts,
    /// In an exclusion or a segment: every address of the block.
    Block,
}

/// Splits a list written by a person — `10.0.0.1, 10.0.0.5-9 host.example` — into entries.
///
/// Commas and whitespace separate entries; whitespace around a range's `-` is tolerated
/// (`10.0.0.1 - 10.0.0.9` is one range).
pub(crate) fn split_list(value: &str) -> Vec<Cow<'_, str>> {
    let is_sep = |c: char| c == ',' || c.is_whitespace();
    if !value.contains('-') {
        return value
            .split(is_sep)
            .filter(|t| !t.is_empty())
            .map(Cow::Borrowed)
            .collect();
    }
    // Glue ranges written with spaces around the dash back together.
    let mut glued = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            let mut lookahead = chars.clone();
            while lookahead.peek().is_some_and(|c| c.is_whitespace()) {
                lookahead.next();
            }
            if lookahead.peek() == Some(&'-') && !glued.is_empty() && !glued.ends_with(is_sep) {
                chars = lookahead;
                continue;
            }
            glued.push(c);
        } else if c == '-' {
            glued.push(c);
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            glued.push(c);
        }
    }
    glued
        .split(is_sep)
        .filter(|t| !t.is_empty())
        .map(|t| Cow::Owned(t.to_owned()))
        .collect()
}

/// Parses one entry: an address, a CIDR, a range (`a-b`, or `10.0.0.1-50` / `2001:db8::1-ff`
/// changing the last octet / group) or a hostname. The error is a complete sentence that
/// quotes the entry.
pub(crate) fn parse_entry(token: &str, mode: CidrMode) -> Result<Entry, String> {
    let token = token.trim();
    if token.is_empty() {
        return Err("empty entry".to_owned());
    }
    let fail = |reason: &str| Err(format!("{}: {reason}", quote(token)));
    if let Some((addr, prefix)) = token.split_once('/') {
        return parse_cidr(addr, prefix, mode).or_else(|r| fail(&r));
    }
    if let Some(ip) = parse_ip(token) {
        return Ok(single(ip));
    }
    if let Some((left, right)) = token.split_once('-') {
        if let Some(start) = parse_ip(left) {
            return parse_range(start, right).or_else(|r| fail(&r));
        }
        if (left.contains('.') || left.contains(':'))
            && normalize_hostname(token).is_err()
            && let Some(problem) = address_problem(left)
        {
            return fail(&format!("range start {}: {problem}", quote(left)));
        }
    }
    if let Some(problem) = address_problem(token) {
        return fail(&problem);
    }
    normalize_hostname(token)
        .map(Entry::Host)
        .or_else(|r| fail(&r))
}

fn single(ip: IpAddr) -> Entry {
    match ip {
        IpAddr::V4(v4) => {
            let a = u32::from(v4);
            Entry::V4(a, a)
        }
        IpAddr::V6(v6) => {
            let a = u128::from(v6);
            Entry::V6(a, a)
        }
    }
}

fn parse_cidr(addr: &str, prefix: &str, mode: CidrMode) -> Result<Entry, String> {
    let Some(ip) = parse_ip(addr) else {
        return Err(address_problem(addr)
            .map(|p| format!("network address {}: {p}", quote(addr)))
            .unwrap_or_else(|| format!("network address {} is not an IP address", quote(addr))));
    };
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "prefix length {} is not a number from 0 to {max}",
            quote(prefix)
        ));
    }
    let len = prefix.parse::<u32>().unwrap_or(u32::MAX);
    if len > u32::from(max) {
        let shown = if prefix.len() > 10 {
            quote(prefix)
        } else {
            prefix.trim_start_matches('0').to_owned()
        };
        return Err(format!("prefix length {shown} is longer than {max}"));
    }
    Ok(match ip {
        IpAddr::V4(v4) => {
            let (start, end) = v4_block(u32::from(v4), len);
            if mode == CidrMode::Hosts && len <= 30 {
                Entry::V4(start + 1, end - 1)
            } else {
                Entry::V4(start, end)
            }
        }
        IpAddr::V6(v6) => {
            let (start, end) = v6_block(u128::from(v6), len);
            Entry::V6(start, end)
        }
    })
}

/// First and last address of the IPv4 block of `len` bits containing `addr`.
pub(crate) fn v4_block(addr: u32, len: u32) -> (u32, u32) {
    let host_mask = u32::MAX.checked_shr(len).unwrap_or(0);
    (addr & !host_mask, addr | host_mask)
}

/// First and last address of the IPv6 block of `len` bits containing `addr`.
pub(crate) fn v6_block(addr: u128, len: u32) -> (u128, u128) {
    let host_mask = u128::MAX.checked_shr(len).unwrap_or(0);
    (addr & !host_mask, addr | host_mask)
}

fn parse_range(start: IpAddr, right: &str) -> Result<Entry, String> {
    let end = match parse_ip(right) {
        Some(end) => end,
        None => short_range_end(start, right)?,
    };
    match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            let (s, e) = (u32::from(s), u32::from(e));
            if e < s {
                return Err("range end is before its start".to_owned());
            }
            Ok(Entry::V4(s, e))
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => {
            let (s, e) = (u128::from(s), u128::from(e));
            if e < s {
                return Err("range end is before its start".to_owned());
            }
            Ok(Entry::V6(s, e))
        }
        _ => Err("range mixes IPv4 and IPv6 addresses".to_owned()),
    }
}

/// `10.0.0.1-50` → `10.0.0.50`; `2001:db8::1-ff` → `2001:db8::ff`.
fn short_range_end(start: IpAddr, right: &str) -> Result<IpAddr, String> {
    match start {
        IpAddr::V4(s) => {
            let octet = (!right.is_empty()
                && right.len() <= 3
                && right.bytes().all(|b| b.is_ascii_digit()))
            .then(|| right.parse::<u8>().ok())
            .flatten();
            let Some(octet) = octet else {
                return Err(format!(
                    "range end {} is neither an IPv4 address nor a last octet from 0 to 255",
                    quote(right)
                ));
            };
            let [a, b, c, _] = s.octets();
            Ok(IpAddr::V4(Ipv4Addr::new(a, b, c, octet)))
        }
        IpAddr::V6(s) => {
            let group = (!right.is_empty() && right.len() <= 4)
                .then(|| u16::from_str_radix(right, 16).ok())
                .flatten()
                .filter(|_| right.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(group) = group else {
                return Err(format!(
                    "range end {} is neither an IPv6 address nor a last group of 1-4 hex digits",
                    quote(right)
                ));
            };
            let mut segments = s.segments();
            segments[7] = group;
            Ok(IpAddr::V6(Ipv6Addr::from(segments)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn ok(token: &str) -> Entry {
        parse_entry(token, CidrMode::Hosts).unwrap()
    }

    fn err(token: &str) -> String {
        parse_entry(token, CidrMode::Hosts).unwrap_err()
    }

    #[test]
    fn each_entry_form_parses() {
        assert_eq!(ok("10.0.0.1"), Entry::V4(v4("10.0.0.1"), v4("10.0.0.1")));
        assert_eq!(
            ok("10.0.0.0/24"),
            Entry::V4(v4("10.0.0.1"), v4("10.0.0.254"))
        );
        assert_eq!(ok("10.0.0.0/31"), Entry::V4(v4("10.0.0.0"), v4("10.0.0.1")));
        assert_eq!(ok("10.0.0.7/32"), Entry::V4(v4("10.0.0.7"), v4("10.0.0.7")));
        assert_eq!(ok("10.0.0.9/24"), ok("10.0.0.0/24"));
        assert_eq!(
            parse_entry("10.0.0.0/24", CidrMode::Block).unwrap(),
            Entry::V4(v4("10.0.0.0"), v4("10.0.0.255"))
        );
        assert_eq!(
            ok("10.0.0.1-10.0.0.50"),
            Entry::V4(v4("10.0.0.1"), v4("10.0.0.50"))
        );
        assert_eq!(
            ok("10.0.0.1-50"),
            Entry::V4(v4("10.0.0.1"), v4("10.0.0.50"))
        );
        assert_eq!(ok("2001:db8::1-ff"), ok("2001:db8::1-2001:db8::ff"));
        assert_eq!(ok("2001:db8::/126"), ok("2001:db8::0-2001:db8::3"));
        assert_eq!(
            ok("Core-SW1.example"),
            Entry::Host("core-sw1.example".into())
        );
        assert_eq!(
            ok("10-0-0-1.example"),
            Entry::Host("10-0-0-1.example".into())
        );
        assert_eq!(ok("0.0.0.0/0"), Entry::V4(1, u32::MAX - 1));
        assert_eq!(ok("::/0"), Entry::V6(0, u128::MAX));
    }

    #[test]
    fn bad_entries_are_explained() {
        assert_eq!(
            err("10.0.0.0/33"),
            r#""10.0.0.0/33": prefix length 33 is longer than 32"#
        );
        assert_eq!(
            err("10.0.0.50-10.0.0.1"),
            r#""10.0.0.50-10.0.0.1": range end is before its start"#
        );
        assert!(err("10.0.0.1-2001:db8::1").contains("mixes IPv4 and IPv6"));
        assert!(err("10.0.0.1-300").contains("last octet"));
        assert!(err("10.0.0.0/x").contains("not a number"));
        assert!(err("10.0.0.0/").contains("not a number"));
        assert!(err("2001:db8::/129").contains("longer than 128"));
        assert!(err("10.0.0.0/99999999999999999999").contains("longer than 32"));
        assert!(err("10.0.0.300/24").contains("300 is larger than 255"));
        assert!(err("10.0.0.300-10.0.0.301").contains("range start"));
        assert!(err("10.0.0.256").contains("larger than 255"));
        assert!(err("2001:db8::g").contains("IPv6"));
        assert!(err("bad_host").contains("'_'"));
        assert!(err("fe80::1%eth0").contains("zone"));
    }

    #[test]
    fn lists_split_on_commas_and_whitespace_and_keep_spaced_ranges_whole() {
        assert_eq!(
            split_list(" 10.0.0.1,10.0.0.2\n\thost-a , 10.0.0.5 - 10.0.0.9,,10.0.1.1 -20 "),
            vec![
                "10.0.0.1",
                "10.0.0.2",
                "host-a",
                "10.0.0.5-10.0.0.9",
                "10.0.1.1-20"
            ]
        );
        assert!(split_list(" , \n").is_empty());
        assert_eq!(split_list("- 10.0.0.1"), vec!["-10.0.0.1"]);
    }
}
