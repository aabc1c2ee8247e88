//! Target expansion and routing, through the public API only.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use opsconductor_core::ValidationError;
use opsconductor_core::model::segment::Segment;
use opsconductor_core::targets::{
    CsvColumn, DEFAULT_MAX_TARGETS, ExpandedTargets, FileSelector, GroupResolver,
    LARGE_MAX_TARGETS, NoGroups, SegmentRouter, Selector, Target, TargetRun, TargetSpec,
    decode_file_bytes, expand, validate_segments,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers

fn ok(spec: &TargetSpec) -> ExpandedTargets {
    expand(spec, &NoGroups).unwrap_or_else(|e| panic!("{e}"))
}

fn err(spec: &TargetSpec) -> ValidationError {
    match expand(spec, &NoGroups) {
        Ok(t) => panic!("expected an error, got {} targets", t.len()),
        Err(e) => e,
    }
}

fn strings(targets: &ExpandedTargets) -> Vec<String> {
    targets.iter().map(|t| t.to_string()).collect()
}

fn range(value: &str) -> ExpandedTargets {
    ok(&TargetSpec::range(value))
}

/// The single error's (field, message).
fn only_error(e: &ValidationError) -> (&str, &str) {
    assert_eq!(e.errors.len(), 1, "{e}");
    (&e.errors[0].field, &e.errors[0].message)
}

fn file_spec(file: FileSelector) -> TargetSpec {
    TargetSpec::new(vec![Selector::File(file)])
}

fn segment(name: &str, cidrs: &[&str]) -> Segment {
    let cidrs = cidrs
        .iter()
        .map(|c| c.parse().expect("test CIDR"))
        .collect();
    Segment::new(name, cidrs).expect("test segment")
}

// ---------------------------------------------------------------- selectors

#[test]
fn a_range_value_mixes_addresses_cidrs_ranges_and_hostnames() {
    let t = range("10.0.0.200, 10.0.1.0/30 10.0.2.7-10.0.2.9\nCore-SW1.example");
    assert_eq!(
        strings(&t),
        [
            "10.0.0.200",
            "10.0.1.1",
            "10.0.1.2",
            "10.0.2.7",
            "10.0.2.8",
            "10.0.2.9",
            "core-sw1.example"
        ]
    );
    assert_eq!(t.len(), 7);
    assert!(t.invalid.is_empty());
}

#[test]
fn a_cidr_yields_its_hosts_without_network_and_broadcast() {
    let t = range("192.168.1.0/24");
    assert_eq!(t.len(), 254);
    assert_eq!(t.first(1), ["192.168.1.1".parse::<Target>().unwrap()]);
    assert_eq!(t.iter().last().unwrap().to_string(), "192.168.1.254");
    assert_eq!(
        strings(&range("192.168.1.6/31")),
        ["192.168.1.6", "192.168.1.7"]
    );
    assert_eq!(strings(&range("192.168.1.6/32")), ["192.168.1.6"]);
}

#[test]
fn short_ranges_replace_the_last_octet_or_group() {
    assert_eq!(
        strings(&range("10.0.0.1-3")),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    );
    assert_eq!(range("10.0.0.1-50").len(), 50);
    assert_eq!(range("10.0.0.1 - 10.0.0.50").len(), 50);
    assert_eq!(
        strings(&range("2001:db8::fe-100")),
        ["2001:db8::fe", "2001:db8::ff", "2001:db8::100"]
    );
}

#[test]
fn ipv6_addresses_cidrs_and_ranges_expand() {
    let t = range("2001:db8::/126 [2001:db8::10] 2001:db8::20-2001:db8::21");
    assert_eq!(
        strings(&t),
        [
            "2001:db8::",
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::3",
            "2001:db8::10",
            "2001:db8::20",
            "2001:db8::21"
        ]
    );
    assert_eq!(range("2001:db8::/112").len(), 65_536);
}

#[test]
fn a_hosts_list_normalises_hostnames_and_accepts_addresses() {
    let spec = TargetSpec::new(vec![Selector::hosts([
        "SW1.Example.",
        "sw1.example",
        "10.1.1.1",
        "2001:db8::1",
    ])]);
    assert_eq!(
        strings(&ok(&spec)),
        ["sw1.example", "10.1.1.1", "2001:db8::1"]
    );
}

// ---------------------------------------------------------------- exclusions and order

#[test]
fn exclusions_subtract_addresses_ranges_cidrs_and_hostnames() {
    let spec = TargetSpec::new(vec![
        Selector::range("10.0.0.0/27"),
        Selector::hosts(["a.example", "b.example"]),
    ])
    .excluding("10.0.0.1-10.0.0.9")
    .excluding("10.0.0.16/29, 10.0.0.30")
    .excluding("A.example");
    let t = ok(&spec);
    let expected: Vec<String> = (10..=15)
        .chain(24..=29)
        .map(|i| format!("10.0.0.{i}"))
        .chain(["b.example".to_owned()])
        .collect();
    assert_eq!(strings(&t), expected);
    assert_eq!(
        t.runs(),
        [
            TargetRun::V4(Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 15)),
            TargetRun::V4(Ipv4Addr::new(10, 0, 0, 24), Ipv4Addr::new(10, 0, 0, 29)),
            TargetRun::Host("b.example".into()),
        ]
    );
}

#[test]
fn overlapping_exclusions_and_an_exclusion_of_everything_leave_nothing() {
    let spec = TargetSpec::range("10.0.0.0/24")
        .excluding("10.0.0.0/25")
        .excluding("10.0.0.100-10.0.0.200")
        .excluding("10.0.0.128/25");
    let t = ok(&spec);
    assert!(t.is_empty());
    assert_eq!(t.iter().count(), 0);
    assert_eq!(t.chunks(250).count(), 0);
}

#[test]
fn duplicates_keep_their_first_position() {
    let spec = TargetSpec::new(vec![
        Selector::range("10.0.0.5 10.0.0.1-10.0.0.3"),
        Selector::hosts(["10.0.0.2", "h.example", "10.0.0.6"]),
        Selector::range("10.0.0.0/29 H.example"),
    ]);
    assert_eq!(
        strings(&ok(&spec)),
        [
            "10.0.0.5",
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "h.example",
            "10.0.0.6",
            "10.0.0.4"
        ]
    );
}

#[test]
fn adjacent_entries_merge_into_one_run() {
    let t = range("10.0.0.1 10.0.0.2 10.0.0.3-10.0.0.9 10.0.0.10");
    assert_eq!(t.runs().len(), 1);
    assert_eq!(t.len(), 10);
}

// ---------------------------------------------------------------- the cap

#[test]
fn cidr_above_cap_is_refused_without_override() {
    let e = err(&TargetSpec::range("10.0.0.0/8"));
    let (field, message) = only_error(&e);
    assert_eq!(field, "include[0]");
    assert!(message.contains("16777214"), "{message}");
    assert!(message.contains("65536"), "{message}");
    assert!(message.contains("allow_large"), "{message}");
}

#[test]
fn a_slash_16_fits_the_default_cap() {
    assert_eq!(range("10.20.0.0/16").len(), 65_534);
    assert_eq!(range("10.20.0.0-10.20.255.255").len(), DEFAULT_MAX_TARGETS);
}

#[test]
fn the_cap_counts_the_whole_spec_and_names_the_selector_that_crossed_it() {
    let spec = TargetSpec::new(vec![
        Selector::range("10.1.0.0/17"),
        Selector::range("10.1.0.0/17"),
        Selector::range("10.2.0.0/17"),
        Selector::range("10.3.0.0/24"),
        Selector::range("10.4.0.0/24"),
    ]);
    let e = err(&spec);
    let (field, message) = only_error(&e);
    assert_eq!(field, "include[3]");
    assert!(
        message.starts_with(
            r#"range "10.3.0.0/24" brings the target count to 65786 (66040 for the whole spec), more than the limit of 65536"#
        ),
        "{message}"
    );
}

#[test]
fn allow_large_accepts_a_slash_8_without_materialising_it() {
    let spec = TargetSpec::range("10.0.0.0/8")
        .excluding("10.20.0.0/16")
        .allowing_large(true);
    let t = ok(&spec);
    assert_eq!(t.len(), 16_777_214 - 65_536);
    assert_eq!(t.runs().len(), 2);
    assert_eq!(
        strings(&ExpandedTargets::from_iter(t.first(2))),
        ["10.0.0.1", "10.0.0.2"]
    );
}

#[test]
fn exclusions_count_before_the_cap() {
    let spec = TargetSpec::range("10.0.0.0/8")
        .excluding("10.0.0.0/9")
        .excluding("10.128.0.0/10")
        .excluding("10.192.0.0/11")
        .excluding("10.224.0.0/12")
        .excluding("10.240.0.0/13")
        .excluding("10.248.0.0/14")
        .excluding("10.252.0.0/15")
        .excluding("10.254.0.0/16");
    assert_eq!(ok(&spec).len(), 65_535);
}

#[test]
fn ipv6_blocks_above_the_ceiling_are_refused_even_with_allow_large() {
    let e = err(&TargetSpec::range("2001:db8::/64").allowing_large(true));
    let (field, message) = only_error(&e);
    assert_eq!(field, "include[0]");
    assert!(message.contains("18446744073709551616"), "{message}");
    assert!(
        message.contains(&LARGE_MAX_TARGETS.to_string()),
        "{message}"
    );
    let e = err(&TargetSpec::range("::/0"));
    assert!(only_error(&e).1.contains("more than 2^128"), "{e}");
}

#[test]
fn max_targets_sets_a_lower_cap() {
    let mut spec = TargetSpec::range("10.0.0.0/24");
    spec.max_targets = Some(100);
    let e = err(&spec);
    let (field, message) = only_error(&e);
    assert_eq!(field, "include[0]");
    assert!(message.contains("max_targets of 100"), "{message}");
    spec.max_targets = Some(254);
    assert_eq!(ok(&spec).len(), 254);
}

#[test]
fn max_targets_above_the_cap_needs_allow_large() {
    let mut spec = TargetSpec::range("10.0.0.1");
    spec.max_targets = Some(100_000);
    let e = err(&spec);
    assert_eq!(only_error(&e).0, "max_targets");
    spec.allow_large = true;
    assert_eq!(ok(&spec).len(), 1);
    spec.max_targets = Some(0);
    assert_eq!(only_error(&err(&spec)).0, "max_targets");
}

// ---------------------------------------------------------------- hard errors

#[test]
fn bad_entries_are_errors_at_their_field() {
    let spec = TargetSpec::new(vec![
        Selector::range("10.0.0.0/33"),
        Selector::hosts(["ok.example", "10.0.0.1", "fine", "bad_host"]),
        Selector::range("10.0.0.50-10.0.0.1, 10.0.0.1-2001:db8::1"),
        Selector::range("  "),
    ])
    .excluding("10.0.0.256");
    let e = err(&spec);
    let got: Vec<(&str, &str)> = e
        .errors
        .iter()
        .map(|f| (f.field.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(got.len(), 6, "{e}");
    assert_eq!(got[0].0, "exclude[0]");
    assert!(got[0].1.contains("256 is larger than 255"), "{e}");
    assert_eq!(
        got[1],
        (
            "include[0].value",
            r#""10.0.0.0/33": prefix length 33 is longer than 32"#
        )
    );
    assert_eq!(got[2].0, "include[1].hosts[3]");
    assert!(got[2].1.starts_with(r#""bad_host": "#), "{e}");
    assert_eq!(
        got[3],
        (
            "include[2].value",
            r#""10.0.0.50-10.0.0.1": range end is before its start"#
        )
    );
    assert_eq!(got[4].0, "include[2].value");
    assert!(got[4].1.contains("mixes IPv4 and IPv6"), "{e}");
    assert_eq!(got[5].0, "include[3].value");
}

#[test]
fn an_empty_spec_and_an_empty_host_list_are_refused() {
    assert_eq!(only_error(&err(&TargetSpec::new(vec![]))).0, "include");
    let spec = TargetSpec::new(vec![Selector::Hosts { hosts: vec![] }]);
    assert_eq!(only_error(&err(&spec)).0, "include[0].hosts");
}

#[test]
fn a_flood_of_bad_entries_is_summarised() {
    let value = vec!["nope_"; 500].join(" ");
    let e = err(&TargetSpec::range(value));
    assert_eq!(e.errors.len(), 21);
    assert_eq!(e.errors[20].message, "and 480 more invalid entries");
}

// ---------------------------------------------------------------- files

#[test]
fn a_lines_file_skips_comments_and_reports_bad_lines_by_number() {
    let content = "# core routers\n10.0.0.1\n\n10.0.0.2  # spine\r\nnot_a_host\n10.0.0.0/30\n10.0.0.1 10.0.0.9\n";
    let t = ok(&file_spec(FileSelector::lines("routers.txt", content)));
    assert_eq!(strings(&t), ["10.0.0.1", "10.0.0.2"]);
    let lines: Vec<(usize, &str)> = t
        .invalid
        .iter()
        .map(|l| (l.line, l.text.as_str()))
        .collect();
    assert_eq!(lines, [(5, "not_a_host"), (7, "10.0.0.1 10.0.0.9")]);
    assert!(t.invalid.iter().all(|l| l.field == "include[0].content"));
    assert!(t.invalid[0].reason.contains("'_'"), "{:?}", t.invalid[0]);
    assert!(
        t.invalid[1].reason.contains("expected one entry, found 2"),
        "{:?}",
        t.invalid[1]
    );
}

#[test]
fn a_lines_file_holds_cidrs_ranges_and_hostnames() {
    let content = "10.1.0.0/29\n10.2.0.1-3\nHOST.example\n2001:db8::1\n";
    assert_eq!(
        ok(&file_spec(FileSelector::lines("t", content))).len(),
        6 + 3 + 1 + 1
    );
}

#[test]
fn a_csv_file_takes_the_named_column_and_reports_bad_rows() {
    let content = "name,IP,site\nsw1,10.0.0.1,hq\n\"sw2, spare\",10.0.0.2,hq\nsw3,,hq\nsw4\nsw5,10.0.0.999,hq\nsw6,\"10.0.0.6\",\"dc\n";
    let t = ok(&file_spec(FileSelector::csv(
        "switches.csv",
        content,
        CsvColumn::Name("ip".into()),
    )));
    assert_eq!(strings(&t), ["10.0.0.1", "10.0.0.2"]);
    let got: Vec<(usize, &str)> = t
        .invalid
        .iter()
        .map(|l| (l.line, l.reason.as_str()))
        .collect();
    assert_eq!(got[0], (4, r#"column "ip" is empty"#));
    assert_eq!(
        got[1],
        (5, r#"column "ip" is missing: the line has 1 field"#)
    );
    assert_eq!(got[2].0, 6);
    assert!(got[2].1.contains("999 is larger than 255"), "{got:?}");
    assert_eq!(got[3], (7, "a quoted field is not closed"));
}

#[test]
fn a_csv_column_can_be_a_number_with_or_without_a_header() {
    let with_header = FileSelector::csv("a.csv", "host,addr\nx,10.0.0.1\n", CsvColumn::Index(2));
    assert_eq!(strings(&ok(&file_spec(with_header))), ["10.0.0.1"]);
    let mut headerless = FileSelector::csv(
        "b.csv",
        "x;10.0.0.1\ny;10.0.0.2\n",
        CsvColumn::Name("2".into()),
    );
    headerless.has_header = Some(false);
    headerless.delimiter = Some(';');
    assert_eq!(
        strings(&ok(&file_spec(headerless))),
        ["10.0.0.1", "10.0.0.2"]
    );
}

#[test]
fn a_missing_csv_column_is_an_error_naming_the_column() {
    let e = err(&file_spec(FileSelector::csv(
        "hosts.csv",
        "host,address\nsw1,10.0.0.1\n",
        CsvColumn::Name("ip".into()),
    )));
    let (field, message) = only_error(&e);
    assert_eq!(field, "include[0].column");
    assert_eq!(
        message,
        r#"no column named "ip" in the header of "hosts.csv" (columns: "host", "address")"#
    );
    let e = err(&file_spec(FileSelector::csv(
        "h.csv",
        "a,b\n",
        CsvColumn::Index(3),
    )));
    assert!(only_error(&e).1.contains("past the last column"), "{e}");
    let e = err(&file_spec(FileSelector::csv(
        "h.csv",
        "a,b\n",
        CsvColumn::Index(0),
    )));
    assert_eq!(
        only_error(&e),
        ("include[0].column", "columns are numbered from 1")
    );
    let mut lines = FileSelector::lines("x", "10.0.0.1");
    lines.column = Some(CsvColumn::Index(1));
    assert_eq!(only_error(&err(&file_spec(lines))).0, "include[0].column");
}

#[test]
fn a_binary_file_is_an_error_naming_the_first_bad_line() {
    let junk: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe";
    let e = err(&file_spec(FileSelector::lines(
        "photo.png",
        decode_file_bytes(junk),
    )));
    let (field, message) = only_error(&e);
    assert_eq!(field, "include[0].content");
    assert!(
        message.starts_with(
            r#"no usable target in "photo.png": 3 invalid lines, the first at line 1"#
        ),
        "{message}"
    );
}

#[test]
fn a_mostly_good_file_with_stray_bytes_still_expands() {
    let bytes = b"10.0.0.1\n10.0.\xff0.2\n\x00\x00\n10.0.0.3\n";
    let t = ok(&file_spec(FileSelector::lines(
        "x.txt",
        decode_file_bytes(bytes),
    )));
    assert_eq!(strings(&t), ["10.0.0.1", "10.0.0.3"]);
    assert_eq!(t.invalid.len(), 2);
    assert_eq!(
        (t.invalid[0].line, t.invalid[0].reason.as_str()),
        (2, "not valid UTF-8 text")
    );
    assert_eq!(t.invalid[1].line, 3);
    assert_eq!(t.invalid[1].text, r"\u{0}\u{0}");
    assert!(t.invalid[1].reason.contains("NUL"), "{:?}", t.invalid[1]);
}

#[test]
fn a_file_of_only_comments_is_refused() {
    let e = err(&file_spec(FileSelector::lines(
        "empty.txt",
        "# nothing\n\n",
    )));
    assert_eq!(
        only_error(&e),
        ("include[0].content", r#""empty.txt" contains no targets"#)
    );
}

#[test]
fn invalid_line_text_is_cut_to_200_characters() {
    let long = format!("10.0.0.1\n{}\n", "x_".repeat(1000));
    let t = ok(&file_spec(FileSelector::lines("l", long)));
    assert_eq!(t.invalid[0].text.chars().count(), 201);
    assert!(t.invalid[0].text.ends_with('…'));
}

#[test]
fn invalid_lines_are_capped_and_counted() {
    let mut content = String::from("10.0.0.1\n");
    for _ in 0..1500 {
        content.push_str("bad_line\n");
    }
    let t = ok(&file_spec(FileSelector::lines("l", content)));
    assert_eq!(t.invalid.len(), 1000);
    assert_eq!(t.invalid_omitted, 500);
}

// ---------------------------------------------------------------- groups

struct Inventory;

impl GroupResolver for Inventory {
    fn resolve(&self, group: &str) -> Result<Vec<String>, String> {
        match group {
            "core-switches" => Ok(vec![
                "sw1.example".into(),
                "10.9.0.0/30".into(),
                "not a host".into(),
                "sw1.example".into(),
            ]),
            _ => Err("no such group".into()),
        }
    }
}

#[test]
fn a_group_resolves_through_the_callers_inventory() {
    let spec = TargetSpec::new(vec![Selector::group("core-switches")]);
    let t = expand(&spec, &Inventory).unwrap();
    assert_eq!(strings(&t), ["sw1.example", "10.9.0.1", "10.9.0.2"]);
    assert_eq!(t.invalid.len(), 1);
    assert_eq!(
        (t.invalid[0].field.as_str(), t.invalid[0].line),
        ("include[0].group", 3)
    );

    let missing = TargetSpec::new(vec![Selector::group("edge")]);
    let e = expand(&missing, &Inventory).unwrap_err();
    assert_eq!(
        only_error(&e),
        (
            "include[0].group",
            r#"inventory group "edge": no such group"#
        )
    );
}

#[test]
fn groups_are_unavailable_without_an_inventory() {
    let e = err(&TargetSpec::new(vec![Selector::group("core-switches")]));
    assert!(
        only_error(&e)
            .1
            .contains("inventory groups are not available here"),
        "{e}"
    );
}

// ---------------------------------------------------------------- routing

fn router() -> SegmentRouter {
    SegmentRouter::new(
        &[
            segment("west", &["10.0.0.0/9"]),
            segment("east", &["10.128.0.0/10", "2001:db8::/32"]),
            segment("lab", &["10.20.0.0/16", "10.20.5.7/32"]),
            segment("lab-bench", &["10.20.5.0/24"]),
        ],
        "default",
    )
}

#[test]
fn routing_picks_the_longest_prefix_and_falls_back_to_the_default() {
    let r = router();
    let route = |s: &str| r.route_ip(s.parse().unwrap()).to_owned();
    assert_eq!(route("10.1.2.3"), "west");
    assert_eq!(route("10.20.0.1"), "lab");
    assert_eq!(route("10.20.5.6"), "lab-bench");
    assert_eq!(route("10.20.5.7"), "lab");
    assert_eq!(route("10.20.6.0"), "lab");
    assert_eq!(route("10.130.0.1"), "east");
    assert_eq!(route("10.200.0.1"), "default");
    assert_eq!(route("192.168.0.1"), "default");
    assert_eq!(route("2001:db8::1"), "east");
    assert_eq!(route("2001:db9::1"), "default");
    assert_eq!(r.route(&Target::host("a.example").unwrap()), "default");
}

#[test]
fn split_parts_keep_order_and_add_up_to_the_total() {
    let spec = TargetSpec::new(vec![
        Selector::range("10.20.5.250-10.20.6.2"),
        Selector::hosts(["h.example"]),
        Selector::range("10.0.0.0/8"),
        Selector::range("192.168.0.1 2001:db8::5"),
    ])
    .excluding("10.64.0.0/10")
    .allowing_large(true);
    let t = ok(&spec);
    let parts = router().split(&t);
    let lens: Vec<(&str, u64)> = parts.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    assert_eq!(
        lens,
        [
            ("default", 1 + (1 << 22) - 1 + 1),
            ("east", (1 << 22) + 1),
            ("lab", (1 << 16) - 256 + 1),
            ("lab-bench", 255),
            ("west", (1 << 23) - (1 << 22) - (1 << 16) - 1),
        ]
    );
    assert_eq!(
        parts.values().map(ExpandedTargets::len).sum::<u64>(),
        t.len()
    );
    let first = |name: &str, n: usize| -> Vec<String> {
        parts[name]
            .first(n)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(first("default", 2), ["h.example", "10.192.0.0"]);
    assert_eq!(
        first("lab-bench", 8),
        [
            "10.20.5.250",
            "10.20.5.251",
            "10.20.5.252",
            "10.20.5.253",
            "10.20.5.254",
            "10.20.5.255",
            "10.20.5.0",
            "10.20.5.1"
        ]
    );
    assert_eq!(
        first("lab", 4),
        ["10.20.6.0", "10.20.6.1", "10.20.6.2", "10.20.0.0"]
    );
    assert_eq!(
        parts["default"].iter().last().unwrap().to_string(),
        "192.168.0.1"
    );
}

#[test]
fn an_override_sends_everything_to_one_segment() {
    let t = range("10.1.0.1 10.130.0.1 h.example");
    let parts = router().split_with_override(&t, Some("lab"));
    assert_eq!(parts.len(), 1);
    assert_eq!(strings(&parts["lab"]), strings(&t));
    assert_eq!(router().split_with_override(&t, None).len(), 3);
    assert!(router().knows("lab") && router().knows("default") && !router().knows("mars"));
}

#[test]
fn a_cidr_in_two_segments_is_refused_by_validation() {
    let segments = [
        segment("a", &["10.0.0.0/16"]),
        segment("b", &["10.0.0.0/16", "10.0.1.0/24"]),
        segment("a", &[]),
    ];
    let e = validate_segments(&segments).unwrap_err();
    let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["segments[1].cidrs[0]", "segments[2].name"]);
    // The router itself lets the first listed segment win.
    let r = SegmentRouter::new(&segments, "default");
    assert_eq!(r.route_ip("10.0.0.1".parse().unwrap()), "a");
    assert_eq!(r.route_ip("10.0.1.1".parse().unwrap()), "b");
    assert!(validate_segments(&segments[..1]).is_ok());
}

#[test]
fn a_slash_16_materialises_into_chunks_of_250() {
    let t = range("127.0.0.0/16");
    let chunks: Vec<Vec<Target>> = t.chunks(250).collect();
    assert_eq!(chunks.len(), 263);
    assert!(chunks[..262].iter().all(|c| c.len() == 250));
    assert_eq!(chunks[262].len(), 65_534 - 262 * 250);
    assert_eq!(chunks[0][0].to_string(), "127.0.0.1");
}

// ---------------------------------------------------------------- properties

/// One generated entry over a small address window, so a naive model can enumerate it.
#[derive(Debug, Clone)]
enum Gen {
    Single(u32),
    Cidr(u32, u8),
    Range(u32, u32),
    Short(u32, u8),
    Host(u8),
}

const V4_BASE: u32 = 0x0A00_0000; // 10.0.0.0
const V6_BASE: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0000;

fn gen_entry() -> impl Strategy<Value = (bool, Gen)> {
    let entry = prop_oneof![
        (0u32..1024).prop_map(Gen::Single),
        (0u32..1024, 22u8..=32).prop_map(|(a, l)| Gen::Cidr(a, l)),
        (0u32..1024, 0u32..300).prop_map(|(a, n)| Gen::Range(a, a + n)),
        (0u32..1024, 0u8..=255).prop_map(|(a, b)| Gen::Short(a, b)),
        (0u8..5).prop_map(Gen::Host),
    ];
    (any::<bool>(), entry)
}

fn v4(offset: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(V4_BASE + offset))
}

fn v6(offset: u32) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(V6_BASE + u128::from(offset)))
}

/// Renders an entry (IPv6 when `six`), and lists what it should stand for, or `None` when it
/// is not valid (a short range ending before its start).
fn render(six: bool, entry: &Gen, excluding: bool) -> (String, Option<Vec<Target>>) {
    let addr = |o: u32| if six { v6(o) } else { v4(o) };
    let ips = |from: u32, to: u32| Some((from..=to).map(|o| Target::Ip(addr(o))).collect());
    match *entry {
        Gen::Single(a) => (addr(a).to_string(), ips(a, a)),
        Gen::Cidr(a, len) => {
            let len = if six {
                u32::from(len) + 96
            } else {
                u32::from(len)
            };
            let host_bits = if six { 128 - len } else { 32 - len };
            let start = a & !((1u32 << host_bits) - 1);
            let end = start + ((1u32 << host_bits) - 1);
            let hosts_only = !six && !excluding && len <= 30;
            let (from, to) = if hosts_only {
                (start + 1, end - 1)
            } else {
                (start, end)
            };
            (format!("{}/{len}", addr(a)), ips(from, to))
        }
        Gen::Range(a, b) => (format!("{}-{}", addr(a), addr(b)), ips(a, b)),
        Gen::Short(a, last) => {
            let (text, end) = if six {
                let end = (a & !0xFFFF) | u32::from(last);
                (format!("{}-{last:x}", addr(a)), end)
            } else {
                let end = (a & !0xFF) | u32::from(last);
                (format!("{}-{last}", addr(a)), end)
            };
            (text, if end < a { None } else { ips(a, end) })
        }
        Gen::Host(h) => {
            let name = format!("host{h}.example");
            (name.clone(), Some(vec![Target::Host(name)]))
        }
    }
}

/// Expands the spec the slow, obvious way.
fn naive(includes: &[Vec<Target>], excludes: &[Vec<Target>]) -> Vec<Target> {
    let excluded: HashSet<&Target> = excludes.iter().flatten().collect();
    let mut seen = HashSet::new();
    includes
        .iter()
        .flatten()
        .filter(|t| !excluded.contains(t) && seen.insert((*t).clone()))
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn expansion_matches_a_naive_model(
        includes in prop::collection::vec(gen_entry(), 1..8),
        excludes in prop::collection::vec(gen_entry(), 0..5),
    ) {
        let mut selectors = Vec::new();
        let mut model_in = Vec::new();
        for (six, entry) in &includes {
            let (text, expect) = render(*six, entry, false);
            if let Some(expect) = expect {
                selectors.push(Selector::range(text));
                model_in.push(expect);
            }
        }
        let mut exclude = Vec::new();
        let mut model_ex = Vec::new();
        for (six, entry) in &excludes {
            let (text, expect) = render(*six, entry, true);
            if let Some(expect) = expect {
                exclude.push(text);
                model_ex.push(expect);
            }
        }
        prop_assume!(!selectors.is_empty());
        let mut spec = TargetSpec::new(selectors);
        spec.exclude = exclude;
        let t = expand(&spec, &NoGroups).unwrap();
        let got: Vec<Target> = t.iter().collect();
        prop_assert_eq!(&got, &naive(&model_in, &model_ex));
        prop_assert_eq!(t.len(), got.len() as u64);
        prop_assert_eq!(t.iter().size_hint(), (got.len(), Some(got.len())));
        prop_assert_eq!(t.chunks(7).flatten().collect::<Vec<_>>(), got.clone());
        prop_assert_eq!(ExpandedTargets::from_iter(got.clone()).iter().collect::<Vec<_>>(), got);
    }

    #[test]
    fn split_parts_partition_the_targets(
        includes in prop::collection::vec(gen_entry(), 1..6),
        blocks in prop::collection::vec((0usize..3, any::<bool>(), 0u32..1024, 20u8..=32), 0..6),
    ) {
        let selectors: Vec<Selector> = includes
            .iter()
            .filter_map(|(six, e)| {
                let (text, expect) = render(*six, e, false);
                expect.map(|_| Selector::range(text))
            })
            .collect();
        prop_assume!(!selectors.is_empty());
        let t = expand(&TargetSpec::new(selectors), &NoGroups).unwrap();
        let names = ["s0", "s1", "s2"];
        let segments: Vec<Segment> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let cidrs = blocks
                    .iter()
                    .filter(|b| b.0 == i)
                    .map(|&(_, six, a, len)| {
                        let len = if six { len + 96 } else { len };
                        IpNet::new(if six { v6(a) } else { v4(a) }, len).unwrap().trunc()
                    })
                    .collect();
                Segment::new(*name, cidrs).unwrap()
            })
            .collect();
        let router = SegmentRouter::new(&segments, "default");
        let parts = router.split(&t);
        let all: Vec<Target> = t.iter().collect();
        let mut union = BTreeSet::new();
        let mut total = 0;
        for (name, part) in &parts {
            prop_assert!(!part.is_empty());
            let items: Vec<Target> = part.iter().collect();
            prop_assert_eq!(part.len(), items.len() as u64);
            total += items.len();
            // Every target routes to the part it is in, and the part keeps the order.
            let mut positions = Vec::new();
            for target in &items {
                prop_assert_eq!(router.route(target), name.as_str());
                positions.push(all.iter().position(|x| x == target).unwrap());
                union.insert(target.clone());
            }
            prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
        }
        prop_assert_eq!(total, all.len());
        prop_assert_eq!(union, all.into_iter().collect::<BTreeSet<_>>());
        // Longest prefix by brute force over every block.
        for target in t.iter() {
            let Target::Ip(ip) = target else { continue };
            let best = segments
                .iter()
                .flat_map(|s| s.cidrs.iter().map(move |c| (c, &s.name)))
                .filter(|(c, _)| c.contains(&ip))
                .max_by_key(|(c, _)| c.prefix_len())
                .map(|(c, _)| c.prefix_len());
            let chosen = router.route_ip(ip);
            match best {
                None => prop_assert_eq!(chosen, "default"),
                Some(len) => {
                    let owners: Vec<&str> = segments
                        .iter()
                        .filter(|s| s.cidrs.iter().any(|c| c.prefix_len() == len && c.contains(&ip)))
                        .map(|s| s.name.as_str())
                        .collect();
                    prop_assert_eq!(owners.first().copied(), Some(chosen));
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(
        value in ".{0,200}",
        hosts in prop::collection::vec(".{0,40}", 0..5),
        exclude in prop::collection::vec("[0-9a-f:./, -]{0,40}", 0..3),
        content in prop::collection::vec(any::<u8>(), 0..400),
        csv in any::<bool>(),
        column in prop::option::of(0usize..4),
        allow_large in any::<bool>(),
    ) {
        let text = decode_file_bytes(&content);
        let file = if csv {
            let mut f = FileSelector::csv("f", text, CsvColumn::Index(column.unwrap_or(1)));
            f.column = column.map(CsvColumn::Index);
            f
        } else {
            FileSelector::lines("f", text)
        };
        let mut spec = TargetSpec::new(vec![
            Selector::range(value),
            Selector::Hosts { hosts },
            Selector::File(file),
        ]);
        spec.exclude = exclude;
        spec.allow_large = allow_large;
        if let Ok(t) = expand(&spec, &NoGroups) {
            prop_assert!(t.len() <= LARGE_MAX_TARGETS);
            let _ = t.first(10);
            let parts = router().split(&t);
            prop_assert_eq!(parts.values().map(ExpandedTargets::len).sum::<u64>(), t.len());
        }
    }

    #[test]
    fn address_like_text_never_panics(
        value in "[0-9a-fA-F:./\\[\\]%, -]{0,60}",
    ) {
        let _ = expand(&TargetSpec::range(value.clone()), &NoGroups);
        let _ = expand(&TargetSpec::range("10.0.0.1").excluding(value.clone()), &NoGroups);
        let _ = value.parse::<Target>();
    }
}

#[test]
fn group_counts_in_split_are_keyed_by_segment_name() {
    // A segment that shares the default's name merges with it.
    let r = SegmentRouter::new(&[segment("default", &["10.0.0.0/24"])], "default");
    let parts: BTreeMap<String, ExpandedTargets> = r.split(&range("10.0.0.1 10.0.1.1"));
    assert_eq!(parts.len(), 1);
    assert_eq!(parts["default"].len(), 2);
}
