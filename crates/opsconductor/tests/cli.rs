//! The `opsconductor library ...` tools, run as a user runs them.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries")
}

fn opsconductor(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opsconductor"));
    cmd.args(args)
        .env_remove("OPSCONDUCTOR_LIBRARY_DIR")
        .env_remove("OPSCONDUCTOR_LIBRARY_PLUGINS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("binary runs");
    if let Some(text) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn edit(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut doc);
    std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
}

#[test]
fn validate_accepts_the_shipped_libraries() {
    let out = opsconductor(&["library", "validate", shipped().to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).starts_with("ok: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn validate_names_all_three_planted_errors_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped(), dir.path());
    // 1: an unknown field in a command.
    edit(&dir.path().join("commandLibrary.json"), |doc| {
        doc["commands"][1]["colour"] = "red".into();
    });
    // 2: a broken regex in a parser.
    edit(&dir.path().join("parserLibrary.json"), |doc| {
        let parsers = doc["parsers"].as_array_mut().unwrap();
        let regex_parser = parsers
            .iter_mut()
            .find(|p| p["extract"]["type"] == "regex")
            .expect("a regex parser is shipped");
        regex_parser["extract"]["pattern"] = "(unclosed".into();
    });
    // 3: a duplicate target source id.
    edit(&dir.path().join("targetSourceLibrary.json"), |doc| {
        let sources = doc["target_sources"].as_array_mut().unwrap();
        let copy = sources[0].clone();
        sources.push(copy);
    });
    let out = opsconductor(&["library", "validate", dir.path().to_str().unwrap()], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(
        stderr.contains("commandLibrary.json:commands[1].colour")
            && stderr.contains("unknown field"),
        "{stderr}"
    );
    assert!(
        stderr.contains("parserLibrary.json:parsers[") && stderr.contains("extract.pattern"),
        "{stderr}"
    );
    assert!(
        stderr.contains("targetSourceLibrary.json:target_sources[") && stderr.contains("duplicate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(line "),
        "problems carry line numbers: {stderr}"
    );
}

#[test]
fn validate_reports_a_truncated_file_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped(), dir.path());
    let path = dir.path().join("commandLibrary.json");
    let full = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let out = opsconductor(&["library", "validate", dir.path().to_str().unwrap()], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("commandLibrary.json: invalid JSON"),
        "{stderr}"
    );
}

#[test]
fn validate_refuses_binary_junk() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped(), dir.path());
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("plugins/junk.json"),
        [0x7f, 0x45, 0x4c, 0x46, 0xff, 0x00],
    )
    .unwrap();
    let out = opsconductor(&["library", "validate", dir.path().to_str().unwrap()], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("plugins/junk.json"), "{stderr}");
    assert!(stderr.contains("not UTF-8"), "{stderr}");
}

#[test]
fn preview_renders_a_command_with_params() {
    let out = opsconductor(
        &[
            "library",
            "preview",
            "ping.icmp",
            "--param",
            "count=7",
            "--target",
            "10.1.2.3",
            "--dir",
            shipped().to_str().unwrap(),
        ],
        None,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains('7') && stdout.contains("10.1.2.3"),
        "{stdout}"
    );
}

#[test]
fn preview_refuses_a_param_of_the_wrong_type() {
    let out = opsconductor(
        &[
            "library",
            "preview",
            "ping.icmp",
            "--param",
            "count=lots",
            "--dir",
            shipped().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("param count"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn parse_reads_a_sample_from_stdin() {
    let sample = "PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n\
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms\n\
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.061 ms\n\n\
--- 127.0.0.1 ping statistics ---\n\
2 packets transmitted, 2 received, 0% packet loss, time 1001ms\n\
rtt min/avg/max/mdev = 0.045/0.053/0.061/0.008 ms\n";
    let out = opsconductor(
        &[
            "library",
            "parse",
            "ping.stats",
            "--dir",
            shipped().to_str().unwrap(),
        ],
        Some(sample),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let parsed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(parsed["fields"]["loss_pct"], serde_json::json!(0.0));
}

#[test]
fn unknown_command_is_a_clear_error() {
    let out = opsconductor(
        &[
            "library",
            "preview",
            "no.such",
            "--dir",
            shipped().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown command \"no.such\""));
}
