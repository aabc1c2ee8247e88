//! Fuzzes what operators and devices feed the inventory: group filters (parsed, then
//! evaluated against a device built from the same bytes), CSV and JSON imports, and the
//! vendor / model / OS guess from SNMP and banner text devices send back.
//!
//! Nothing may panic; an export of what an import accepted must import again with the
//! same addresses.

#![no_main]

use chrono::Utc;
use libfuzzer_sys::fuzz_target;
use opsconductor_core::inventory::import::{parse_csv, parse_json, to_csv};
use opsconductor_core::inventory::{Attributes, Device, Filter, identify};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let attributes = Attributes {
        sys_descr: Some(text.clone()),
        sys_object_id: Some(text.clone()),
        ssh_banner: Some(text.clone()),
        http_server: Some(text.clone()),
        open_ports: data.iter().map(|b| u16::from(*b)).take(8).collect(),
        ..Attributes::default()
    };
    let guess = identify(&attributes);
    let device = Device {
        address: "10.0.0.1".to_owned(),
        hostname: Some(text.clone()),
        segment: None,
        attributes: Attributes {
            vendor: guess.vendor,
            model: guess.model,
            os: guess.os,
            ..attributes
        },
        tags: text.split_whitespace().take(4).map(str::to_owned).collect(),
        notes: text.clone(),
        first_seen: Utc::now(),
        last_seen: Utc::now(),
        last_scan_id: None,
    };
    if let Ok(filter) = Filter::parse(&text) {
        let _ = filter.matches(&device);
    }
    let _ = parse_json(&text);
    if let Ok(parsed) = parse_csv(&text) {
        let devices: Vec<Device> = parsed
            .records
            .iter()
            .map(|(_, r)| Device {
                address: r.address.clone(),
                hostname: r.hostname.clone(),
                tags: r.tags.clone(),
                notes: r.notes.clone().unwrap_or_default(),
                attributes: Attributes {
                    vendor: r.vendor.clone(),
                    model: r.model.clone(),
                    os: r.os.clone(),
                    ..Attributes::default()
                },
                ..device.clone()
            })
            .collect();
        let again = parse_csv(&to_csv(&devices)).expect("an export imports");
        let before: Vec<&str> = parsed.records.iter().map(|(_, r)| r.address.as_str()).collect();
        let after: Vec<&str> = again.records.iter().map(|(_, r)| r.address.as_str()).collect();
        assert_eq!(before, after);
    }
});
