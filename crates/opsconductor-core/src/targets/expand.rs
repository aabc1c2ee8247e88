//! Turning a [`TargetSpec`] into an ordered, deduplicated, capped set of targets.

use std::collections::HashSet;
use std::iter::FusedIterator;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::entry::{CidrMode, Entry, parse_entry, split_list};
use super::file::read_file;
use super::interval::{Addr, IntervalSet};
use super::spec::{Selector, TargetSpec};
use super::target::{Target, quote, truncate_chars};
use crate::error::{Problems, ValidationError};

/// Most targets a spec may select unless it sets `allow_large` (a whole /16 fits).
pub const DEFAULT_MAX_TARGETS: u64 = 65_536;

/// Most targets a spec may select with `allow_large`: a whole /8 (2^24) plus a /16's worth
/// (2^16) more, so "10.0.0.0/8 and a few extras" fits but a /7 or an IPv6 /64 does not.
pub const LARGE_MAX_TARGETS: u64 = (1 << 24) + (1 << 16);

/// Most [`InvalidLine`]s kept per expansion; the rest are only counted.
pub const MAX_INVALID_LINES: usize = 1_000;

/// Most field errors reported for one selector or exclusion before they are summarised.
const MAX_ERRORS_PER_FIELD: usize = 20;

/// Longest text of a bad line kept in an [`InvalidLine`], in characters.
const INVALID_TEXT_CHARS: usize = 200;

/// Exclusions that overlap an earlier one (`10.0.0.5` after `10.0.0.0/24`), as
/// `(field, message)`: harmless to expansion, but usually a typo in a range, so scans
/// refuse them. Unparsable entries are left to [`expand`] to report.
pub fn overlapping_exclusions(spec: &TargetSpec) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String, Entry)> = Vec::new();
    let mut problems = Vec::new();
    for (i, value) in spec.exclude.iter().enumerate() {
        let field = format!("exclude[{i}]");
        for token in split_list(value) {
            let Ok(entry) = parse_entry(&token, CidrMode::Block) else {
                continue;
            };
            let earlier = seen.iter().find(|(_, _, other)| match (&entry, other) {
                (Entry::V4(a, b), Entry::V4(c, d)) => a <= d && c <= b,
                (Entry::V6(a, b), Entry::V6(c, d)) => a <= d && c <= b,
                (Entry::Host(a), Entry::Host(b)) => a == b,
                _ => false,
            });
            if let Some((other_field, other_token, _)) = earlier {
                problems.push((
                    field.clone(),
                    format!(
                        "{} overlaps {} ({other_field}); exclude each address once",
                        quote(&token),
                        quote(other_token)
                    ),
                ));
            }
            seen.push((field.clone(), token.into_owned(), entry));
        }
    }
    problems
}

/// Resolves inventory groups to their members (addresses, CIDRs, ranges or hostnames).
///
/// The core crate cannot read the inventory; the caller passes what can.
pub trait GroupResolver {
    /// The entries of `group`, or why they cannot be had (shown to the operator).
    fn resolve(&self, group: &str) -> Result<Vec<String>, String>;
}

/// A resolver for places with no inventory: every group selector is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGroups;

impl GroupResolver for NoGroups {
    fn resolve(&self, _group: &str) -> Result<Vec<String>, String> {
        Err("inventory groups are not available here".to_owned())
    }
}

/// One line of a file (or one entry of an inventory group) that did not parse: reported,
/// not fatal, so a file with a few bad lines still runs against the good ones.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidLine {
    /// The selector's field: `include[2].content` for a file, `include[3].group` for a group.
    pub field: String,
    /// 1-based line number (for a group, the entry's 1-based position).
    pub line: usize,
    /// The line as written, control characters escaped, cut to 200 characters.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A maximal run of targets in expansion order: an inclusive address range, or one hostname.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetRun {
    /// IPv4 addresses `first..=last`, ascending.
    V4(Ipv4Addr, Ipv4Addr),
    /// IPv6 addresses `first..=last`, ascending.
    V6(Ipv6Addr, Ipv6Addr),
    /// One hostname.
    Host(String),
}

impl TargetRun {
    /// Number of targets in the run.
    pub fn len(&self) -> u128 {
        match self {
            Self::V4(s, e) => u32::count(u32::from(*s), u32::from(*e)),
            Self::V6(s, e) => u128::count(u128::from(*s), u128::from(*e)),
            Self::Host(_) => 1,
        }
    }

    /// Always `false`: a run holds at least one target.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The targets a spec selects: ordered runs, never materialised until iterated.
///
/// Order is the order of first appearance: selector by selector, line by line, each CIDR
/// or range ascending; a target already produced earlier (or excluded) is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpandedTargets {
    runs: Vec<TargetRun>,
    len: u64,
    /// File lines and group entries that did not parse, first [`MAX_INVALID_LINES`].
    pub invalid: Vec<InvalidLine>,
    /// How many further invalid lines were found but not kept in `invalid`.
    pub invalid_omitted: u64,
}

impl ExpandedTargets {
    /// Number of targets.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no target is selected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The runs, in order.
    pub fn runs(&self) -> &[TargetRun] {
        &self.runs
    }

    /// Every target, in order, produced on demand.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            runs: self.runs.iter(),
            cursor: Cursor::Idle,
            remaining: self.len,
        }
    }

    /// The targets in consecutive chunks of `size` (the last may be shorter); a `size` of 0
    /// is taken as 1.
    pub fn chunks(&self, size: usize) -> Chunks<'_> {
        Chunks {
            iter: self.iter(),
            size: size.max(1),
        }
    }

    /// The first `n` targets (a preview).
    pub fn first(&self, n: usize) -> Vec<Target> {
        let mut out = Vec::with_capacity(n.min(self.iter().size_hint().0));
        self.iter().fill(&mut out, n);
        out
    }

    /// Appends a run known not to overlap anything already here, merging it into the
    /// previous run when they touch.
    pub(crate) fn push_run(&mut self, run: TargetRun) {
        // Saturates: expansion may pass u64 on IPv6 before the cap refuses the spec.
        let added = run.len();
        self.len = self
            .len
            .saturating_add(u64::try_from(added).unwrap_or(u64::MAX));
        match (self.runs.last_mut(), run) {
            (Some(TargetRun::V4(_, last)), TargetRun::V4(s, e))
                if u32::from(*last).checked_add(1) == Some(u32::from(s)) =>
            {
                *last = e;
            }
            (Some(TargetRun::V6(_, last)), TargetRun::V6(s, e))
                if u128::from(*last).checked_add(1) == Some(u128::from(s)) =>
            {
                *last = e;
            }
            (_, run) => self.runs.push(run),
        }
    }
}

impl<'a> IntoIterator for &'a ExpandedTargets {
    type Item = Target;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<Target> for ExpandedTargets {
    /// Collects targets keeping the first appearance of each (no cap applies).
    fn from_iter<I: IntoIterator<Item = Target>>(iter: I) -> Self {
        let mut builder = Builder::default();
        for target in iter {
            builder.include(match target {
                Target::Ip(IpAddr::V4(a)) => Entry::V4(a.into(), a.into()),
                Target::Ip(IpAddr::V6(a)) => Entry::V6(a.into(), a.into()),
                Target::Host(h) => Entry::Host(h),
            });
        }
        builder.targets
    }
}

/// Iterator over the targets of an [`ExpandedTargets`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    runs: std::slice::Iter<'a, TargetRun>,
    cursor: Cursor,
    remaining: u64,
}

#[derive(Debug, Clone, Copy)]
enum Cursor {
    Idle,
    V4 { next: u32, last: u32 },
    V6 { next: u128, last: u128 },
}

impl Iterator for Iter<'_> {
    type Item = Target;

    fn next(&mut self) -> Option<Target> {
        loop {
            match &mut self.cursor {
                Cursor::V4 { next, last } => {
                    let addr = *next;
                    if addr == *last {
                        self.cursor = Cursor::Idle;
                    } else {
                        *next += 1;
                    }
                    self.remaining = self.remaining.saturating_sub(1);
                    return Some(Target::Ip(IpAddr::V4(Ipv4Addr::from(addr))));
                }
                Cursor::V6 { next, last } => {
                    let addr = *next;
                    if addr == *last {
                        self.cursor = Cursor::Idle;
                    } else {
                        *next += 1;
                    }
                    self.remaining = self.remaining.saturating_sub(1);
                    return Some(Target::Ip(IpAddr::V6(Ipv6Addr::from(addr))));
                }
                Cursor::Idle => match self.runs.next()? {
                    TargetRun::V4(s, e) => {
                        self.cursor = Cursor::V4 {
                            next: u32::from(*s),
                            last: u32::from(*e),
                        };
                    }
                    TargetRun::V6(s, e) => {
                        self.cursor = Cursor::V6 {
                            next: u128::from(*s),
                            last: u128::from(*e),
                        };
                    }
                    TargetRun::Host(h) => {
                        self.remaining = self.remaining.saturating_sub(1);
                        return Some(Target::Host(h.clone()));
                    }
                },
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match usize::try_from(self.remaining) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

impl FusedIterator for Iter<'_> {}

impl Iter<'_> {
    /// Appends up to `n` targets to `out`, a whole stretch of a run at a time so the
    /// addresses are written by one tight loop rather than one `next()` each.
    fn fill(&mut self, out: &mut Vec<Target>, mut n: usize) {
        while n > 0 {
            match &mut self.cursor {
                Cursor::V4 { next, last } => {
                    let available = u64::from(*last - *next) + 1;
                    let take = available.min(u64::try_from(n).unwrap_or(u64::MAX));
                    let from = *next;
                    // `take - 1 < available <= 2^32`, so this fits.
                    let to = from + u32::try_from(take - 1).unwrap_or(u32::MAX);
                    out.extend((from..=to).map(|a| Target::Ip(IpAddr::V4(Ipv4Addr::from(a)))));
                    if to == *last {
                        self.cursor = Cursor::Idle;
                    } else {
                        *next = to + 1;
                    }
                    n = n.saturating_sub(usize::try_from(take).unwrap_or(usize::MAX));
                    self.remaining = self.remaining.saturating_sub(take);
                }
                Cursor::V6 { next, last } => {
                    let available = (*last - *next).saturating_add(1);
                    let take = available.min(u128::try_from(n).unwrap_or(u128::MAX));
                    let from = *next;
                    let to = from + (take - 1);
                    out.extend((from..=to).map(|a| Target::Ip(IpAddr::V6(Ipv6Addr::from(a)))));
                    if to == *last {
                        self.cursor = Cursor::Idle;
                    } else {
                        *next = to + 1;
                    }
                    n = n.saturating_sub(usize::try_from(take).unwrap_or(usize::MAX));
                    self.remaining = self
                        .remaining
                        .saturating_sub(u64::try_from(take).unwrap_or(u64::MAX));
                }
                Cursor::Idle => match self.runs.next() {
                    None => return,
                    Some(TargetRun::Host(h)) => {
                        out.push(Target::Host(h.clone()));
                        n -= 1;
                        self.remaining = self.remaining.saturating_sub(1);
                    }
                    Some(TargetRun::V4(s, e)) => {
                        self.cursor = Cursor::V4 {
                            next: u32::from(*s),
                            last: u32::from(*e),
                        };
                    }
                    Some(TargetRun::V6(s, e)) => {
                        self.cursor = Cursor::V6 {
                            next: u128::from(*s),
                            last: u128::from(*e),
                        };
                    }
                },
            }
        }
    }
}

/// Iterator over consecutive chunks of targets; see [`ExpandedTargets::chunks`].
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    iter: Iter<'a>,
    size: usize,
}

impl Iterator for Chunks<'_> {
    type Item = Vec<Target>;

    fn next(&mut self) -> Option<Vec<Target>> {
        let want = self.size.min(self.iter.size_hint().0);
        if want == 0 {
            return None;
        }
        let mut chunk = Vec::with_capacity(want);
        self.iter.fill(&mut chunk, self.size);
        Some(chunk)
    }
}

impl FusedIterator for Chunks<'_> {}

/// Accumulates entries in order, dropping what is excluded or already present.
#[derive(Default)]
struct Builder {
    v4: IntervalSet<u32>,
    v6: IntervalSet<u128>,
    hosts: HashSet<String>,
    targets: ExpandedTargets,
    /// Exact count, which may exceed `u64` for IPv6 before the cap refuses the spec.
    total: u128,
}

impl Builder {
    /// Marks an entry as never to be produced.
    fn exclude(&mut self, entry: Entry) {
        match entry {
            Entry::V4(s, e) => self.v4.add(s, e),
            Entry::V6(s, e) => self.v6.add(s, e),
            Entry::Host(h) => {
                self.hosts.insert(h);
            }
        }
    }

    /// Appends the parts of an entry not produced or excluded yet.
    fn include(&mut self, entry: Entry) {
        let Self {
            v4,
            v6,
            hosts,
            targets,
            total,
        } = self;
        match entry {
            Entry::V4(s, e) => v4.insert(s, e, |a, b| {
                *total = total.saturating_add(u32::count(a, b));
                targets.push_run(TargetRun::V4(a.into(), b.into()));
            }),
            Entry::V6(s, e) => v6.insert(s, e, |a, b| {
                *total = total.saturating_add(u128::count(a, b));
                targets.push_run(TargetRun::V6(a.into(), b.into()));
            }),
            Entry::Host(h) => {
                if !hosts.contains(&h) {
                    hosts.insert(h.clone());
                    *total = total.saturating_add(1);
                    targets.push_run(TargetRun::Host(h));
                }
            }
        }
    }

    /// Records a bad line; `text` is already [`printable`].
    fn report_invalid(&mut self, field: &str, line: usize, text: String, reason: String) {
        if self.targets.invalid.len() < MAX_INVALID_LINES {
            self.targets.invalid.push(InvalidLine {
                field: field.to_owned(),
                line,
                text,
                reason,
            });
        } else {
            self.targets.invalid_omitted += 1;
        }
    }
}

/// `text` with control characters escaped, cut to [`INVALID_TEXT_CHARS`] characters.
fn printable(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().take(INVALID_TEXT_CHARS + 1) {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    truncate_chars(&out, INVALID_TEXT_CHARS)
}

/// Caps field errors for one field, then summarises the rest in one more error.
struct FieldErrors<'p> {
    problems: &'p mut Problems,
    field: String,
    count: usize,
}

impl<'p> FieldErrors<'p> {
    fn new(problems: &'p mut Problems, field: String) -> Self {
        Self {
            problems,
            field,
            count: 0,
        }
    }

    fn push(&mut self, field: impl FnOnce(&str) -> String, message: String) {
        self.count += 1;
        if self.count <= MAX_ERRORS_PER_FIELD {
            self.problems.push(field(&self.field), message);
        }
    }
}

impl Drop for FieldErrors<'_> {
    fn drop(&mut self) {
        if self.count > MAX_ERRORS_PER_FIELD {
            let more = self.count - MAX_ERRORS_PER_FIELD;
            self.problems.push(
                self.field.clone(),
                format!("and {more} more invalid entries"),
            );
        }
    }
}

/// The cap a spec is held to, or why its `max_targets` is unusable.
fn target_cap(spec: &TargetSpec, problems: &mut Problems) -> u64 {
    let ceiling = if spec.allow_large {
        LARGE_MAX_TARGETS
    } else {
        DEFAULT_MAX_TARGETS
    };
    match spec.max_targets {
        None => ceiling,
        Some(0) => {
            problems.push("max_targets", "max_targets must be at least 1");
            ceiling
        }
        Some(n) if n > ceiling => {
            let message = if spec.allow_large {
                format!(
                    "max_targets {n} is above {LARGE_MAX_TARGETS}, the most any spec may select"
                )
            } else {
                format!(
                    "max_targets {n} is above {DEFAULT_MAX_TARGETS}, the limit without allow_large; \
                     set \"allow_large\": true to go up to {LARGE_MAX_TARGETS}"
                )
            };
            problems.push("max_targets", message);
            ceiling
        }
        Some(n) => n,
    }
}

/// Expands a spec: parses every selector and exclusion, deduplicates in order of first
/// appearance, and refuses a selection above the cap — all on address intervals, so a
/// /8 costs as much as a /32 until it is iterated.
///
/// Every problem is reported at once, each at its field (`include[0].value`,
/// `include[1].hosts[3]`, `include[2].column`, `exclude[0]`, `max_targets`). Bad lines of a
/// file or bad entries of an inventory group are not errors but land in
/// [`ExpandedTargets::invalid`]; a file with no usable line at all is an error.
/// An empty result (everything excluded) is not an error here; callers that need targets
/// check [`ExpandedTargets::is_empty`].
pub fn expand(
    spec: &TargetSpec,
    groups: &dyn GroupResolver,
) -> Result<ExpandedTargets, ValidationError> {
    let mut problems = Problems::default();
    let cap = target_cap(spec, &mut problems);
    let mut builder = Builder::default();

    for (i, value) in spec.exclude.iter().enumerate() {
        let field = format!("exclude[{i}]");
        let tokens = split_list(value);
        if tokens.is_empty() {
            problems.push(field, "empty exclusion");
            continue;
        }
        let mut errors = FieldErrors::new(&mut problems, field);
        for token in tokens {
            match parse_entry(&token, CidrMode::Block) {
                Ok(entry) => builder.exclude(entry),
                Err(reason) => errors.push(str::to_owned, reason),
            }
        }
    }

    if spec.include.is_empty() {
        problems.push("include", "select at least one target");
    }
    // The first selector that took the count over the cap, and the count then.
    let mut over_cap: Option<(usize, u128)> = None;
    for (i, selector) in spec.include.iter().enumerate() {
        let field = format!("include[{i}]");
        expand_selector(selector, &field, groups, &mut builder, &mut problems);
        if over_cap.is_none() && builder.total > u128::from(cap) {
            over_cap = Some((i, builder.total));
        }
    }
    if let Some((i, at)) = over_cap {
        let selector = &spec.include[i];
        problems.push(
            format!("include[{i}]"),
            over_cap_message(spec, selector, cap, at, builder.total),
        );
    }

    problems.finish()?;
    Ok(builder.targets)
}

fn over_cap_message(
    spec: &TargetSpec,
    selector: &Selector,
    cap: u64,
    at: u128,
    total: u128,
) -> String {
    let what = match selector {
        Selector::Range { value } => format!("range {}", quote(value.trim())),
        Selector::Hosts { .. } => "this host list".to_owned(),
        Selector::File(file) if file.name.is_empty() => "this file".to_owned(),
        Selector::File(file) => format!("file {}", quote(&file.name)),
        Selector::Group { group } => format!("group {}", quote(group)),
    };
    let count = |n: u128| {
        if n == u128::MAX {
            "more than 2^128".to_owned()
        } else {
            n.to_string()
        }
    };
    let mut message = format!("{what} brings the target count to {}", count(at));
    if total > at {
        message.push_str(&format!(" ({} for the whole spec)", count(total)));
    }
    let advice = if spec.max_targets.is_some_and(|m| m == cap) {
        format!(
            "more than this job's max_targets of {cap}; narrow the selection or exclude part of it"
        )
    } else if spec.allow_large {
        format!(
            "more than {cap}, the most any spec may select even with allow_large; narrow the \
             selection or exclude part of it"
        )
    } else {
        format!(
            "more than the limit of {cap}; narrow the selection, exclude part of it, or set \
             \"allow_large\": true to allow up to {LARGE_MAX_TARGETS}"
        )
    };
    format!("{message}, {advice}")
}

fn expand_selector(
    selector: &Selector,
    field: &str,
    groups: &dyn GroupResolver,
    builder: &mut Builder,
    problems: &mut Problems,
) {
    match selector {
        Selector::Range { value } => {
            let field = format!("{field}.value");
            let tokens = split_list(value);
            if tokens.is_empty() {
                problems.push(field, "empty: give an address, CIDR, range or hostname");
                return;
            }
            let mut errors = FieldErrors::new(problems, field);
            for token in tokens {
                match parse_entry(&token, CidrMode::Hosts) {
                    Ok(entry) => builder.include(entry),
                    Err(reason) => errors.push(str::to_owned, reason),
                }
            }
        }
        Selector::Hosts { hosts } => {
            let field = format!("{field}.hosts");
            if hosts.is_empty() {
                problems.push(field, "empty list: give at least one host");
                return;
            }
            let mut errors = FieldErrors::new(problems, field);
            for (k, host) in hosts.iter().enumerate() {
                match parse_entry(host, CidrMode::Hosts) {
                    Ok(entry) => builder.include(entry),
                    Err(reason) => errors.push(|f| format!("{f}[{k}]"), reason),
                }
            }
        }
        Selector::File(file) => {
            let content_field = format!("{field}.content");
            let mut usable = 0usize;
            let mut bad = 0usize;
            let mut first_bad: Option<(usize, String)> = None;
            let mut invalid = Vec::new();
            let read = read_file(
                file,
                &mut |entry| {
                    usable += 1;
                    builder.include(entry);
                },
                &mut |line, text, reason| {
                    bad += 1;
                    if first_bad.is_none() {
                        first_bad = Some((line, reason.clone()));
                    }
                    if invalid.len() < MAX_INVALID_LINES {
                        invalid.push((line, printable(text), reason));
                    }
                },
            );
            let omitted = bad - invalid.len();
            for (line, text, reason) in invalid {
                builder.report_invalid(&content_field, line, text, reason);
            }
            builder.targets.invalid_omitted += omitted as u64;
            let name = if file.name.is_empty() {
                "the file".to_owned()
            } else {
                quote(&file.name)
            };
            match read {
                Err((sub, message)) => problems.push(format!("{field}.{sub}"), message),
                Ok(()) if usable > 0 => {}
                Ok(()) => match first_bad {
                    Some((line, reason)) => problems.push(
                        content_field,
                        format!(
                            "no usable target in {name}: {bad} invalid line{}, the first at line {line}: {reason}",
                            if bad == 1 { "" } else { "s" }
                        ),
                    ),
                    None => problems.push(content_field, format!("{name} contains no targets")),
                },
            }
        }
        Selector::Group { group } => {
            let field = format!("{field}.group");
            if group.trim().is_empty() {
                problems.push(field, "empty group name");
                return;
            }
            match groups.resolve(group) {
                Err(reason) => {
                    problems.push(field, format!("inventory group {}: {reason}", quote(group)));
                }
                Ok(members) => {
                    for (k, member) in members.iter().enumerate() {
                        match parse_entry(member, CidrMode::Hosts) {
                            Ok(entry) => builder.include(entry),
                            Err(reason) => {
                                builder.report_invalid(&field, k + 1, printable(member), reason);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_text_is_escaped_and_cut() {
        assert_eq!(printable("a\0b\u{1b}"), "a\\u{0}b\\u{1b}");
        assert_eq!(printable(&"x".repeat(500)).chars().count(), 201);
    }

    #[test]
    fn chunks_cover_every_target_once() {
        let t = expand(&TargetSpec::range("10.0.0.0/28, h.example"), &NoGroups).unwrap();
        let chunks: Vec<Vec<Target>> = t.chunks(4).collect();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 4, 4, 3]
        );
        assert_eq!(chunks.concat(), t.iter().collect::<Vec<_>>());
        assert_eq!(t.chunks(0).count(), 15);
    }
}
