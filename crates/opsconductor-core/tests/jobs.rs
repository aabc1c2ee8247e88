//! Job validation against the shipped libraries: every problem named by its field.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use opsconductor_core::library::Library;
use opsconductor_core::model::JobSpec;
use serde_json::{Value, json};

fn library() -> &'static Library {
    static LIB: OnceLock<Library> = OnceLock::new();
    LIB.get_or_init(|| {
        Library::load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"))
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn job(overrides: Value) -> JobSpec {
    let mut base = json!({
        "name": "core pings",
        "schedule": {"type": "interval", "seconds": 60},
        "targets": {"include": [{"type": "range", "value": "10.20.0.0/24"}], "exclude": ["10.20.0.1"]},
        "actions": [{"command": "ping.icmp", "params": {"count": 2}}]
    });
    for (k, v) in overrides.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

fn fields(spec: &JobSpec) -> Vec<String> {
    match spec.validate(library()) {
        Ok(()) => Vec::new(),
        Err(e) => e
            .errors
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect(),
    }
}

#[test]
fn a_sensible_job_validates() {
    assert_eq!(fields(&job(json!({}))), Vec::<String>::new());
}

#[test]
fn wrong_param_type_and_range_are_named_by_path() {
    let f = fields(&job(json!({"actions": [
        {"command": "ping.icmp", "params": {"count": "four"}},
        {"command": "ping.icmp", "params": {"count": 100000}}
    ]})));
    assert!(
        f.iter().any(|e| e.starts_with("actions[0].params.count:")),
        "{f:?}"
    );
    assert!(
        f.iter().any(|e| e.starts_with("actions[1].params.count:")),
        "{f:?}"
    );
}

#[test]
fn unknown_command_and_parser_are_named_with_a_suggestion() {
    let f = fields(&job(json!({"actions": [
        {"command": "ping.icmpp"},
        {"command": "ping.icmp", "parsers": ["ping.stat"]}
    ]})));
    assert!(
        f.iter()
            .any(|e| e.starts_with("actions[0].command:")
                && e.contains("did you mean \"ping.icmp\"")),
        "{f:?}"
    );
    assert!(
        f.iter().any(|e| e.starts_with("actions[1].parsers[0]:")),
        "{f:?}"
    );
}

#[test]
fn bad_cron_bad_cidr_and_an_unapproved_slash_eight_are_named() {
    let f = fields(&job(json!({
        "schedule": {"type": "cron", "expression": "every minute"},
        "targets": {"include": [{"type": "range", "value": "10.0.0.0/33"}, {"type": "range", "value": "11.0.0.0/8"}]}
    })));
    assert!(
        f.iter().any(|e| e.starts_with("schedule.expression:")),
        "{f:?}"
    );
    assert!(
        f.iter().any(|e| e.starts_with("targets.include[0].value:")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|e| e.contains("allow_large") || e.contains("cap")),
        "{f:?}"
    );
}

#[test]
fn a_slash_eight_with_the_override_validates() {
    let f = fields(&job(json!({
        "targets": {"include": [{"type": "range", "value": "10.0.0.0/8"}], "allow_large": true}
    })));
    assert_eq!(f, Vec::<String>::new());
}

#[test]
fn no_actions_empty_name_and_bad_options_are_all_reported_together() {
    let f = fields(&job(json!({
        "name": " ",
        "actions": [],
        "options": {"concurrency": 0, "target_timeout_ms": 5, "segment": "Bad Name"}
    })));
    for field in [
        "name:",
        "actions:",
        "options.concurrency:",
        "options.target_timeout_ms:",
        "options.segment:",
    ] {
        assert!(f.iter().any(|e| e.starts_with(field)), "{field} in {f:?}");
    }
}

#[test]
fn everything_excluded_is_an_error() {
    let f = fields(&job(json!({
        "targets": {"include": [{"type": "range", "value": "10.0.0.0/30"}], "exclude": ["10.0.0.0/24"]}
    })));
    assert!(f.iter().any(|e| e.starts_with("targets.include:")), "{f:?}");
}

#[test]
fn a_credential_on_a_command_without_one_is_refused() {
    let f = fields(&job(json!({"actions": [
        {"command": "ping.icmp", "credential": "0190a9e2-0000-7000-8000-000000000000"}
    ]})));
    assert!(
        f.iter().any(|e| e.starts_with("actions[0].credential:")),
        "{f:?}"
    );
}

#[test]
fn criteria_overrides_are_parsed() {
    let f = fields(&job(json!({"actions": [
        {"command": "ping.icmp", "criteria": {"ok": "loss_pct <"}}
    ]})));
    assert!(
        f.iter()
            .any(|e| e.starts_with("actions[0].criteria.ok:") && e.contains("column")),
        "{f:?}"
    );
}

#[test]
fn unknown_fields_in_a_job_are_refused() {
    let text = r#"{"name": "x", "schedule": {"type": "manual"}, "targets": {"include": []},
                   "actions": [], "colour": "red"}"#;
    let err = serde_json::from_str::<JobSpec>(text).unwrap_err();
    assert!(err.to_string().contains("colour"));
}
