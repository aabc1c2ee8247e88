//! Unit tests of the extractors and the field map.

use serde_json::{Value, json};

use super::*;

fn parser(def: Value) -> CompiledParser {
    let def: ParserDef = serde_json::from_value(def).expect("definition deserialises");
    def.compile()
        .unwrap_or_else(|p| panic!("does not compile: {p:?}"))
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn rows(values: Value) -> Vec<Map<String, Value>> {
    match values {
        Value::Array(items) => items.into_iter().map(map).collect(),
        other => panic!("not an array: {other}"),
    }
}

fn extract_only(extract: Value) -> CompiledParser {
    parser(json!({ "id": "t", "name": "t", "extract": extract }))
}

// ---------------------------------------------------------------- regex

#[test]
fn regex_first_takes_the_first_match_and_leaves_idle_groups_out() {
    let p = extract_only(
        json!({ "type": "regex", "pattern": "(?P<k>[a-z]+)=(?P<v>\\d+)(?P<unit>ms)?" }),
    );
    let out = p.parse("x a=1 b=2ms");
    assert_eq!(out.fields, map(json!({ "k": "a", "v": "1" })));
    assert!(out.is_clean());
}

#[test]
fn regex_pattern_list_merges_groups_and_the_earlier_pattern_wins() {
    let p = extract_only(json!({
        "type": "regex", "multiline": true,
        "pattern": ["^host (?P<host>\\S+)", "^(?P<host>\\S+) uptime is (?P<up>.+)$", "^absent (?P<x>.)"]
    }));
    let out = p.parse("r1 uptime is 5 minutes\r\nhost core-1\r\n");
    assert_eq!(
        out.fields,
        map(json!({ "host": "core-1", "up": "5 minutes" }))
    );
    assert!(
        out.is_clean(),
        "a pattern that finds nothing is fine when another matched"
    );
}

#[test]
fn regex_all_gives_one_row_per_match() {
    let p = extract_only(
        json!({ "type": "regex", "mode": "all", "pattern": "(?P<port>Gi\\S+) is (?P<state>up|down)" }),
    );
    let out = p.parse("Gi0/1 is up\nGi0/2 is down\n");
    assert_eq!(
        out.rows,
        rows(json!([{ "port": "Gi0/1", "state": "up" }, { "port": "Gi0/2", "state": "down" }]))
    );
    assert!(out.fields.is_empty());
}

#[test]
fn regex_flags_change_matching() {
    let p = extract_only(
        json!({ "type": "regex", "pattern": "status: (?P<s>up)", "case_insensitive": true }),
    );
    assert_eq!(p.parse("STATUS: UP").fields["s"], json!("UP"));
    let p = extract_only(
        json!({ "type": "regex", "pattern": "begin(?P<body>.*)end", "dot_all": true }),
    );
    assert_eq!(p.parse("begin\nx\nend").fields["body"], json!("\nx\n"));
}

#[test]
fn regex_without_match_reports_no_match_and_empty_fields() {
    let p = parser(json!({
        "id": "t", "name": "t",
        "extract": { "type": "regex", "pattern": "(?P<n>\\d+)" },
        "fields": { "n": { "type": "int", "default": 0 } }
    }));
    let out = p.parse("none here");
    assert!(
        out.fields.is_empty(),
        "defaults do not invent a match: {:?}",
        out.fields
    );
    assert_eq!(out.errors, ["no match: the pattern matched nothing"]);
}

#[test]
fn mode_all_with_several_patterns_is_refused() {
    let def: ParserDef = serde_json::from_value(json!({
        "id": "t", "name": "t",
        "extract": { "type": "regex", "mode": "all", "pattern": ["(?P<a>a)", "(?P<b>b)"] }
    }))
    .expect("deserialises");
    let problems = def.compile().expect_err("refused");
    assert_eq!(problems[0].path, "extract.pattern");
}

// ---------------------------------------------------------------- lines

#[test]
fn lines_without_pivot_give_a_row_per_matching_line() {
    let p = extract_only(
        json!({ "type": "lines", "pattern": "^(?P<name>\\w+)\\s+(?P<state>UP|DOWN)" }),
    );
    let out = p.parse("header line\neth0 UP\n\neth1 DOWN\r\n");
    assert_eq!(
        out.rows,
        rows(json!([{ "name": "eth0", "state": "UP" }, { "name": "eth1", "state": "DOWN" }]))
    );
}

#[test]
fn lines_pivot_without_key_fills_fields_first_one_wins() {
    let p = extract_only(json!({
        "type": "lines", "pattern": "^(?P<n>\\w+)\\.0 = (?:\\w+: (?P<v>.*))?$",
        "pivot": { "name": "n", "value": "v" }
    }));
    let out = p.parse("sysName.0 = STRING: a\nsysName.0 = STRING: b\nsysLocation.0 = No Such Object\nsysContact.0 = \n");
    assert_eq!(out.fields, map(json!({ "sysName": "a" })));
}

#[test]
fn lines_pivot_with_key_gathers_rows_in_order_of_first_appearance() {
    let p = extract_only(json!({
        "type": "lines", "pattern": "^(?P<col>\\w+)\\.(?P<idx>\\d+) = (?P<val>.*)$",
        "pivot": { "name": "col", "value": "val", "key": "idx" }
    }));
    let out = p.parse("ifDescr.3 = c\nifDescr.1 = a\nifOper.1 = up\nifOper.3 = down\n");
    assert_eq!(
        out.rows,
        rows(json!([
            { "idx": "3", "ifDescr": "c", "ifOper": "down" },
            { "idx": "1", "ifDescr": "a", "ifOper": "up" }
        ]))
    );
}

#[test]
fn lines_pivot_caps_new_keys_but_fills_existing_rows() {
    let p = extract_only(json!({
        "type": "lines", "pattern": "^(?P<col>\\w+)\\.(?P<idx>\\d+) = (?P<val>.*)$",
        "pivot": { "name": "col", "value": "val", "key": "idx" }
    }));
    let limits = Limits {
        max_rows: 1,
        ..Limits::default()
    };
    let out = p.parse_with_limits("a.1 = x\na.2 = y\nb.1 = z\n", &limits);
    assert_eq!(out.rows, rows(json!([{ "idx": "1", "a": "x", "b": "z" }])));
    assert_eq!(out.errors, ["more than 1 rows; the rest were dropped"]);
}

// ---------------------------------------------------------------- jsonpath

#[test]
fn jsonpath_gives_one_node_as_is_several_as_an_array_none_absent() {
    let p = extract_only(json!({
        "type": "jsonpath",
        "paths": { "status": "$.status", "names": "$.checks[*].name", "nope": "$.missing", "count": "$.n" }
    }));
    let out = p.parse(r#"{"status":"UP","n":3,"checks":[{"name":"db"},{"name":"disk"}]}"#);
    assert_eq!(
        out.fields,
        map(json!({ "status": "UP", "names": ["db", "disk"], "count": 3 }))
    );
}

#[test]
fn jsonpath_row_paths_take_the_row_as_root_with_at_or_dollar() {
    let p = extract_only(json!({
        "type": "jsonpath", "rows": "$.checks",
        "row_paths": { "name": "@.name", "state": "$.status", "err": "@.data.error" }
    }));
    let out = p.parse(r#"{"checks":[{"name":"db","status":"DOWN","data":{"error":"refused"}},{"name":"disk","status":"UP"}]}"#);
    assert_eq!(
        out.rows,
        rows(json!([
            { "name": "db", "state": "DOWN", "err": "refused" },
            { "name": "disk", "state": "UP" }
        ]))
    );
    assert!(out.is_clean());
}

#[test]
fn jsonpath_rows_without_row_paths_pass_elements_through() {
    let p = extract_only(json!({ "type": "jsonpath", "rows": "$.items[*]" }));
    let out = p.parse(r#"{"items":[{"a":1},"two",3]}"#);
    assert_eq!(
        out.rows,
        rows(json!([{ "a": 1 }, { "value": "two" }, { "value": 3 }]))
    );
}

#[test]
fn jsonpath_reports_invalid_json_and_selecting_nothing() {
    let p = extract_only(
        json!({ "type": "jsonpath", "paths": { "s": "$.status" }, "rows": "$.checks[*]" }),
    );
    assert_eq!(
        p.parse("<html>").errors,
        ["input is not valid JSON: expected value at line 1 column 1"]
    );
    assert_eq!(
        p.parse(r#"{"other":1}"#).errors,
        ["no match: no query selected anything"]
    );
    assert_eq!(
        p.parse(r#"{"checks":[]}"#).errors,
        ["no match: no query selected anything"]
    );
    let whole = extract_only(json!({ "type": "jsonpath", "rows": "$.checks" }));
    let out = whole.parse(r#"{"checks":[]}"#);
    assert!(
        out.is_clean() && out.rows.is_empty(),
        "an empty array selected whole is a match"
    );
}

#[test]
fn jsonpath_field_map_sends_each_field_where_its_raw_name_lives() {
    let p = parser(json!({
        "id": "t", "name": "t",
        "extract": {
            "type": "jsonpath", "paths": { "version": "$.version", "status": "$.status" },
            "rows": "$.checks[*]", "row_paths": { "name": "@.name", "status": "@.status" }
        },
        "fields": {
            "version": { "type": "string", "default": "unknown" },
            "up": { "from": "status", "type": "bool" },
            "name": { "type": "string" }
        }
    }));
    let out = p.parse(r#"{"status":"UP","checks":[{"name":"db","status":"DOWN"}]}"#);
    assert_eq!(out.fields, map(json!({ "version": "unknown", "up": true })));
    assert_eq!(out.rows, rows(json!([{ "name": "db", "up": false }])));
}

#[test]
fn jsonpath_numbers_coerce_without_going_through_text() {
    let p = parser(json!({
        "id": "t", "name": "t",
        "extract": { "type": "jsonpath", "paths": { "up": "$.uptime", "n": "$.count", "raw": "$.obj" } },
        "fields": {
            "uptime_s": { "from": "up", "type": "duration" },
            "n": { "type": "int" },
            "raw": {}
        }
    }));
    let out = p.parse(r#"{"uptime": 86412.5, "count": 7.0, "obj": {"a": [1]}}"#);
    assert_eq!(
        out.fields,
        map(json!({ "uptime_s": 86412.5, "n": 7, "raw": { "a": [1] } }))
    );
}

// ---------------------------------------------------------------- kv

#[test]
fn kv_reads_equals_pairs_by_default() {
    let p = extract_only(json!({ "type": "kv" }));
    let out = p.parse("A=1\nB = \"two words\"\nnot a pair\nC='x'\n\nA=again");
    assert_eq!(
        out.fields,
        map(json!({ "A": "1", "B": "two words", "C": "x" }))
    );
}

#[test]
fn kv_accepts_colon_separator_and_snake_case_keys() {
    let p = extract_only(json!({ "type": "kv", "separator": ":", "keys": "snake_case" }));
    let out = p.parse("Base ethernet MAC Address       : 00:1A:2B:3C:4D:00\r\nModel number                    : WS-C2960-24TT-L\r\n");
    assert_eq!(
        out.fields,
        map(
            json!({ "base_ethernet_mac_address": "00:1A:2B:3C:4D:00", "model_number": "WS-C2960-24TT-L" })
        )
    );
}

#[test]
fn kv_honours_delimiter_comment_and_quote_options() {
    let p = extract_only(
        json!({ "type": "kv", "delimiter": ";", "comment": "#", "strip_quotes": false, "keys": "lowercase" }),
    );
    let out = p.parse("# note=1; Host=\"r1\" ;Port=22;");
    assert_eq!(out.fields, map(json!({ "host": "\"r1\"", "port": "22" })));
}

#[test]
fn kv_without_pairs_reports_no_match() {
    let p = extract_only(json!({ "type": "kv", "separator": ":" }));
    assert_eq!(
        p.parse("nothing\nhere").errors,
        ["no match: no `key:value` pair found"]
    );
}

#[test]
fn kv_caps_fields() {
    let p = extract_only(json!({ "type": "kv" }));
    let limits = Limits {
        max_fields: 2,
        ..Limits::default()
    };
    let out = p.parse_with_limits("a=1\nb=2\nc=3\nd=4", &limits);
    assert_eq!(out.fields.len(), 2);
    assert_eq!(out.errors, ["more than 2 fields; the rest were dropped"]);
}

// ---------------------------------------------------------------- table

#[test]
fn table_header_names_columns_and_the_last_takes_the_rest() {
    let p = extract_only(json!({ "type": "table", "header": true }));
    let out = p.parse("Port   Status  Description\n------ ------- -----------\nGi0/1  up      uplink to core\nGi0/2  down\n");
    assert_eq!(
        out.rows,
        rows(json!([
            { "port": "Gi0/1", "status": "up", "description": "uplink to core" },
            { "port": "Gi0/2", "status": "down" }
        ]))
    );
}

#[test]
fn table_with_explicit_columns_and_skipped_lines() {
    let p = extract_only(json!({ "type": "table", "columns": ["iface", "mtu"], "skip_lines": 1 }));
    let out = p.parse("Kernel Interface table\neth0 1500\nlo 65536 extra words\n");
    assert_eq!(
        out.rows,
        rows(
            json!([{ "iface": "eth0", "mtu": "1500" }, { "iface": "lo", "mtu": "65536 extra words" }])
        )
    );
}

#[test]
fn table_columns_override_the_header_line() {
    let p = extract_only(json!({ "type": "table", "header": true, "columns": ["fs", "mount"] }));
    let out = p.parse("Filesystem Mounted on\n/dev/sda1  /\n");
    assert_eq!(out.rows, rows(json!([{ "fs": "/dev/sda1", "mount": "/" }])));
}

#[test]
fn table_fixed_widths_keep_empty_cells_out() {
    let p = extract_only(
        json!({ "type": "table", "columns": ["addr", "flags", "iface"], "widths": [10, 6, 5] }),
    );
    let out = p.parse("10.0.0.1  C     eth0\n10.0.0.2        eth1\n");
    assert_eq!(
        out.rows,
        rows(json!([
            { "addr": "10.0.0.1", "flags": "C", "iface": "eth0" },
            { "addr": "10.0.0.2", "iface": "eth1" }
        ]))
    );
}

#[test]
fn table_reports_missing_header_and_missing_rows() {
    let p = extract_only(json!({ "type": "table", "header": true }));
    assert_eq!(p.parse("\n\n").errors, ["no match: no header line"]);
    assert_eq!(
        p.parse("A B\n").errors,
        ["no match: the table has no data rows"]
    );
}

#[test]
fn widths_must_match_explicit_columns() {
    let def: ParserDef = serde_json::from_value(json!({
        "id": "t", "name": "t", "extract": { "type": "table", "columns": ["a", "b"], "widths": [3] }
    }))
    .expect("deserialises");
    let problems = def.compile().expect_err("refused");
    assert_eq!(problems[0].path, "extract.widths");
}

// ---------------------------------------------------------------- field map

#[test]
fn field_map_tries_raw_names_in_order_and_applies_defaults() {
    let p = parser(json!({
        "id": "t", "name": "t",
        "extract": { "type": "kv" },
        "fields": {
            "name": { "from": ["ifName", "ifDescr"], "type": "string" },
            "errors": { "type": "int", "default": 0 },
            "mtu": { "type": "int" }
        }
    }));
    let out = p.parse("ifDescr=eth0\nmtu=\n");
    assert_eq!(out.fields, map(json!({ "name": "eth0", "errors": 0 })));
    assert!(
        out.is_clean(),
        "an empty typed value counts as absent: {:?}",
        out.errors
    );
}

#[test]
fn field_map_keeps_empty_text_for_string_fields() {
    let p = parser(json!({
        "id": "t", "name": "t", "extract": { "type": "kv" },
        "fields": { "alias": { "type": "string" }, "raw": {} }
    }));
    assert_eq!(
        p.parse("alias=\nraw=").fields,
        map(json!({ "alias": "", "raw": "" }))
    );
}

#[test]
fn field_map_scales_and_strips_its_unit() {
    let p = parser(json!({
        "id": "t", "name": "t", "extract": { "type": "kv" },
        "fields": {
            "size_bytes": { "from": "size", "type": "bytes", "scale": 1024 },
            "speed_bps": { "from": "speed", "type": "int", "unit": "Mb/s", "scale": 1000000 },
            "ratio": { "type": "float", "unit": "%", "scale": 0.01 }
        }
    }));
    let out = p.parse("size=1953125\nspeed=1000 Mb/s\nratio=50%");
    assert_eq!(
        out.fields,
        map(json!({ "size_bytes": 2_000_000_000u64, "speed_bps": 1_000_000_000u64, "ratio": 0.5 }))
    );
}

#[test]
fn field_map_output_only_holds_mapped_fields() {
    let p = parser(json!({
        "id": "t", "name": "t", "extract": { "type": "kv" },
        "fields": { "a": { "type": "int" } }
    }));
    assert_eq!(p.parse("a=1\nb=2").fields, map(json!({ "a": 1 })));
}

#[test]
fn empty_field_map_is_refused() {
    let def: ParserDef = serde_json::from_value(json!({
        "id": "t", "name": "t", "extract": { "type": "kv" }, "fields": {}
    }))
    .expect("deserialises");
    assert_eq!(def.compile().expect_err("refused")[0].path, "fields");
}

// ---------------------------------------------------------------- types

#[test]
fn parsed_output_serialises_compactly_and_round_trips() {
    let out = ParsedOutput {
        fields: map(json!({ "a": 1 })),
        rows: Vec::new(),
        errors: Vec::new(),
    };
    let text = serde_json::to_string(&out).expect("serialise");
    assert_eq!(text, r#"{"fields":{"a":1}}"#);
    assert_eq!(
        serde_json::from_str::<ParsedOutput>(&text).expect("deserialise"),
        out
    );
}

#[test]
fn def_problem_converts_to_a_field_error() {
    let e: crate::error::FieldError = DefProblem::new("extract.pattern", "bad").into();
    assert_eq!(e.field, "extract.pattern");
    assert_eq!(DefProblem::new("a", "b").to_string(), "a: b");
}

#[test]
fn snake_case_keys_collapse_punctuation() {
    assert_eq!(KeyCase::SnakeCase.apply(" %CPU "), "cpu");
    assert_eq!(KeyCase::SnakeCase.apply("Recv-Q"), "recv_q");
    assert_eq!(
        KeyCase::SnakeCase.apply("System serial number"),
        "system_serial_number"
    );
    assert_eq!(KeyCase::Lowercase.apply("Mounted On"), "mounted on");
}

#[test]
fn truncation_respects_character_boundaries() {
    assert_eq!(truncate("aé", 2), Some("a"));
    assert_eq!(truncate("ab", 2), None);
    assert_eq!(truncate("€", 0), Some(""));
}
