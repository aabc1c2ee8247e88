//! Address intervals: the representation that keeps a /8 as two numbers instead of 16.7M.
//!
//! IPv4 addresses are `u32`, IPv6 addresses `u128`; every interval is inclusive at both ends
//! so the whole address space is representable.

use std::collections::BTreeMap;
use std::fmt::Debug;

/// An address as an unsigned integer (`u32` for IPv4, `u128` for IPv6).
pub(crate) trait Addr: Copy + Ord + Debug {
    /// The next address, `None` past the top of the space.
    fn next(self) -> Option<Self>;
    /// The previous address, `None` below zero.
    fn prev(self) -> Option<Self>;
    /// Number of addresses in `start..=end`, saturating at `u128::MAX`.
    fn count(start: Self, end: Self) -> u128;
}

impl Addr for u32 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<Self> {
        self.checked_sub(1)
    }
    fn count(start: Self, end: Self) -> u128 {
        debug_assert!(start <= end);
        u128::from(end - start) + 1
    }
}

impl Addr for u128 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<Self> {
        self.checked_sub(1)
    }
    fn count(start: Self, end: Self) -> u128 {
        debug_assert!(start <= end);
        (end - start).saturating_add(1)
    }
}

/// A set of addresses kept as disjoint, non-adjacent inclusive intervals.
///
/// Expansion keeps one per family holding every address produced or excluded so far; adding
/// a run reports only the parts that were not in the set yet, which is how deduplication
/// stays `O(log runs)` per run instead of `O(addresses)`.
#[derive(Debug, Clone)]
pub(crate) struct IntervalSet<A: Addr> {
    /// start → end; no two intervals overlap or touch.
    map: BTreeMap<A, A>,
}

impl<A: Addr> Default for IntervalSet<A> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }
}

impl<A: Addr> IntervalSet<A> {
    /// Adds `start..=end`, calling `fresh` for each maximal part that was not in the set,
    /// in ascending order.
    pub(crate) fn insert(&mut self, start: A, end: A, mut fresh: impl FnMut(A, A)) {
        debug_assert!(start <= end);
        let mut merged_start = start;
        let mut merged_end = end;
        // Next address of the new interval not yet known to be covered; `None` once the
        // cursor has run past the top of the address space.
        let mut cursor = Some(start);
        let mut absorbed: Vec<A> = Vec::new();

        // An interval starting before `start` may overlap or touch it.
        if let Some((&s, &e)) = self.map.range(..start).next_back() {
            let touches = start.prev().is_some_and(|p| e >= p);
            if touches {
                absorbed.push(s);
                merged_start = s;
                merged_end = merged_end.max(e);
                cursor = if e >= start { e.next() } else { Some(start) };
            }
        }
        // Intervals starting inside the new one, or right after its end, are absorbed.
        let upper = end.next().unwrap_or(end);
        for (&s, &e) in self.map.range(start..=upper) {
            if let Some(c) = cursor
                && c < s
            {
                let gap_end = s.prev().map_or(end, |p| p.min(end));
                if c <= gap_end {
                    fresh(c, gap_end);
                }
            }
            if e >= cursor.unwrap_or(e) {
                cursor = e.next();
            }
            merged_end = merged_end.max(e);
            absorbed.push(s);
        }
        if let Some(c) = cursor
            && c <= end
        {
            fresh(c, end);
        }
        for s in absorbed {
            self.map.remove(&s);
        }
        self.map.insert(merged_start, merged_end);
    }

    /// Adds `start..=end` without reporting anything.
    pub(crate) fn add(&mut self, start: A, end: A) {
        self.insert(start, end, |_, _| {});
    }

    /// The intervals, ascending.
    #[cfg(test)]
    pub(crate) fn intervals(&self) -> Vec<(A, A)> {
        self.map.iter().map(|(&s, &e)| (s, e)).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn fresh_parts(set: &mut IntervalSet<u32>, s: u32, e: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        set.insert(s, e, |a, b| out.push((a, b)));
        out
    }

    #[test]
    fn inserting_reports_only_uncovered_parts_and_merges_neighbours() {
        let mut set = IntervalSet::default();
        assert_eq!(fresh_parts(&mut set, 10, 20), vec![(10, 20)]);
        assert_eq!(fresh_parts(&mut set, 30, 40), vec![(30, 40)]);
        assert_eq!(
            fresh_parts(&mut set, 5, 45),
            vec![(5, 9), (21, 29), (41, 45)]
        );
        assert_eq!(set.intervals(), vec![(5, 45)]);
        assert_eq!(fresh_parts(&mut set, 46, 50), vec![(46, 50)]);
        assert_eq!(set.intervals(), vec![(5, 50)]);
        assert_eq!(fresh_parts(&mut set, 7, 8), vec![]);
    }

    #[test]
    fn the_edges_of_the_address_space_do_not_overflow() {
        let mut set = IntervalSet::default();
        assert_eq!(
            fresh_parts(&mut set, u32::MAX - 1, u32::MAX),
            vec![(u32::MAX - 1, u32::MAX)]
        );
        assert_eq!(fresh_parts(&mut set, 0, 0), vec![(0, 0)]);
        assert_eq!(fresh_parts(&mut set, 0, u32::MAX), vec![(1, u32::MAX - 2)]);
        assert_eq!(set.intervals(), vec![(0, u32::MAX)]);
        assert_eq!(fresh_parts(&mut set, 0, u32::MAX), vec![]);
        let mut v6 = IntervalSet::<u128>::default();
        let mut out = Vec::new();
        v6.insert(0, u128::MAX, |a, b| out.push((a, b)));
        assert_eq!(out, vec![(0, u128::MAX)]);
        assert_eq!(u128::count(0, u128::MAX), u128::MAX);
    }

    proptest! {
        #[test]
        fn insert_matches_a_set_of_addresses(
            runs in prop::collection::vec((0u32..200, 0u32..40), 0..30)
        ) {
            let mut set = IntervalSet::default();
            let mut model = BTreeSet::new();
            for (s, len) in runs {
                let e = s + len;
                let mut fresh = Vec::new();
                set.insert(s, e, |a, b| fresh.push((a, b)));
                let expected: Vec<u32> = (s..=e).filter(|a| !model.contains(a)).collect();
                let got: Vec<u32> = fresh.iter().flat_map(|&(a, b)| a..=b).collect();
                prop_assert_eq!(got, expected);
                // Parts are maximal: no two touch.
                for w in fresh.windows(2) {
                    prop_assert!(w[0].1 + 1 < w[1].0);
                }
                model.extend(s..=e);
                let covered: BTreeSet<u32> = set.intervals().iter().flat_map(|&(a, b)| a..=b).collect();
                prop_assert_eq!(&covered, &model);
                for w in set.intervals().windows(2) {
                    prop_assert!(w[0].1 + 1 < w[1].0);
                }
            }
        }
    }
}
