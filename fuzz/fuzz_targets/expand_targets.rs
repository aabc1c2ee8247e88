//! Fuzzes target expansion with untrusted bytes: as an uploaded file (lines or CSV), as a
//! typed `range` value, as a host list, as exclusions and as inventory group members.
//!
//! Input layout: byte 0 picks the options, the rest is split at the first `0xFE` (a byte
//! that never occurs in UTF-8) into the selector text and the file contents.
//!
//! Expansion must never panic, and when it succeeds its result must be consistent: within
//! the cap, the preview and chunks agree with the iterator, and routing partitions it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use opsconductor_core::model::segment::Segment;
use opsconductor_core::targets::{
    CsvColumn, FileFormat, FileSelector, GroupResolver, LARGE_MAX_TARGETS, SegmentRouter, Selector,
    Target, TargetSpec, decode_file_bytes, expand,
};

/// Resolves every group to the lines of the fuzzed selector text.
struct Members(Vec<String>);

impl GroupResolver for Members {
    fn resolve(&self, _group: &str) -> Result<Vec<String>, String> {
        Ok(self.0.clone())
    }
}

fn router() -> SegmentRouter {
    let segment = |name: &str, cidrs: &[&str]| {
        let cidrs = cidrs.iter().filter_map(|c| c.parse().ok()).collect();
        Segment::new(name, cidrs).ok()
    };
    let segments: Vec<Segment> = [
        segment("west", &["10.0.0.0/9", "2001:db8::/33"]),
        segment("east", &["10.128.0.0/10"]),
        segment("lab", &["10.20.0.0/16", "10.20.5.7/32", "2001:db8::/48"]),
    ]
    .into_iter()
    .flatten()
    .collect();
    SegmentRouter::new(&segments, "default")
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (selector_bytes, file_bytes) = match rest.iter().position(|&b| b == 0xFE) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let selector = String::from_utf8_lossy(selector_bytes).into_owned();
    let lines: Vec<String> = selector.lines().map(str::to_owned).collect();

    // Parsing a single target must not panic either.
    let _ = selector.parse::<Target>();

    let file = FileSelector {
        name: "fuzz".to_owned(),
        content: decode_file_bytes(file_bytes),
        format: if flags & 1 == 0 {
            FileFormat::Lines
        } else {
            FileFormat::Csv
        },
        column: match (flags >> 3) & 3 {
            0 => None,
            1 => Some(CsvColumn::Index(usize::from(flags >> 5))),
            2 => Some(CsvColumn::Name("ip".to_owned())),
            _ => lines.first().cloned().map(CsvColumn::Name),
        },
        has_header: Some(flags & 2 != 0),
        delimiter: (flags & 0x80 != 0).then_some(';'),
    };

    let specs = [
        TargetSpec::new(vec![Selector::File(file.clone())]),
        TargetSpec::new(vec![Selector::range(selector.clone())]),
        TargetSpec::new(vec![
            Selector::hosts(lines.clone()),
            Selector::group("fuzz"),
            Selector::File(file),
        ]),
        TargetSpec::range("10.0.0.0/20, 2001:db8::/120").excluding(selector.clone()),
    ];
    let resolver = Members(lines);
    for mut spec in specs {
        spec.allow_large = flags & 4 != 0;
        let Ok(targets) = expand(&spec, &resolver) else {
            continue;
        };
        assert!(targets.len() <= LARGE_MAX_TARGETS);
        let preview = targets.first(300);
        let from_iter: Vec<Target> = targets.iter().take(300).collect();
        assert_eq!(preview, from_iter);
        let chunked: Vec<Target> = targets.chunks(7).take(42).flatten().collect();
        assert_eq!(chunked, from_iter[..chunked.len()]);
        let parts = router().split(&targets);
        assert_eq!(parts.values().map(|p| p.len()).sum::<u64>(), targets.len());
    }
});
