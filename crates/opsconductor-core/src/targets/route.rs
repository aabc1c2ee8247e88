//! Routing targets to network segments by longest-prefix match on the segments' CIDRs.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::expand::{ExpandedTargets, TargetRun};
use super::interval::Addr;
use super::target::Target;
use crate::error::{Problems, ValidationError};
use crate::model::segment::Segment;

/// Sends each target to the segment whose CIDR holds it most specifically.
///
/// Built once per dispatch: the segments' CIDRs are flattened into disjoint address
/// intervals each owned by one segment (a nested /16 cuts a hole in its /9), so routing an
/// address is one binary search and splitting a run costs one search plus one step per
/// boundary it crosses — never one step per address. Addresses outside every CIDR, and all
/// hostnames (their addresses are unknown until the agent resolves them), go to the default
/// segment. When two segments list the identical CIDR the one listed first wins; use
/// [`validate_segments`] to refuse such configurations up front.
#[derive(Debug, Clone)]
pub struct SegmentRouter {
    /// Segment names by index; the default segment is among them.
    names: Vec<String>,
    default: usize,
    v4: Vec<(u32, u32, usize)>,
    v6: Vec<(u128, u128, usize)>,
}

impl SegmentRouter {
    /// Builds the router for `segments`, sending unmatched targets to `default_segment`.
    pub fn new(segments: &[Segment], default_segment: &str) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut intern = |name| {
            *index.entry(name).or_insert_with(|| {
                names.push(name.to_owned());
                names.len() - 1
            })
        };
        let default = intern(default_segment);
        let mut v4_blocks = Vec::new();
        let mut v6_blocks = Vec::new();
        for segment in segments {
            let seg = intern(&segment.name);
            for cidr in &segment.cidrs {
                let len = u32::from(cidr.prefix_len());
                match cidr.trunc() {
                    IpNet::V4(net) => {
                        let (s, e) = super::entry::v4_block(u32::from(net.network()), len);
                        v4_blocks.push((s, e, len, seg));
                    }
                    IpNet::V6(net) => {
                        let (s, e) = super::entry::v6_block(u128::from(net.network()), len);
                        v6_blocks.push((s, e, len, seg));
                    }
                }
            }
        }
        Self {
            names,
            default,
            v4: flatten(v4_blocks),
            v6: flatten(v6_blocks),
        }
    }

    /// The default segment's name.
    pub fn default_segment(&self) -> &str {
        &self.names[self.default]
    }

    /// Whether `name` is the default segment or one of the routed segments.
    pub fn knows(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The segment for one address.
    pub fn route_ip(&self, ip: IpAddr) -> &str {
        let seg = match ip {
            IpAddr::V4(a) => lookup(&self.v4, u32::from(a)),
            IpAddr::V6(a) => lookup(&self.v6, u128::from(a)),
        };
        &self.names[seg.unwrap_or(self.default)]
    }

    /// The segment for one target; hostnames go to the default segment.
    pub fn route(&self, target: &Target) -> &str {
        match target {
            Target::Ip(ip) => self.route_ip(*ip),
            Target::Host(_) => self.default_segment(),
        }
    }

    /// Splits targets by segment, each part keeping the original order. Only segments that
    /// receive targets appear; the parts' lengths add up to `targets.len()`. Invalid-line
    /// reports stay with the input and are not copied into the parts.
    pub fn split(&self, targets: &ExpandedTargets) -> BTreeMap<String, ExpandedTargets> {
        let mut parts: Vec<ExpandedTargets> = vec![ExpandedTargets::default(); self.names.len()];
        for run in targets.runs() {
            match run {
                TargetRun::V4(s, e) => {
                    split_run(&self.v4, u32::from(*s), u32::from(*e), |a, b, seg| {
                        parts[seg.unwrap_or(self.default)]
                            .push_run(TargetRun::V4(Ipv4Addr::from(a), Ipv4Addr::from(b)));
                    });
                }
                TargetRun::V6(s, e) => {
                    split_run(&self.v6, u128::from(*s), u128::from(*e), |a, b, seg| {
                        parts[seg.unwrap_or(self.default)]
                            .push_run(TargetRun::V6(Ipv6Addr::from(a), Ipv6Addr::from(b)));
                    });
                }
                TargetRun::Host(_) => parts[self.default].push_run(run.clone()),
            }
        }
        self.names
            .iter()
            .cloned()
            .zip(parts)
            .filter(|(_, part)| !part.is_empty())
            .collect()
    }

    /// [`split`](Self::split), unless the job overrides routing: then every target goes to
    /// `segment`. Whether that segment exists is the caller's check ([`knows`](Self::knows)).
    pub fn split_with_override(
        &self,
        targets: &ExpandedTargets,
        segment: Option<&str>,
    ) -> BTreeMap<String, ExpandedTargets> {
        let Some(segment) = segment else {
            return self.split(targets);
        };
        let mut all = ExpandedTargets::default();
        for run in targets.runs() {
            all.push_run(run.clone());
        }
        if all.is_empty() {
            return BTreeMap::new();
        }
        BTreeMap::from([(segment.to_owned(), all)])
    }
}

/// Turns possibly nested blocks `(start, end, prefix length, segment)` into disjoint,
/// ascending intervals owned by the most specific block covering them.
fn flatten<A: Addr>(mut blocks: Vec<(A, A, u32, usize)>) -> Vec<(A, A, usize)> {
    // Least specific first, so each later block paints over the blocks that contain it;
    // the sort is stable, so among identical blocks the first listed is painted first and
    // the later duplicates are skipped.
    blocks.sort_by_key(|&(start, _, len, _)| (len, start));
    blocks.dedup_by_key(|&mut (start, _, len, _)| (len, start));
    let mut painted: BTreeMap<A, (A, usize)> = BTreeMap::new();
    for (start, end, _, seg) in blocks {
        let mut restore: Vec<(A, A, usize)> = Vec::new();
        if let Some((&s, &(e, owner))) = painted.range(..start).next_back()
            && e >= start
        {
            // `start > s`, so `start - 1` exists.
            if let Some(before) = start.prev() {
                restore.push((s, before, owner));
            }
            if e > end
                && let Some(after) = end.next()
            {
                restore.push((after, e, owner));
            }
            painted.remove(&s);
        }
        let inside: Vec<A> = painted.range(start..=end).map(|(&s, _)| s).collect();
        for s in inside {
            if let Some((e, owner)) = painted.remove(&s)
                && e > end
                && let Some(after) = end.next()
            {
                restore.push((after, e, owner));
            }
        }
        for (s, e, owner) in restore {
            painted.insert(s, (e, owner));
        }
        painted.insert(start, (end, seg));
    }
    // Merge neighbours owned by the same segment to keep splits coarse.
    let mut flat: Vec<(A, A, usize)> = Vec::with_capacity(painted.len());
    for (s, (e, seg)) in painted {
        match flat.last_mut() {
            Some((_, last_end, last_seg)) if *last_seg == seg && last_end.next() == Some(s) => {
                *last_end = e;
            }
            _ => flat.push((s, e, seg)),
        }
    }
    flat
}

/// The segment owning `addr`, if any interval holds it.
fn lookup<A: Addr>(intervals: &[(A, A, usize)], addr: A) -> Option<usize> {
    let i = intervals.partition_point(|&(_, end, _)| end < addr);
    intervals
        .get(i)
        .filter(|&&(start, _, _)| start <= addr)
        .map(|&(_, _, seg)| seg)
}

/// Cuts `start..=end` at interval boundaries, ascending: `(from, to, Some(segment))` inside
/// an interval, `(from, to, None)` in the gaps.
fn split_run<A: Addr>(
    intervals: &[(A, A, usize)],
    start: A,
    end: A,
    mut piece: impl FnMut(A, A, Option<usize>),
) {
    let mut i = intervals.partition_point(|&(_, e, _)| e < start);
    let mut cursor = start;
    loop {
        let (to, seg) = match intervals.get(i) {
            Some(&(s, e, seg)) if s <= cursor => {
                i += 1;
                (e.min(end), Some(seg))
            }
            Some(&(s, _, _)) if s <= end => (s.prev().unwrap_or(s), None),
            _ => (end, None),
        };
        piece(cursor, to, seg);
        match to.next() {
            Some(next) if to < end => cursor = next,
            _ => return,
        }
    }
}

/// Checks a segment configuration: names unique, and no CIDR routed to two segments
/// (nesting is fine — the more specific wins). Fields are `segments[i].name` and
/// `segments[i].cidrs[j]`.
pub fn validate_segments(segments: &[Segment]) -> Result<(), ValidationError> {
    let mut problems = Problems::default();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut owners: HashMap<IpNet, usize> = HashMap::new();
    for (i, segment) in segments.iter().enumerate() {
        if let Some(first) = names.insert(&segment.name, i) {
            problems.push(
                format!("segments[{i}].name"),
                format!(
                    "segment name {:?} is already used by segments[{first}]",
                    segment.name
                ),
            );
        }
        for (j, cidr) in segment.cidrs.iter().enumerate() {
            let block = cidr.trunc();
            match owners.get(&block) {
                Some(&owner) if owner != i => problems.push(
                    format!("segments[{i}].cidrs[{j}]"),
                    format!(
                        "{block} is already routed to segment {:?}; a block can belong to one segment only",
                        segments[owner].name
                    ),
                ),
                Some(_) => {}
                None => {
                    owners.insert(block, i);
                }
            }
        }
    }
    problems.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_nested_blocks_paints_the_most_specific_owner() {
        // 0..=255 → a, 16..=31 → b, 20..=23 → c, 100..=103 → a again (a duplicate of a
        // block listed later by d, which loses).
        let flat = flatten(vec![
            (0u32, 255, 24, 0),
            (16, 31, 28, 1),
            (20, 23, 30, 2),
            (100, 103, 30, 0),
            (100, 103, 30, 3),
        ]);
        assert_eq!(
            flat,
            vec![
                (0, 15, 0),
                (16, 19, 1),
                (20, 23, 2),
                (24, 31, 1),
                (32, 255, 0)
            ]
        );
    }

    #[test]
    fn runs_are_cut_at_every_boundary() {
        let intervals = [(10u32, 19, 0), (20, 29, 1), (40, 49, 2)];
        let mut pieces = Vec::new();
        split_run(&intervals, 0, 60, |a, b, s| pieces.push((a, b, s)));
        assert_eq!(
            pieces,
            vec![
                (0, 9, None),
                (10, 19, Some(0)),
                (20, 29, Some(1)),
                (30, 39, None),
                (40, 49, Some(2)),
                (50, 60, None)
            ]
        );
        pieces.clear();
        split_run(&intervals, 15, 15, |a, b, s| pieces.push((a, b, s)));
        assert_eq!(pieces, vec![(15, 15, Some(0))]);
        pieces.clear();
        split_run(&[(0u32, u32::MAX, 0)], 5, u32::MAX, |a, b, s| {
            pieces.push((a, b, s))
        });
        assert_eq!(pieces, vec![(5, u32::MAX, Some(0))]);
    }
}
