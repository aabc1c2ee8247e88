//! Target expansion and segment routing.
//!
//! A job stores a [`TargetSpec`]: selectors (a `range` of addresses / CIDRs / ranges /
//! hostnames, a `hosts` list, an uploaded `file`, an inventory `group`), exclusions, and a
//! size cap. [`expand()`] turns it into [`ExpandedTargets`]; a [`SegmentRouter`] splits those
//! by segment; [`ExpandedTargets::chunks`] cuts each part into work chunks.
//!
//! Everything works on address *intervals*, not addresses: a /8 minus a /16 is a handful of
//! runs until something iterates it, so counting against the cap, deduplicating and
//! routing cost `O(runs · log runs)` however many addresses are selected.
//!
//! ```
//! use opsconductor_core::model::segment::Segment;
//! use opsconductor_core::targets::{NoGroups, SegmentRouter, TargetSpec, expand};
//!
//! let spec = TargetSpec::range("10.0.0.0/29, 10.9.0.1-3").excluding("10.0.0.2");
//! let targets = expand(&spec, &NoGroups)?;
//! assert_eq!(targets.len(), 8); // .1 .3 .4 .5 .6 of the /29, then three more
//!
//! let lab = Segment::new("lab", vec!["10.9.0.0/16".parse().expect("CIDR")])?;
//! let parts = SegmentRouter::new(&[lab], "default").split(&targets);
//! assert_eq!((parts["default"].len(), parts["lab"].len()), (5, 3));
//! let chunks: Vec<_> = parts["default"].chunks(2).collect();
//! assert_eq!(chunks.len(), 3);
//! # Ok::<(), opsconductor_core::ValidationError>(())
//! ```
//!
//! ## Semantics worth knowing
//! - **Order**: targets come out in the order of first appearance (selector by selector,
//!   line by line, each CIDR or range ascending); a repeat is dropped where it reappears.
//! - **CIDRs**: a selected IPv4 block of /30 or wider yields its usable hosts, without the
//!   network and broadcast addresses (`10.0.0.0/24` → `.1`–`.254`); /31, /32 and IPv6 blocks
//!   yield every address. An *excluded* CIDR (and a segment's CIDR) is the whole block.
//!   Host bits in a CIDR are ignored (`10.0.0.9/24` is `10.0.0.0/24`).
//! - **Ranges**: `a-b` with full addresses, or the short forms `10.0.0.1-50` (last octet)
//!   and `2001:db8::1-ff` (last group); inclusive.
//! - **Cap**: at most [`DEFAULT_MAX_TARGETS`] targets after exclusions and deduplication,
//!   [`LARGE_MAX_TARGETS`] with `allow_large`, or a job's lower `max_targets`; counted on
//!   intervals before anything is materialised.
//! - **Bad input**: a bad entry in a `range` value, a `hosts` list or an exclusion is a
//!   [`ValidationError`](crate::ValidationError) at its field; a bad line of a file (or of an
//!   inventory group) is an [`InvalidLine`] report and the rest still runs — unless no line
//!   is usable, which is an error.
//!
//! ## Layout
//! - `target` — [`Target`]: an address or a validated hostname.
//! - `spec` — [`TargetSpec`], [`Selector`], [`FileSelector`]: the stored, serde form.
//! - `entry` — one written entry (address, CIDR, range, hostname) → interval or name.
//! - `file` — uploaded files: byte decoding, `lines` and `csv` layouts.
//! - `interval` — the interval set behind deduplication and exclusion.
//! - `expand` — [`expand()`], [`ExpandedTargets`] and its lazy iterators.
//! - `route` — [`SegmentRouter`]: longest-prefix match and splitting by segment.

mod entry;
mod expand;
mod file;
mod interval;
mod route;
mod spec;
mod target;

pub use expand::{
    Chunks, DEFAULT_MAX_TARGETS, ExpandedTargets, GroupResolver, InvalidLine, Iter,
    LARGE_MAX_TARGETS, MAX_INVALID_LINES, NoGroups, TargetRun, expand, overlapping_exclusions,
};
pub use file::decode_file_bytes;

/// Checks one member of a static inventory group (an address, CIDR, range or hostname)
/// the way a run will read it; the error is a complete sentence.
pub fn parse_member(text: &str) -> Result<(), String> {
    entry::parse_entry(text.trim(), entry::CidrMode::Hosts).map(|_| ())
}
pub use route::{SegmentRouter, validate_segments};
pub use spec::{CsvColumn, FileFormat, FileSelector, Selector, TargetSpec};
pub use target::{MAX_HOSTNAME_LEN, Target, TargetParseError, normalize_hostname};
