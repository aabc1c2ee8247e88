//! Loading the libraries: the shipped files, plugin packs, and every kind of bad file.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use opsconductor_core::library::{ActionKind, Library, LibraryError, SourceFile};

fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries")
}

fn shipped_sources() -> Vec<SourceFile> {
    opsconductor_core::library::SHIPPED_FILES
        .iter()
        .map(|name| SourceFile {
            name: (*name).to_owned(),
            bytes: std::fs::read(shipped_dir().join(name)).unwrap(),
        })
        .collect()
}

fn with_pack(text: &str) -> Result<Library, LibraryError> {
    let mut files = shipped_sources();
    files.push(SourceFile {
        name: "plugins/test.json".into(),
        bytes: text.as_bytes().to_vec(),
    });
    Library::from_sources(&files)
}

fn messages(e: &LibraryError) -> String {
    e.problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn shipped_libraries_load_with_every_required_kind() {
    let lib = Library::load_dir(&shipped_dir()).unwrap_or_else(|e| panic!("{e}"));
    for kind in ActionKind::ALL {
        assert!(
            lib.commands().any(|c| c.def.kind == kind),
            "no shipped command of kind {kind}"
        );
    }
    for parser in [
        "ping.stats",
        "snmp.system",
        "snmp.if_table",
        "http.json_health",
        "ssh.banner",
        "device.show_version",
    ] {
        assert!(lib.parser(parser).is_some(), "parser {parser} is shipped");
    }
    for source in [
        "network_range",
        "custom_group",
        "uploaded_file",
        "host_list",
    ] {
        assert!(
            lib.target_source(source).is_some(),
            "target source {source} is shipped"
        );
    }
}

#[test]
fn every_shipped_command_renders_its_preview_with_defaults() {
    let lib = Library::load_dir(&shipped_dir()).unwrap();
    for command in lib.commands() {
        let mut params = command.defaults.clone();
        // Required params without defaults get a value of their type from the schema.
        if let Some(required) = command
            .def
            .params_schema
            .get("required")
            .and_then(|r| r.as_array())
        {
            for name in required.iter().filter_map(|n| n.as_str()) {
                if !params.contains_key(name) {
                    let ty = command.def.params_schema["properties"][name]["type"].as_str();
                    let value = match ty {
                        Some("integer" | "number") => serde_json::json!(22),
                        Some("array") => serde_json::json!([".1.3.6.1.2.1.1.5.0"]),
                        _ => serde_json::json!(".1.3.6.1.2.1.1"),
                    };
                    params.insert(name.to_owned(), value);
                }
            }
        }
        let out = command
            .preview(&params, "10.0.0.1")
            .unwrap_or_else(|e| panic!("{}: {e}", command.def.id));
        assert!(
            out.text.contains("10.0.0.1") || !command.def.template.contains("target"),
            "{}",
            command.def.id
        );
    }
}

#[test]
fn a_plugin_pack_adds_commands_and_parsers() {
    let dir = tempfile::tempdir().unwrap();
    let plugins =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/libraries/plugins-example");
    let lib =
        Library::load_dir_with_plugins(&shipped_dir(), &plugins).unwrap_or_else(|e| panic!("{e}"));
    assert!(lib.files().len() > 3);
    drop(dir);
}

#[test]
fn id_conflicts_between_packs_are_named_with_both_places() {
    let err = with_pack(
        r#"{"format_version": 1, "kind": "pack", "name": "dup",
            "parsers": [{"id": "ping.stats", "name": "x", "description": "x",
              "extract": {"type": "kv"}, "samples": [{"name": "s", "input": "a=1", "expected": {"fields": {"a": "1"}}}]}]}"#,
    )
    .unwrap_err();
    let text = messages(&err);
    assert!(text.contains("plugins/test.json:parsers[0]"), "{text}");
    assert!(
        text.contains("duplicate parser id \"ping.stats\""),
        "{text}"
    );
    assert!(
        text.contains("parserLibrary.json:parsers["),
        "names the first definition: {text}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = with_pack(
        r#"{
  "format_version": 1,
  "kind": "pack",
  "name": "broken",
  "commands": [
    {"id": "a.one", "name": "A", "description": "d", "category": "X", "kind": "ping",
     "template": "ping {{ target }", "params_schema": {"type": "object"}},
    {"id": "a.two", "name": "B", "description": "d", "category": "X", "kind": "teleport",
     "template": "x", "params_schema": {"type": "object"}},
    {"id": "a.three", "name": "C", "description": "d", "category": "X", "kind": "ping",
     "template": "x {{ nope }}", "params_schema": {"type": "object", "properties": {}},
     "criteria": {"ok": "loss_pct <"}, "parsers": ["no.such.parser"]}
  ]
}"#,
    )
    .unwrap_err();
    let text = messages(&err);
    assert!(
        text.contains("commands[0].template") && text.contains("syntax"),
        "{text}"
    );
    assert!(
        text.contains("commands[1].kind") && text.contains("teleport"),
        "{text}"
    );
    assert!(
        text.contains("commands[2].criteria.ok") && text.contains("column"),
        "{text}"
    );
    assert!(
        text.contains("commands[2].template") && text.contains("undefined"),
        "{text}"
    );
    let line_of_first = err
        .problems
        .iter()
        .find(|p| p.path == "commands[0].template")
        .unwrap()
        .line;
    assert_eq!(line_of_first, Some(7), "{text}");
    let line_of_second = err
        .problems
        .iter()
        .find(|p| p.path.starts_with("commands[1]"))
        .unwrap()
        .line;
    assert_eq!(line_of_second, Some(8), "{text}");
}

#[test]
fn unknown_parser_reference_is_a_cross_reference_error() {
    let err = with_pack(
        r#"{"format_version": 1, "name": "x", "commands": [
            {"id": "x.ping", "name": "A", "description": "d", "category": "X", "kind": "ping",
             "template": "ping {{ target }}", "params_schema": {"type": "object"}, "parsers": ["ping.stat"]}]}"#,
    )
    .unwrap_err();
    let text = messages(&err);
    assert!(
        text.contains("commands[0].parsers[0]") && text.contains("unknown parser \"ping.stat\""),
        "{text}"
    );
}

#[test]
fn unsupported_format_version_is_refused() {
    let err = with_pack(r#"{"format_version": 2, "name": "future"}"#).unwrap_err();
    assert!(messages(&err).contains("format_version 2 is not supported"));
    let err = with_pack(r#"{"name": "none"}"#).unwrap_err();
    assert!(messages(&err).contains("missing format_version"));
}

#[test]
fn unknown_envelope_fields_and_wrong_sections_are_refused() {
    let err = with_pack(r#"{"format_version": 1, "name": "x", "comands": []}"#).unwrap_err();
    assert!(
        messages(&err).contains("unknown field `comands`"),
        "{}",
        messages(&err)
    );
    let err = with_pack(
        r#"{"format_version": 1, "kind": "parsers", "name": "x", "commands": [{"id": "q"}]}"#,
    )
    .unwrap_err();
    assert!(
        messages(&err).contains("must not hold commands"),
        "{}",
        messages(&err)
    );
}

#[test]
fn bad_json_schema_and_bad_defaults_are_named() {
    let err = with_pack(
        r#"{"format_version": 1, "name": "x", "commands": [
            {"id": "x.a", "name": "A", "description": "d", "category": "X", "kind": "tcp_port",
             "template": "nc {{ target }} {{ port }}",
             "params_schema": {"type": "object", "properties": {"port": {"type": "integer", "maximum": 65535}}},
             "defaults": {"port": 70000}},
            {"id": "x.b", "name": "B", "description": "d", "category": "X", "kind": "tcp_port",
             "template": "nc", "params_schema": {"type": "object", "properties": {"port": {"type": "intgr"}}}}]}"#,
    )
    .unwrap_err();
    let text = messages(&err);
    assert!(text.contains("commands[0].defaults.port"), "{text}");
    assert!(
        text.contains("commands[1].params_schema") && text.contains("invalid JSON Schema"),
        "{text}"
    );
}

#[test]
fn loader_never_panics_on_truncations_of_the_shipped_files() {
    for file in shipped_sources() {
        for cut in (0..file.bytes.len()).step_by(997) {
            let mut files = shipped_sources();
            files.push(SourceFile {
                name: format!("plugins/cut-{cut}.json"),
                bytes: file.bytes[..cut].to_vec(),
            });
            let _ = Library::from_sources(&files);
        }
    }
}
