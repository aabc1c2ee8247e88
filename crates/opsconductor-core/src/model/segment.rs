//! Network segments: where an agent sits and which addresses it can reach.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::ValidationError;

/// The segment every target falls into when no segment CIDR contains it.
pub const DEFAULT_SEGMENT: &str = "default";

/// A named network segment: the agents of a segment run the work for targets inside its CIDRs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Segment name, also the suffix of its work queue (`oc.work.<name>`).
    pub name: String,
    /// Address blocks routed to this segment (longest prefix wins across segments).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["10.1.0.0/16"])))]
    pub cidrs: Vec<IpNet>,
}

impl Segment {
    /// Builds a segment, checking the name is usable as a queue suffix.
    pub fn new(name: impl Into<String>, cidrs: Vec<IpNet>) -> Result<Self, ValidationError> {
        let name = name.into();
        validate_segment_name(&name, "name")?;
        Ok(Self {
            name,
            cidrs: cidrs.into_iter().map(|c| c.trunc()).collect(),
        })
    }
}

/// Segment names travel in queue names and URLs: lowercase letters, digits, `-` and `_`.
pub fn validate_segment_name(name: &str, field: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::field(
            field,
            format!(
                "segment name {name:?} must be 1-63 characters of lowercase letters, digits, '-' or '_'"
            ),
        ))
    }
}
