//! The operations assets in `deploy/`, checked against the code that feeds them.
//!
//! - `deploy/prometheus/alerts.yml` passes `promtool check rules`, its unit tests in
//!   `alerts_test.yml` pass `promtool test rules`, and every alert carries a severity, a
//!   summary, a runbook-style description and a unit test. `promtool` comes from Debian's
//!   `prometheus` package (`scripts/install-deps.sh`); without it these tests fail, they do
//!   not skip. `PROMTOOL` overrides the binary.
//! - `deploy/grafana/*.json` dashboards parse, have unique uids and titles, offer the
//!   `datasource`, `segment` and `instance` variables, and every panel queries the
//!   `${datasource}` Prometheus data source with at least one valid PromQL expression and
//!   shows a unit.
//! - Every `opsconductor_*` metric a dashboard, an alert or an alert test names is one the
//!   crates export (their `metrics::NAMES`), and every exported metric is on a dashboard.
//!
//! YAML is only ever read by promtool: the checks here that look at `alerts.yml` itself
//! read it as text, one `- alert:` block at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// The data source every panel and query names: the dashboards' `datasource` variable.
const DATASOURCE_UID: &str = "${datasource}";

/// Suffixes Prometheus adds to a histogram's base name.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The dashboards the deployment ships (compose and Kubernetes provision all three).
const DASHBOARDS: [&str; 3] = [
    "opsconductor-fleet.json",
    "opsconductor-runs.json",
    "opsconductor-ingest-scheduler.json",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

fn prometheus_dir() -> PathBuf {
    repo_root().join("deploy/prometheus")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every metric the workspace exports, by its Prometheus base name.
fn catalogue() -> BTreeSet<&'static str> {
    let mut names = BTreeSet::new();
    for list in [
        opsconductor_controller::metrics::NAMES,
        opsconductor_agent::metrics::NAMES,
        opsconductor_actions::metrics::NAMES,
    ] {
        for name in list {
            assert!(names.insert(*name), "{name} is declared twice");
        }
    }
    names
}

/// Runs promtool in `dir`. A missing promtool is a failure: CI must not go green without
/// having validated the rules.
fn promtool(args: &[&str], dir: &Path) -> Output {
    let program = std::env::var_os("PROMTOOL").unwrap_or_else(|| "promtool".into());
    match Command::new(&program).args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{} not found ({e}): run scripts/install-deps.sh (it installs Debian's `prometheus` \
             package, which ships promtool), or point PROMTOOL at a promtool binary",
            program.to_string_lossy()
        ),
        Err(e) => panic!("running {}: {e}", program.to_string_lossy()),
    }
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

// --- metric names -----------------------------------------------------------------------

/// Every `opsconductor_*` identifier in `text` (PromQL, a template, prose): a name starts
/// where no identifier character precedes it, so `x_opsconductor_y` is not one.
fn metric_names(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "opsconductor_";
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices(PREFIX) {
        if text[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &text[start..];
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        names.insert(rest[..end].to_owned());
    }
    names
}

/// The catalogue entry `name` refers to: itself, or the histogram it is a series of.
fn resolve<'a>(name: &str, catalogue: &BTreeSet<&'a str>) -> Option<&'a str> {
    if let Some(found) = catalogue.get(name) {
        return Some(found);
    }
    HISTOGRAM_SUFFIXES
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find_map(|base| catalogue.get(base).copied())
}

/// Names in `text` that are not exported metrics, with `source` for the message.
fn unknown_metrics(source: &str, text: &str, catalogue: &BTreeSet<&str>) -> Vec<String> {
    metric_names(text)
        .into_iter()
        .filter(|name| resolve(name, catalogue).is_none())
        .map(|name| format!("{source}: {name} is not an exported metric"))
        .collect()
}

// --- dashboards -------------------------------------------------------------------------

struct Dashboard {
    file: String,
    json: Value,
}

/// Every `deploy/grafana/*.json` (provisioning files live in subfolders and are not
/// dashboards), sorted by file name.
fn dashboards() -> Vec<Dashboard> {
    let dir = repo_root().join("deploy/grafana");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let file = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let json = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"));
            Dashboard { file, json }
        })
        .collect()
}

/// Every panel of a dashboard, rows included (a collapsed row keeps its panels inside
/// itself).
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The panels that show data: rows are only containers.
fn data_panels(dashboard: &Value) -> Vec<&Value> {
    all_panels(dashboard)
        .into_iter()
        .filter(|panel| panel["type"] != "row")
        .collect()
}

/// Every string anywhere in `value`.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn names_our_datasource(datasource: &Value) -> bool {
    datasource["type"] == "prometheus" && datasource["uid"] == DATASOURCE_UID
}

/// What is wrong with one data panel.
fn panel_problems(panel: &Value) -> Vec<String> {
    let title = panel["title"].as_str().unwrap_or_default();
    let at = format!("panel {} {title:?}", panel["id"]);
    let mut problems = Vec::new();
    if title.trim().is_empty() {
        problems.push(format!("{at} has no title"));
    }
    if !names_our_datasource(&panel["datasource"]) {
        problems.push(format!(
            "{at}: datasource must be {{type: prometheus, uid: {DATASOURCE_UID}}}, is {}",
            panel["datasource"]
        ));
    }
    let targets = panel["targets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if targets.is_empty() {
        problems.push(format!("{at} has no query"));
    }
    for target in targets {
        let ref_id = &target["refId"];
        if target["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
            problems.push(format!("{at} query {ref_id} has no expression"));
        }
        if !names_our_datasource(&target["datasource"]) {
            problems.push(format!("{at} query {ref_id} names another data source"));
        }
    }
    if panel["fieldConfig"]["defaults"]["unit"]
        .as_str()
        .is_none_or(|u| u.trim().is_empty())
    {
        problems.push(format!("{at} has no unit"));
    }
    problems
}

/// What is wrong with one dashboard as a whole and with each of its panels.
fn dashboard_problems(dashboard: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if dashboard["schemaVersion"].as_u64().is_none_or(|v| v < 39) {
        problems.push(format!("schemaVersion {} < 39", dashboard["schemaVersion"]));
    }
    // Grafana refuses uids longer than 40 characters.
    match dashboard["uid"].as_str() {
        Some(uid) if !uid.is_empty() && uid.len() <= 40 => {}
        _ => problems.push(format!(
            "uid {} is not 1 to 40 characters",
            dashboard["uid"]
        )),
    }
    if dashboard["title"]
        .as_str()
        .is_none_or(|t| t.trim().is_empty())
    {
        problems.push("no title".to_owned());
    }
    let variables: BTreeMap<&str, &Value> = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["name"].as_str()?, v)))
        .collect();
    match variables.get("datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        _ => problems.push("no `datasource` variable of type datasource/prometheus".to_owned()),
    }
    for name in ["segment", "instance"] {
        match variables.get(name) {
            Some(v) if v["type"] == "query" && names_our_datasource(&v["datasource"]) => {}
            _ => problems.push(format!("no `{name}` query variable on {DATASOURCE_UID}")),
        }
    }
    let mut ids = BTreeSet::new();
    for panel in all_panels(dashboard) {
        if !ids.insert(panel["id"].to_string()) {
            problems.push(format!("panel id {} is used twice", panel["id"]));
        }
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64(), grid["w"].as_u64());
        if !matches!((x, w), (Some(x), Some(w)) if w > 0 && x + w <= 24) {
            problems.push(format!(
                "panel {} is off the 24-column grid: {grid}",
                panel["id"]
            ));
        }
    }
    let panels = data_panels(dashboard);
    if panels.is_empty() {
        problems.push("no panels".to_owned());
    }
    problems.extend(panels.into_iter().flat_map(panel_problems));
    problems
}

/// Every PromQL expression of a dashboard: its panels' queries and, for its `label_values`
/// variables, their series selectors.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in data_panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let title = panel["title"].as_str().unwrap_or_default();
                let at = format!("panel {title:?} query {}", target["refId"]);
                queries.push((at, expr.to_owned()));
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str());
        let selector = query
            .and_then(|q| q.strip_prefix("label_values("))
            .and_then(|q| q.rsplit_once(','))
            .map(|(selector, _label)| selector.trim());
        if let (Some(selector), true) = (selector, variable["type"] == "query") {
            let at = format!("variable {}", variable["name"]);
            queries.push((at, selector.to_owned()));
        }
    }
    queries
}

/// `expr` with Grafana's variables replaced by values PromQL accepts: intervals by `5m`,
/// everything else (it only appears inside regex matchers) by `.*`.
fn with_variables_filled(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => braced.split_once('}').unwrap_or((braced, "")),
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out.push_str(if name.starts_with("__") { "5m" } else { ".*" });
        rest = tail;
    }
    out.push_str(rest);
    out
}

// --- alert rules, read as text ----------------------------------------------------------

/// The `- alert:` blocks of a rules file: (alert name, the block's text). A block ends
/// where the next rule or group starts.
fn alert_blocks(rules: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in rules.lines() {
        let trimmed = line.trim_start();
        let starts_rule = ["- alert:", "- record:", "- name:"]
            .iter()
            .any(|start| trimmed.starts_with(start));
        if starts_rule {
            blocks.extend(current.take());
            if let Some(name) = trimmed.strip_prefix("- alert:") {
                current = Some((name.trim().to_owned(), String::new()));
            }
        }
        if let Some((_, text)) = &mut current {
            text.push_str(line);
            text.push('\n');
        }
    }
    blocks.extend(current);
    blocks
}

/// What an alert block lacks: a severity label, a summary, and a description that reads
/// as a runbook (what to check, how to resolve).
fn alert_problems(name: &str, block: &str) -> Vec<String> {
    let has = |key: &str| block.lines().any(|l| l.trim_start().starts_with(key));
    let mut problems = Vec::new();
    if !["critical", "warning", "info"]
        .iter()
        .any(|level| has(&format!("severity: {level}")))
    {
        problems.push(format!(
            "{name}: no severity label (critical, warning or info)"
        ));
    }
    for key in ["expr:", "summary:", "description:"] {
        if !has(key) {
            problems.push(format!("{name}: no `{key}`"));
        }
    }
    for step in ["Check:", "Resolve:"] {
        if !block.contains(step) {
            problems.push(format!("{name}: the description has no `{step}` step"));
        }
    }
    problems
}

// --- tests: alert rules -----------------------------------------------------------------

#[test]
fn alert_rules_pass_promtool_check() {
    let output = promtool(&["check", "rules", "alerts.yml"], &prometheus_dir());
    assert_success("promtool check rules deploy/prometheus/alerts.yml", &output);
}

#[test]
fn alert_rules_pass_their_promtool_unit_tests() {
    let output = promtool(&["test", "rules", "alerts_test.yml"], &prometheus_dir());
    assert_success(
        "promtool test rules deploy/prometheus/alerts_test.yml",
        &output,
    );
}

#[test]
fn every_alert_has_a_severity_a_runbook_and_a_unit_test() {
    let rules = read(&prometheus_dir().join("alerts.yml"));
    let unit_tests = read(&prometheus_dir().join("alerts_test.yml"));
    let blocks = alert_blocks(&rules);
    assert!(
        blocks.len() >= 5,
        "alerts.yml has {} alerts; expected agent offline, dead letters, scheduler lag, \
         scheduler leadership and ingest backlog at least",
        blocks.len()
    );
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, block) in &blocks {
        if !seen.insert(name) {
            problems.push(format!("{name} is defined twice"));
        }
        problems.extend(alert_problems(name, block));
        if !unit_tests.contains(&format!("alertname: {name}\n")) {
            problems.push(format!("{name} has no case in alerts_test.yml"));
        }
    }
    assert_no_problems("alerts.yml", &problems);
}

// --- tests: dashboards ------------------------------------------------------------------

#[test]
fn dashboards_parse_with_unique_uids_and_titles() {
    let dashboards = dashboards();
    let files: BTreeSet<&str> = dashboards.iter().map(|d| d.file.as_str()).collect();
    for expected in DASHBOARDS {
        assert!(
            files.contains(expected),
            "deploy/grafana/{expected} is missing"
        );
    }
    let mut uids = BTreeMap::new();
    let mut titles = BTreeMap::new();
    let mut problems = Vec::new();
    for Dashboard { file, json } in &dashboards {
        for (key, seen) in [("uid", &mut uids), ("title", &mut titles)] {
            let value = json[key].as_str().unwrap_or_default().to_owned();
            if let Some(other) = seen.insert(value.clone(), file.clone()) {
                problems.push(format!("{file} and {other} share the {key} {value:?}"));
            }
        }
    }
    assert_no_problems("deploy/grafana", &problems);
}

#[test]
fn every_dashboard_panel_has_a_datasource_a_query_and_a_unit() {
    let problems: Vec<String> = dashboards()
        .iter()
        .flat_map(|d| {
            dashboard_problems(&d.json)
                .into_iter()
                .map(move |p| format!("{}: {p}", d.file))
        })
        .collect();
    assert_no_problems("deploy/grafana", &problems);
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let mut rules = Vec::new();
    let mut origins = Vec::new();
    for dashboard in dashboards() {
        for (at, expr) in dashboard_queries(&dashboard.json) {
            let record = format!("dashboard:query_{}", rules.len());
            rules.push(json!({"record": record, "expr": with_variables_filled(&expr)}));
            origins.push((record, format!("{} {at}: {expr}", dashboard.file)));
        }
    }
    assert!(
        rules.len() > 30,
        "only {} dashboard queries found",
        rules.len()
    );
    // JSON is YAML: promtool reads this as a rules file and parses every expression.
    let file = json!({"groups": [{"name": "dashboard-queries", "rules": rules}]});
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("queries.yml"), file.to_string()).expect("writing queries");
    let output = promtool(&["check", "rules", "queries.yml"], dir.path());
    let report = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    let culprits: Vec<&str> = origins
        .iter()
        .filter(|(record, _)| report.contains(&format!("\"{record}\"")))
        .map(|(_, origin)| origin.as_str())
        .collect();
    assert_success(
        &format!(
            "promtool on the dashboards' queries ({})",
            culprits.join("; ")
        ),
        &output,
    );
}

// --- tests: the metric catalogue --------------------------------------------------------

#[test]
fn dashboards_and_alerts_name_only_exported_metrics() {
    let catalogue = catalogue();
    let mut problems = Vec::new();
    for dashboard in dashboards() {
        for text in strings(&dashboard.json) {
            problems.extend(unknown_metrics(&dashboard.file, text, &catalogue));
        }
    }
    for file in ["alerts.yml", "alerts_test.yml"] {
        let text = read(&prometheus_dir().join(file));
        problems.extend(unknown_metrics(file, &text, &catalogue));
    }
    problems.dedup();
    assert_no_problems("metric names", &problems);
}

#[test]
fn every_exported_metric_is_on_a_dashboard() {
    let catalogue = catalogue();
    let mut shown = BTreeSet::new();
    for dashboard in dashboards() {
        for (_, expr) in dashboard_queries(&dashboard.json) {
            shown.extend(
                metric_names(&expr)
                    .iter()
                    .filter_map(|name| resolve(name, &catalogue)),
            );
        }
    }
    let unseen: Vec<String> = catalogue
        .difference(&shown)
        .map(|name| format!("{name} is exported but no dashboard query shows it"))
        .collect();
    assert_no_problems("deploy/grafana", &unseen);
}

// --- tests: the checks themselves can fail ----------------------------------------------

#[test]
fn metric_names_are_found_in_promql_and_prose_but_not_inside_other_words() {
    let expr = r#"histogram_quantile(0.99, sum by (le) (rate(opsconductor_controller_ingest_batch_seconds_bucket{instance=~"$instance"}[5m]))) / on(x) opsconductor_agent_results_buffered and my_opsconductor_thing"#;
    let found: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(
        found,
        [
            "opsconductor_agent_results_buffered",
            "opsconductor_controller_ingest_batch_seconds_bucket"
        ]
    );
    let catalogue: BTreeSet<&str> = ["opsconductor_a_seconds", "opsconductor_b_total"].into();
    assert_eq!(
        resolve("opsconductor_a_seconds_bucket", &catalogue),
        Some("opsconductor_a_seconds")
    );
    assert_eq!(
        resolve("opsconductor_b_total", &catalogue),
        Some("opsconductor_b_total")
    );
    assert_eq!(resolve("opsconductor_b", &catalogue), None);
    assert_eq!(resolve("opsconductor_c_bucket", &catalogue), None);
    assert_eq!(
        unknown_metrics("x", "rate(opsconductor_b_totals[5m])", &catalogue),
        ["x: opsconductor_b_totals is not an exported metric"]
    );
}

#[test]
fn panel_checks_reject_a_panel_without_datasource_query_or_unit() {
    let good = json!({
        "id": 1, "type": "timeseries", "title": "Queue depth",
        "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
        "targets": [{"refId": "A", "expr": "up",
                     "datasource": {"type": "prometheus", "uid": DATASOURCE_UID}}],
        "fieldConfig": {"defaults": {"unit": "none"}}
    });
    assert_eq!(panel_problems(&good), Vec::<String>::new());

    let mut no_datasource = good.clone();
    no_datasource["datasource"] = Value::Null;
    let mut no_targets = good.clone();
    no_targets["targets"] = json!([]);
    let mut empty_expr = good.clone();
    empty_expr["targets"][0]["expr"] = json!(" ");
    let mut other_uid = good.clone();
    other_uid["targets"][0]["datasource"]["uid"] = json!("P1809F7CD0C75ACF3");
    let mut no_unit = good.clone();
    no_unit["fieldConfig"] = json!({"defaults": {}});
    for broken in [no_datasource, no_targets, empty_expr, other_uid, no_unit] {
        assert_eq!(panel_problems(&broken).len(), 1, "{broken}");
    }

    let mut dashboard = json!({
        "uid": "x", "title": "X", "schemaVersion": 39,
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "segment", "type": "query",
             "datasource": {"type": "prometheus", "uid": DATASOURCE_UID}},
            {"name": "instance", "type": "query",
             "datasource": {"type": "prometheus", "uid": DATASOURCE_UID}}
        ]},
        "panels": [{"id": 9, "type": "row", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1},
                    "panels": []}, good]
    });
    assert_eq!(dashboard_problems(&dashboard), Vec::<String>::new());
    dashboard["schemaVersion"] = json!(16);
    dashboard["templating"]["list"][1]["name"] = json!("site");
    dashboard["panels"][1]["gridPos"]["x"] = json!(20);
    assert_eq!(dashboard_problems(&dashboard).len(), 3, "{dashboard}");
}

#[test]
fn grafana_variables_become_valid_promql_placeholders() {
    assert_eq!(
        with_variables_filled(r#"rate(x{a=~"$segment", b=~"${agent}"}[$__rate_interval])"#),
        r#"rate(x{a=~".*", b=~".*"}[5m])"#
    );
}

#[test]
fn alert_checks_reject_an_alert_without_severity_or_runbook() {
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: Good\n        expr: up == 0\n        labels:\n          severity: warning\n        annotations:\n          summary: s\n          description: |-\n            What.\n            Check: this.\n            Resolve: that.\n      - alert: Bad\n        expr: up == 0\n        annotations:\n          summary: s\n  - name: h\n    rules:\n      - record: r\n        expr: up\n";
    let blocks = alert_blocks(rules);
    let names: Vec<&str> = blocks.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["Good", "Bad"]);
    assert_eq!(alert_problems("Good", &blocks[0].1), Vec::<String>::new());
    assert_eq!(
        alert_problems("Bad", &blocks[1].1),
        [
            "Bad: no severity label (critical, warning or info)",
            "Bad: no `description:`",
            "Bad: the description has no `Check:` step",
            "Bad: the description has no `Resolve:` step",
        ]
    );
}
