//! Parsers: the shipped library's samples, bad definitions, and properties.
//!
//! `every_shipped_parser_passes_its_samples` is the "one test runs them all": it compiles
//! every entry of `libraries/parserLibrary.json` and checks each captured output against
//! its expected parse.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::LazyLock;

use opsconductor_core::parse::{
    CompiledParser, DefProblem, FieldType, Limits, ParserDef, check_samples, coerce,
    parse_duration_secs,
};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// Just enough of the library envelope: the loader owns the rest.
#[derive(Deserialize)]
struct Envelope {
    parsers: Vec<ParserDef>,
}

fn library_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../libraries/parserLibrary.json")
}

fn shipped() -> Vec<ParserDef> {
    let text = std::fs::read_to_string(library_path()).expect("read parserLibrary.json");
    let mut de = serde_json::Deserializer::from_str(&text);
    match serde_path_to_error::deserialize::<_, Envelope>(&mut de) {
        Ok(envelope) => envelope.parsers,
        Err(e) => panic!("parserLibrary.json: {}: {}", e.path(), e.inner()),
    }
}

fn shipped_parser(id: &str) -> CompiledParser {
    let def = shipped()
        .into_iter()
        .find(|p| p.id == id)
        .expect("parser shipped");
    def.compile().expect("compiles")
}

/// Deserialises one definition the way the loader does, path included.
fn def_from(value: Value) -> Result<ParserDef, DefProblem> {
    serde_path_to_error::deserialize::<_, ParserDef>(value).map_err(|e| DefProblem {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

fn compile_problems(value: Value) -> Vec<DefProblem> {
    let def = def_from(value).expect("definition deserialises");
    match def.compile() {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

fn paths(problems: &[DefProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

fn compiled(value: Value) -> CompiledParser {
    def_from(value)
        .expect("definition deserialises")
        .compile()
        .unwrap_or_else(|p| panic!("does not compile: {p:?}"))
}

// ---------------------------------------------------------------- the shipped library

#[test]
fn every_shipped_parser_passes_its_samples() {
    let mut failures = Vec::new();
    let mut samples = 0;
    for def in shipped() {
        match def.compile() {
            Ok(compiled) => {
                assert_eq!(compiled.id(), def.id);
                samples += def.samples.len();
                for p in check_samples(&def, &compiled) {
                    failures.push(format!("{}: {p}", def.id));
                }
            }
            Err(problems) => {
                failures.extend(problems.iter().map(|p| format!("{}: {p}", def.id)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(samples >= 20, "only {samples} samples ran");
}

#[test]
fn shipped_library_has_the_promised_parsers_each_with_two_samples() {
    let defs = shipped();
    let ids: BTreeSet<&str> = defs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), defs.len(), "duplicate ids");
    for id in [
        "ping.stats",
        "snmp.system",
        "snmp.if_table",
        "http.json_health",
        "ssh.banner",
        "device.show_version",
        "text.key_value",
        "text.table",
        "text.lines",
    ] {
        assert!(ids.contains(id), "{id} missing");
    }
    for def in &defs {
        assert!(
            def.samples.len() >= 2,
            "{} has {} samples",
            def.id,
            def.samples.len()
        );
    }
}

#[test]
fn shipped_definitions_survive_a_serde_round_trip() {
    for def in shipped() {
        let text = serde_json::to_string(&def).expect("serialise");
        let back: ParserDef = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, def, "{}", def.id);
    }
}

#[test]
fn ping_parser_reads_the_text_the_ping_action_renders() {
    let ping = shipped_parser("ping.stats");
    let out = ping.parse(
        "--- 10.0.0.1 ping statistics ---\n\
         5 packets transmitted, 5 received, 0% packet loss, time 4005ms\n\
         rtt min/avg/max/mdev = 1.000/2.000/3.000/0.500 ms\n",
    );
    assert!(out.is_clean(), "{:?}", out.errors);
    assert_eq!(out.fields["rtt_avg_ms"], json!(2.0));
    assert_eq!(out.fields["loss_pct"], json!(0.0));
}

#[test]
fn device_output_with_crlf_line_ends_parses_like_lf() {
    let sv = shipped_parser("device.show_version");
    let def = shipped()
        .into_iter()
        .find(|p| p.id == "device.show_version")
        .expect("shipped");
    let lf = &def.samples[0].input;
    let crlf = lf.replace('\n', "\r\n");
    assert_eq!(sv.parse(&crlf), sv.parse(lf));
}

// ---------------------------------------------------------------- bad definitions

fn regex_def(pattern: Value) -> Value {
    json!({
        "id": "t.regex", "name": "t",
        "extract": { "type": "regex", "pattern": pattern },
        "fields": { "n": { "from": "n", "type": "int" } }
    })
}

#[test]
fn broken_regex_is_reported_at_extract_pattern() {
    let problems = compile_problems(regex_def(json!("(?P<n>\\d+")));
    assert_eq!(paths(&problems), ["extract.pattern"]);
    assert!(
        problems[0].message.starts_with("invalid regex:"),
        "{}",
        problems[0].message
    );
    assert!(
        !problems[0].message.contains('\n'),
        "one line: {}",
        problems[0].message
    );
}

#[test]
fn broken_regex_in_a_pattern_list_is_named_by_index() {
    let problems = compile_problems(regex_def(json!(["(?P<n>\\d+)", "(?P<m>[a-"])));
    assert_eq!(paths(&problems), ["extract.pattern[1]"]);
}

#[test]
fn pattern_without_named_groups_is_reported() {
    let problems = compile_problems(json!({
        "id": "t", "name": "t", "extract": { "type": "regex", "pattern": "\\d+" }
    }));
    assert_eq!(paths(&problems), ["extract.pattern"]);
    assert!(problems[0].message.contains("named group"));
}

#[test]
fn bad_jsonpath_is_reported_at_its_key() {
    let problems = compile_problems(json!({
        "id": "t", "name": "t",
        "extract": {
            "type": "jsonpath",
            "paths": { "ok": "$.status", "bad": "$.checks[" },
            "rows": "$.checks[*]",
            "row_paths": { "name": "@.name", "worse": "@..[?" }
        }
    }));
    assert_eq!(
        paths(&problems),
        ["extract.paths.bad", "extract.row_paths.worse"]
    );
    assert!(
        problems[0]
            .message
            .starts_with("invalid JSONPath: at character"),
        "{}",
        problems[0].message
    );
}

#[test]
fn row_paths_without_rows_are_reported() {
    let problems = compile_problems(json!({
        "id": "t", "name": "t",
        "extract": { "type": "jsonpath", "paths": { "a": "$.a" }, "row_paths": { "b": "@.b" } }
    }));
    assert_eq!(paths(&problems), ["extract.row_paths"]);
}

#[test]
fn unknown_field_in_a_definition_is_refused_with_its_path() {
    let e = def_from(json!({
        "id": "t", "name": "t",
        "extract": { "type": "kv" },
        "fields": { "a": { "frm": "b" } }
    }))
    .unwrap_err();
    assert_eq!(e.path, "fields.a.frm");
    assert!(e.message.contains("unknown field `frm`"), "{}", e.message);

    let e = def_from(json!({ "id": "t", "name": "t", "extract": { "type": "kv" }, "parser": 1 }))
        .unwrap_err();
    assert!(
        e.message.contains("unknown field `parser`"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_field_inside_extract_names_the_key() {
    let e = def_from(json!({
        "id": "t", "name": "t", "extract": { "type": "regex", "patern": "(?P<a>.)" }
    }))
    .unwrap_err();
    assert_eq!(e.path, "extract");
    assert!(
        e.message.contains("unknown field `patern`"),
        "{}",
        e.message
    );

    let e = def_from(json!({
        "id": "t", "name": "t", "extract": { "type": "regex", "pattern": "(?P<a>.)", "mode": "every" }
    }))
    .unwrap_err();
    assert!(
        e.message.starts_with("mode: unknown variant `every`"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_type_is_refused_with_its_path() {
    let e = def_from(json!({
        "id": "t", "name": "t",
        "extract": { "type": "kv" },
        "fields": { "a": { "type": "integer" } }
    }))
    .unwrap_err();
    assert_eq!(e.path, "fields.a.type");
    assert!(
        e.message.contains("unknown variant `integer`"),
        "{}",
        e.message
    );

    let e = def_from(json!({ "id": "t", "name": "t", "extract": { "type": "xml" } })).unwrap_err();
    assert_eq!(e.path, "extract");
    assert!(e.message.contains("unknown variant `xml`"), "{}", e.message);
}

#[test]
fn field_reading_a_missing_group_is_reported_at_its_from() {
    let problems = compile_problems(json!({
        "id": "t", "name": "t",
        "extract": { "type": "regex", "pattern": "(?P<tx>\\d+) sent" },
        "fields": {
            "sent": { "from": "txx", "type": "int" },
            "alt": { "from": ["tx", "rx"], "type": "int" },
            "tx2": { "type": "int" }
        }
    }));
    assert_eq!(
        paths(&problems),
        ["fields.alt.from[1]", "fields.sent.from", "fields.tx2"]
    );
    assert!(
        problems[1].message.contains("it produces: tx"),
        "{}",
        problems[1].message
    );
}

#[test]
fn every_problem_of_a_definition_is_reported_at_once() {
    let problems = compile_problems(json!({
        "id": "t", "name": " ",
        "extract": { "type": "table", "widths": [3, 0] },
        "fields": {
            "1bad": { "type": "string" },
            "a": { "type": "string", "scale": 2 },
            "b": { "type": "int", "default": "many" },
            "c": { "type": "float", "scale": 0 }
        }
    }));
    assert_eq!(
        paths(&problems),
        [
            "extract.columns",
            "extract.widths[1]",
            "name",
            "fields.1bad",
            "fields.a.scale",
            "fields.b.default",
            "fields.c.scale"
        ]
    );
}

#[test]
fn pivot_naming_a_missing_group_is_reported() {
    let problems = compile_problems(json!({
        "id": "t", "name": "t",
        "extract": {
            "type": "lines", "pattern": "^(?P<n>\\w+) = (?P<v>.*)$",
            "pivot": { "name": "n", "value": "value", "key": "idx" }
        }
    }));
    assert_eq!(
        paths(&problems),
        ["extract.pivot.value", "extract.pivot.key"]
    );
}

#[test]
fn differing_sample_is_reported_at_its_expected_path_with_a_compact_diff() {
    let def = def_from(json!({
        "id": "t", "name": "t",
        "extract": { "type": "regex", "pattern": "(?P<n>\\d+)" },
        "fields": { "n": { "type": "int" } },
        "samples": [
            { "name": "right", "input": "7", "expected": { "fields": { "n": 7 } } },
            { "name": "wrong", "input": "8", "expected": { "fields": { "n": 7, "m": 1 } } },
            { "name": "no match", "input": "x", "expected": { "fields": {} } }
        ]
    }))
    .expect("deserialises");
    let compiled = def.compile().expect("compiles");
    let problems = check_samples(&def, &compiled);
    assert_eq!(
        paths(&problems),
        ["samples[1].expected", "samples[2].expected"]
    );
    assert_eq!(
        problems[0].message,
        "sample \"wrong\" parses differently: fields.m: expected 1, missing; fields.n: expected 7, got 8"
    );
    assert!(
        problems[1].message.contains("errors: 0 expected, 1 got"),
        "{}",
        problems[1].message
    );
}

// ---------------------------------------------------------------- output behaviour

#[test]
fn oversized_input_is_cut_at_a_character_boundary_and_reported() {
    let p = compiled(json!({
        "id": "t", "name": "t", "extract": { "type": "regex", "pattern": "(?P<all>(?s).+)" }
    }));
    let limits = Limits {
        max_input_bytes: 4,
        ..Limits::default()
    };
    let out = p.parse_with_limits("abcé€", &limits);
    assert_eq!(out.fields["all"], json!("abc"));
    assert_eq!(
        out.errors,
        ["input longer than 4 bytes; only the first 4 were parsed"]
    );
}

#[test]
fn rows_are_capped_and_the_cap_reported_once() {
    let p = compiled(json!({
        "id": "t", "name": "t", "extract": { "type": "regex", "pattern": "(?P<d>\\d)", "mode": "all" }
    }));
    let limits = Limits {
        max_rows: 3,
        ..Limits::default()
    };
    let out = p.parse_with_limits("1 2 3 4 5 6", &limits);
    assert_eq!(out.rows.len(), 3);
    assert_eq!(out.errors, ["more than 3 rows; the rest were dropped"]);
}

#[test]
fn default_row_cap_holds_for_a_megabyte_of_lines() {
    let text = "x\n".repeat(600_000);
    let out = shipped_parser("text.lines").parse(&text);
    assert_eq!(out.rows.len(), 10_000);
    assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
}

#[test]
fn coercion_failure_nulls_the_field_and_names_field_and_value() {
    let p = compiled(json!({
        "id": "t", "name": "t",
        "extract": { "type": "regex", "pattern": "loss (?P<loss>\\S+)", "mode": "all" },
        "fields": { "loss_pct": { "from": "loss", "type": "float", "unit": "%" } }
    }));
    let out = p.parse("loss 5% loss n/a");
    assert_eq!(
        out.rows,
        [json!({"loss_pct": 5.0}), json!({"loss_pct": null})]
            .map(|v| v.as_object().cloned().expect("object"))
    );
    assert_eq!(
        out.errors,
        ["rows[1].loss_pct: cannot read \"n/a\" as float: not a number"]
    );
}

#[test]
fn errors_beyond_the_cap_are_counted() {
    let p = compiled(json!({
        "id": "t", "name": "t",
        "extract": { "type": "regex", "pattern": "(?P<w>[a-z]+)", "mode": "all" },
        "fields": { "n": { "from": "w", "type": "int" } }
    }));
    let limits = Limits {
        max_errors: 2,
        ..Limits::default()
    };
    let out = p.parse_with_limits("a b c d e", &limits);
    assert_eq!(out.errors.len(), 3);
    assert_eq!(out.errors[2], "3 more errors not shown");
}

// ---------------------------------------------------------------- properties

/// Compiled once: regex compilation dominates a debug-build proptest case otherwise.
fn all_shipped() -> &'static [CompiledParser] {
    static ALL: LazyLock<Vec<CompiledParser>> = LazyLock::new(|| {
        shipped()
            .iter()
            .map(|d| d.compile().expect("compiles"))
            .collect()
    });
    &ALL
}

/// Text that looks a bit like device output, so the extractors get past their first test.
fn devicey_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[ -~]{0,40}",
            "[a-zA-Z.:-]{1,12} ?[=:] ?[0-9a-z ()\"]{0,20}",
            "(IF-MIB::if[A-Z][a-z]+|SNMPv2-MIB::sys[A-Z][a-z]+)\\.[0-9]{1,3} = [A-Za-z0-9]{1,9}: [ -~]{0,20}",
            "[0-9]{1,3} packets transmitted, [0-9]{1,3} received, [0-9.]{1,6}% packet loss",
            "\\{\"status\": ?\"[A-Z]{2,4}\", ?\"checks\": ?\\[[ -~]{0,30}",
            "\\PC{0,20}",
        ],
        0..20,
    )
    .prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,400}") {
        for parser in all_shipped() {
            let _ = parser.parse(&text);
        }
    }

    #[test]
    fn parsing_device_like_text_never_panics(text in devicey_text()) {
        for parser in all_shipped() {
            let out = parser.parse(&text);
            prop_assert!(out.rows.len() <= 10_000);
        }
    }

    #[test]
    fn parsing_lossily_decoded_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        for parser in all_shipped() {
            let _ = parser.parse(&text);
        }
    }

    #[test]
    fn int_coercion_round_trips(n in any::<i64>()) {
        prop_assert_eq!(coerce(&n.to_string(), FieldType::Int).ok(), Some(json!(n)));
        let grouped = group_thousands(n);
        prop_assert_eq!(coerce(&grouped, FieldType::Int).ok(), Some(json!(n)));
    }

    #[test]
    fn float_coercion_round_trips(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        prop_assert_eq!(coerce(&f.to_string(), FieldType::Float).ok(), Some(json!(f)));
        prop_assert_eq!(coerce(&format!("{f:e}"), FieldType::Float).ok(), Some(json!(f)));
    }

    #[test]
    fn duration_of_hours_minutes_seconds_is_their_sum(h in 0u64..100_000, m in 0u64..60, s in 0u64..60) {
        let secs = parse_duration_secs(&format!("{h}h{m}m{s}s")).expect("parses");
        prop_assert_eq!(secs, (h * 3_600 + m * 60 + s) as f64);
        let spaced = parse_duration_secs(&format!("{h} hours, {m} minutes, {s} seconds")).expect("parses");
        prop_assert_eq!(spaced, secs);
    }

    #[test]
    fn coercion_never_panics(text in "\\PC{0,40}") {
        for ty in [FieldType::Int, FieldType::Float, FieldType::Bool, FieldType::String,
                   FieldType::Duration, FieldType::Bytes] {
            let _ = coerce(&text, ty);
        }
    }
}

/// `-1234567` → `-1,234,567`.
fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
