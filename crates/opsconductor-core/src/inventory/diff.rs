//! New, changed and gone hosts between two scans of the same range.
//!
//! Each scan keeps a snapshot of the hosts it found alive with what it learned; comparing a
//! scan's snapshot with the previous scan's answers "what changed on this network since
//! last time?". Round-trip times and uptimes move on every scan and are not changes — except
//! an uptime that went *down*, which means the device restarted.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Attributes;

/// One attribute that differs between two scans.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeChange {
    /// The attribute's name, as in [`Attributes`] (`open_ports`, `ssh_banner`, …).
    pub field: String,
    /// Its value in the previous scan (absent: it was not known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// Its value now (absent: no longer known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// A host alive in both scans whose attributes differ.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedHost {
    /// The address.
    pub address: String,
    /// What differs, by attribute name.
    pub changes: Vec<AttributeChange>,
}

/// What differs between a scan and the previous scan of the same range.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScanDiff {
    /// Alive now, not in the previous scan (every host when there is no previous scan).
    pub new: Vec<String>,
    /// Alive in both, with attribute changes.
    pub changed: Vec<ChangedHost>,
    /// Alive in the previous scan, not now.
    pub gone: Vec<String>,
}

impl ScanDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.changed.is_empty() && self.gone.is_empty()
    }
}

/// Compares two snapshots (address → attributes); output lists are in address order.
pub fn diff(
    previous: &BTreeMap<String, Attributes>,
    current: &BTreeMap<String, Attributes>,
) -> ScanDiff {
    let mut out = ScanDiff::default();
    for (address, now) in current {
        match previous.get(address) {
            None => out.new.push(address.clone()),
            Some(before) => {
                let changes = attribute_changes(before, now);
                if !changes.is_empty() {
                    out.changed.push(ChangedHost {
                        address: address.clone(),
                        changes,
                    });
                }
            }
        }
    }
    out.gone = previous
        .keys()
        .filter(|address| !current.contains_key(*address))
        .cloned()
        .collect();
    out
}

/// Attribute-by-attribute differences, ignoring what moves on every scan.
fn attribute_changes(before: &Attributes, after: &Attributes) -> Vec<AttributeChange> {
    let (before_map, after_map) = (as_map(before), as_map(after));
    let mut names: Vec<&String> = before_map.keys().chain(after_map.keys()).collect();
    names.sort();
    names.dedup();
    let mut changes = Vec::new();
    for name in names {
        let (old, new) = (before_map.get(name), after_map.get(name));
        if old == new || name == "rtt_ms" {
            continue;
        }
        if name == "sys_uptime_s" {
            let restarted = matches!(
                (old.and_then(Value::as_f64), new.and_then(Value::as_f64)),
                (Some(o), Some(n)) if n < o
            );
            if !restarted {
                continue;
            }
        }
        changes.push(AttributeChange {
            field: name.clone(),
            before: old.cloned(),
            after: new.cloned(),
        });
    }
    changes
}

fn as_map(attributes: &Attributes) -> serde_json::Map<String, Value> {
    match serde_json::to_value(attributes) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(ports: &[u16], banner: Option<&str>, uptime: Option<f64>) -> Attributes {
        Attributes {
            open_ports: ports.to_vec(),
            ssh_banner: banner.map(str::to_owned),
            sys_uptime_s: uptime,
            rtt_ms: Some(0.1),
            ..Attributes::default()
        }
    }

    #[test]
    fn new_changed_and_gone_hosts_are_told_apart() {
        let previous = BTreeMap::from([
            (
                "10.0.0.1".to_owned(),
                host(&[22, 80], Some("SSH-2.0-OpenSSH_9.2"), Some(100.0)),
            ),
            ("10.0.0.2".to_owned(), host(&[80], None, None)),
            ("10.0.0.3".to_owned(), host(&[], None, Some(50.0))),
        ]);
        let mut current = BTreeMap::from([
            ("10.0.0.1".to_owned(), host(&[80], None, Some(200.0))),
            ("10.0.0.3".to_owned(), host(&[], None, Some(60.0))),
            ("10.0.0.4".to_owned(), host(&[443], None, None)),
        ]);
        current.get_mut("10.0.0.3").unwrap().rtt_ms = Some(9.0);
        let d = diff(&previous, &current);
        assert_eq!(d.new, ["10.0.0.4"]);
        assert_eq!(d.gone, ["10.0.0.2"]);
        assert_eq!(
            d.changed.len(),
            1,
            "rtt and a rising uptime are not changes: {d:?}"
        );
        let fields: Vec<&str> = d.changed[0]
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert_eq!(fields, ["open_ports", "ssh_banner"]);
        assert_eq!(d.changed[0].changes[1].after, None);
    }

    #[test]
    fn an_uptime_that_went_down_is_a_restart() {
        let previous = BTreeMap::from([("h".to_owned(), host(&[], None, Some(9000.0)))]);
        let current = BTreeMap::from([("h".to_owned(), host(&[], None, Some(12.0)))]);
        let d = diff(&previous, &current);
        assert_eq!(d.changed[0].changes[0].field, "sys_uptime_s");
    }

    #[test]
    fn the_first_scan_finds_everything_new() {
        let current = BTreeMap::from([("h".to_owned(), Attributes::default())]);
        let d = diff(&BTreeMap::new(), &current);
        assert_eq!(d.new, ["h"]);
        assert!(!d.is_empty());
        assert!(diff(&current, &current).is_empty());
    }
}
