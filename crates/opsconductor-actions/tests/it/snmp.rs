//! The snmp_get and snmp_walk executors against the loopback snmpd that
//! `scripts/test-servers.sh start` runs (v1/v2c community `oc-public`, v3 users of every
//! algorithm pair), plus small fake agents on loopback for what snmpd never does: answer
//! garbage, loop, or refuse big answers.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use opsconductor_actions::credential::{Credential, Secret, SnmpAuthProtocol, SnmpPrivProtocol};
use opsconductor_actions::snmp::{HostResolver, SnmpGetAction, SnmpWalkAction};
use opsconductor_actions::{
    Action, ActionError, ActionInput, ActionOutput, DryRunOutput, PreparedAction, Registry, dry_run,
};
use opsconductor_core::library::Library;
use opsconductor_core::model::{ActionSpec, ResultStatus};
use opsconductor_core::targets::Target;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::support::setting;

const SYS_DESCR: &str = ".1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = ".1.3.6.1.2.1.1.2.0";
const SYS_UP_TIME: &str = ".1.3.6.1.2.1.1.3.0";
const SYS_CONTACT: &str = ".1.3.6.1.2.1.1.4.0";
const SYS_NAME: &str = ".1.3.6.1.2.1.1.5.0";

fn snmpd() -> SocketAddr {
    setting("OC_TEST_SNMP_ADDR")
        .parse()
        .expect("OC_TEST_SNMP_ADDR is ip:port")
}

fn community() -> String {
    setting("OC_TEST_SNMP_COMMUNITY")
}

fn sys_name() -> String {
    setting("OC_TEST_SNMP_SYSNAME")
}

/// Params for `addr` with the test community, plus `extra`.
fn params(addr: SocketAddr, extra: Value) -> Value {
    let mut p = json!({"port": addr.port(), "community": community()});
    if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
        p.extend(extra);
    }
    p
}

async fn run_on(
    action: &dyn Action,
    target: &Target,
    params: Value,
    credential: Option<&Credential>,
    budget: Duration,
) -> Result<ActionOutput, ActionError> {
    let Value::Object(params) = params else {
        panic!("params must be an object")
    };
    let input = ActionInput {
        target,
        params: &params,
        credential,
        deadline: Instant::now() + budget,
    };
    action.run(input).await
}

async fn get(
    addr: SocketAddr,
    params: Value,
    credential: Option<&Credential>,
) -> Result<ActionOutput, ActionError> {
    let target = Target::Ip(addr.ip());
    run_on(
        &SnmpGetAction::new(),
        &target,
        params,
        credential,
        Duration::from_secs(20),
    )
    .await
}

async fn walk(
    addr: SocketAddr,
    params: Value,
    credential: Option<&Credential>,
) -> Result<ActionOutput, ActionError> {
    let target = Target::Ip(addr.ip());
    run_on(
        &SnmpWalkAction::new(),
        &target,
        params,
        credential,
        Duration::from_secs(60),
    )
    .await
}

fn varbinds(out: &ActionOutput) -> &Map<String, Value> {
    out.fields["varbinds"]
        .as_object()
        .expect("varbinds is an object")
}

fn v3_user(
    user: &str,
    auth: Option<SnmpAuthProtocol>,
    privacy: Option<SnmpPrivProtocol>,
) -> Credential {
    Credential::SnmpV3 {
        user: user.to_owned(),
        auth: auth.map(|p| (p, Secret::new(setting("OC_TEST_SNMP_V3_AUTH_PASS")))),
        privacy: privacy.map(|p| (p, Secret::new(setting("OC_TEST_SNMP_V3_PRIV_PASS")))),
    }
}

fn auth_protocol(name: &str) -> SnmpAuthProtocol {
    match name {
        "MD5" => SnmpAuthProtocol::Md5,
        "SHA" => SnmpAuthProtocol::Sha1,
        "SHA-224" => SnmpAuthProtocol::Sha224,
        "SHA-256" => SnmpAuthProtocol::Sha256,
        "SHA-384" => SnmpAuthProtocol::Sha384,
        "SHA-512" => SnmpAuthProtocol::Sha512,
        other => panic!("unknown auth protocol {other}"),
    }
}

fn priv_protocol(name: &str) -> SnmpPrivProtocol {
    match name {
        "DES" => SnmpPrivProtocol::Des,
        "AES" => SnmpPrivProtocol::Aes128,
        "AES-192" => SnmpPrivProtocol::Aes192,
        "AES-256" => SnmpPrivProtocol::Aes256,
        other => panic!("unknown privacy protocol {other}"),
    }
}

/// The main v3 user: authPriv SHA-256 / AES-128.
fn ocv3() -> Credential {
    v3_user(
        &setting("OC_TEST_SNMP_V3_USER"),
        Some(auth_protocol(&setting("OC_TEST_SNMP_V3_AUTH_PROTO"))),
        Some(priv_protocol(&setting("OC_TEST_SNMP_V3_PRIV_PROTO"))),
    )
}

/// Runs a net-snmp command line tool and returns its stdout.
fn net_snmp(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// OIDs of raw varbind lines, in order.
fn oids_of(raw: &str) -> Vec<&str> {
    raw.lines()
        .filter_map(|l| l.split_once(" = ").map(|(oid, _)| oid))
        .collect()
}

#[tokio::test]
async fn v2c_get_reads_the_system_group_with_typed_values() {
    let addr = snmpd();
    let out = get(
        addr,
        params(
            addr,
            json!({"oids": [SYS_DESCR, SYS_OBJECT_ID, SYS_UP_TIME, SYS_NAME]}),
        ),
        None,
    )
    .await
    .expect("get");
    let v = varbinds(&out);
    assert_eq!(v["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
    assert!(
        v["1.3.6.1.2.1.1.1.0"]
            .as_str()
            .expect("sysDescr is text")
            .starts_with("Linux")
    );
    assert_eq!(v["1.3.6.1.2.1.1.2.0"], json!("1.3.6.1.4.1.8072.3.2.10"));
    assert!(
        v["1.3.6.1.2.1.1.3.0"]
            .as_u64()
            .expect("sysUpTime is a number")
            > 0
    );
    assert_eq!(out.fields["errors"], json!({}));
    assert!(out.fields["response_ms"].as_f64().expect("response_ms") > 0.0);
    let lines: Vec<&str> = out.raw.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.raw);
    assert_eq!(lines[3], format!("{SYS_NAME} = STRING: \"{}\"", sys_name()));
    assert_eq!(
        lines[1],
        format!("{SYS_OBJECT_ID} = OID: .1.3.6.1.4.1.8072.3.2.10")
    );
    assert!(
        lines[2].starts_with(&format!("{SYS_UP_TIME} = Timeticks: (")),
        "{}",
        lines[2]
    );
}

#[tokio::test]
async fn raw_get_output_reads_like_snmpget_numeric_output() {
    let addr = snmpd();
    let oids = [
        SYS_DESCR,
        SYS_OBJECT_ID,
        SYS_CONTACT,
        SYS_NAME,
        ".1.3.6.1.2.1.2.2.1.2.1",
        ".1.3.6.1.2.1.1.99.0",
    ];
    let out = get(addr, params(addr, json!({"oids": oids})), None)
        .await
        .expect("get");
    let target = addr.to_string();
    let mut args = vec!["-v2c", "-c", "oc-public", "-On", "-m", "", target.as_str()];
    args.extend(oids);
    assert_eq!(out.raw, net_snmp("snmpget", &args));
}

#[tokio::test]
async fn v1_get_reads_sys_name() {
    let addr = snmpd();
    let out = get(
        addr,
        params(addr, json!({"version": "1", "oids": [SYS_NAME]})),
        None,
    )
    .await
    .expect("v1 get");
    assert_eq!(varbinds(&out)["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
}

#[tokio::test]
async fn v1_get_of_a_missing_oid_reports_no_such_name_and_reads_the_rest() {
    let addr = snmpd();
    let oids = [SYS_DESCR, ".1.3.6.1.2.1.1.99.0", SYS_NAME];
    let out = get(
        addr,
        params(addr, json!({"version": "1", "oids": oids})),
        None,
    )
    .await
    .expect("v1 get");
    let v = varbinds(&out);
    assert_eq!(v["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
    assert_eq!(v["1.3.6.1.2.1.1.99.0"], Value::Null);
    assert_eq!(
        out.fields["errors"],
        json!({"1.3.6.1.2.1.1.99.0": "noSuchName"})
    );
    assert_eq!(oids_of(&out.raw), oids, "raw keeps the order asked for");
}

#[tokio::test]
async fn missing_objects_and_instances_are_null_with_their_exception() {
    let addr = snmpd();
    let oids = [".1.3.6.1.2.1.1.99.0", "1.3.6.1.2.1.1.5.1", SYS_NAME];
    let out = get(addr, params(addr, json!({"oids": oids})), None)
        .await
        .expect("get");
    let v = varbinds(&out);
    assert_eq!(v["1.3.6.1.2.1.1.99.0"], Value::Null);
    assert_eq!(v["1.3.6.1.2.1.1.5.1"], Value::Null);
    assert_eq!(
        out.fields["errors"],
        json!({"1.3.6.1.2.1.1.99.0": "noSuchObject", "1.3.6.1.2.1.1.5.1": "noSuchInstance"})
    );
    assert!(
        out.raw
            .contains(".1.3.6.1.2.1.1.99.0 = No Such Object available on this agent at this OID")
    );
    assert!(
        out.raw
            .contains(".1.3.6.1.2.1.1.5.1 = No Such Instance currently exists at this OID")
    );
}

#[tokio::test]
async fn get_reaches_the_agent_over_ipv6_loopback() {
    let addr: SocketAddr = setting("OC_TEST_SNMP_ADDR6").parse().expect("[::1]:port");
    let out = get(addr, params(addr, json!({"oids": [SYS_NAME]})), None)
        .await
        .expect("get over ::1");
    assert_eq!(varbinds(&out)["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
}

#[tokio::test]
async fn host_name_targets_are_resolved() {
    let addr = snmpd();
    let target = Target::host("localhost").expect("valid name");
    let out = run_on(
        &SnmpGetAction::new(),
        &target,
        params(addr, json!({"oids": [SYS_NAME]})),
        None,
        Duration::from_secs(10),
    )
    .await
    .expect("get via localhost");
    assert_eq!(varbinds(&out)["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
    assert!(out.timings.contains_key("resolve_ms"));
}

#[tokio::test]
async fn an_unknown_host_name_fails_with_the_reason() {
    // A fixed resolver: the system one would send the query to the DNS server off the host.
    let action = SnmpGetAction::with_resolver(HostResolver::Fixed(HashMap::new()));
    let target = Target::host("no-such-device.example").expect("valid name");
    let err = run_on(
        &action,
        &target,
        params(snmpd(), json!({"oids": [SYS_NAME]})),
        None,
        Duration::from_secs(5),
    )
    .await
    .expect_err("unknown host");
    assert_eq!(
        err,
        ActionError::Failed("cannot resolve no-such-device.example: unknown host".to_owned())
    );
}

#[tokio::test]
async fn a_community_credential_wins_over_the_community_param() {
    let addr = snmpd();
    let credential = Credential::SnmpCommunity {
        community: Secret::new(community()),
    };
    let p = json!({"port": addr.port(), "community": "not-this-one", "oids": [SYS_NAME]});
    let out = get(addr, p, Some(&credential))
        .await
        .expect("get with credential");
    assert_eq!(varbinds(&out)["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
}

#[tokio::test]
async fn a_wrong_community_times_out_with_the_likely_reason() {
    let addr = snmpd();
    let p = json!({"port": addr.port(), "community": "wrong", "oids": [SYS_NAME], "timeout_ms": 300, "retries": 1});
    let started = Instant::now();
    let err = get(addr, p, None)
        .await
        .expect_err("snmpd ignores a wrong community");
    assert_eq!(
        err,
        ActionError::Timeout(format!(
            "no SNMP answer from {addr} within 300 ms after 2 attempts (wrong community or ACL?)"
        ))
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[tokio::test]
async fn the_deadline_cuts_retries_short() {
    let addr = snmpd();
    let target = Target::Ip(addr.ip());
    let p = json!({"port": addr.port(), "community": "wrong", "oids": [SYS_NAME], "timeout_ms": 400, "retries": 5});
    let started = Instant::now();
    let err = run_on(
        &SnmpGetAction::new(),
        &target,
        p,
        None,
        Duration::from_millis(1000),
    )
    .await
    .expect_err("deadline");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1300), "{took:?}");
    let ActionError::Timeout(reason) = err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert!(
        reason.contains("after 3 attempts, when the action's time limit ran out"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_port_without_an_agent_fails_fast() {
    let free = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr");
    drop(free);
    let started = Instant::now();
    let err = get(addr, params(addr, json!({"oids": [SYS_NAME]})), None)
        .await
        .expect_err("nothing listens");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        err,
        ActionError::Failed(format!(
            "nothing answers SNMP at {addr}: the host refused the request (ICMP port unreachable)"
        ))
    );
}

#[tokio::test]
async fn v3_auth_priv_sha256_aes_reads_sys_name() {
    let addr = snmpd();
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME, SYS_UP_TIME]});
    let out = get(addr, p, Some(&ocv3())).await.expect("v3 authPriv get");
    assert_eq!(varbinds(&out)["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
    assert!(out.timings.contains_key("discovery_ms"));
}

#[tokio::test]
async fn v3_auth_no_priv_reads_sys_name() {
    let addr = snmpd();
    let user = v3_user(
        &setting("OC_TEST_SNMP_V3_AUTHNOPRIV_USER"),
        Some(auth_protocol(&setting(
            "OC_TEST_SNMP_V3_AUTHNOPRIV_AUTH_PROTO",
        ))),
        None,
    );
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
    let out = get(addr, p, Some(&user)).await.expect("v3 authNoPriv get");
    assert_eq!(varbinds(&out)["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
}

#[tokio::test]
async fn v3_no_auth_no_priv_reads_sys_name() {
    let addr = snmpd();
    let user = v3_user(&setting("OC_TEST_SNMP_V3_NOAUTH_USER"), None, None);
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
    let out = get(addr, p, Some(&user))
        .await
        .expect("v3 noAuthNoPriv get");
    assert_eq!(varbinds(&out)["1.3.6.1.2.1.1.5.0"], json!(sys_name()));
}

#[tokio::test]
async fn v3_works_with_every_algorithm_pair_of_the_matrix() {
    let addr = snmpd();
    let mut failures = Vec::new();
    for entry in setting("OC_TEST_SNMP_V3_MATRIX").split(',') {
        let [user, auth, privacy] = entry.split(':').collect::<Vec<_>>()[..] else {
            panic!("matrix entry {entry:?} is not user:auth:priv")
        };
        let credential = v3_user(
            user,
            Some(auth_protocol(auth)),
            Some(priv_protocol(privacy)),
        );
        let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
        match get(addr, p, Some(&credential)).await {
            Ok(out) if varbinds(&out)["1.3.6.1.2.1.1.5.0"] == json!(sys_name()) => {}
            other => failures.push(format!("{auth}/{privacy}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_wrong_v3_auth_key_fails_with_the_reason() {
    let addr = snmpd();
    let credential = Credential::SnmpV3 {
        user: setting("OC_TEST_SNMP_V3_USER"),
        auth: Some((SnmpAuthProtocol::Sha256, Secret::new("not-the-auth-key"))),
        privacy: Some((
            SnmpPrivProtocol::Aes128,
            Secret::new(setting("OC_TEST_SNMP_V3_PRIV_PASS")),
        )),
    };
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
    let err = get(addr, p, Some(&credential))
        .await
        .expect_err("wrong key");
    assert_eq!(
        err,
        ActionError::Failed(
            "SNMPv3 authentication failed for user ocv3 (wrong auth key or protocol)".to_owned()
        )
    );
}

#[tokio::test]
async fn a_wrong_v3_auth_protocol_fails_with_the_reason() {
    let addr = snmpd();
    let credential = v3_user(
        "ocv3",
        Some(SnmpAuthProtocol::Sha1),
        Some(SnmpPrivProtocol::Aes128),
    );
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
    let err = get(addr, p, Some(&credential))
        .await
        .expect_err("wrong protocol");
    assert_eq!(
        err,
        ActionError::Failed(
            "SNMPv3 authentication failed for user ocv3 (wrong auth key or protocol)".to_owned()
        )
    );
}

#[tokio::test]
async fn an_unknown_v3_user_is_named_as_unknown() {
    let addr = snmpd();
    let credential = v3_user(
        "no-such-user",
        Some(SnmpAuthProtocol::Sha256),
        Some(SnmpPrivProtocol::Aes128),
    );
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
    let err = get(addr, p, Some(&credential))
        .await
        .expect_err("unknown user");
    assert_eq!(
        err,
        ActionError::Failed(format!(
            "SNMPv3 user no-such-user is unknown to the agent at {addr}"
        ))
    );
    // Without authentication snmp2 sees the Report where it expects a Response.
    let credential = v3_user("no-such-user", None, None);
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
    let err = get(addr, p, Some(&credential))
        .await
        .expect_err("unknown user");
    assert_eq!(
        err,
        ActionError::Failed(format!(
            "SNMPv3 user no-such-user is unknown to the agent at {addr}"
        ))
    );
}

#[tokio::test]
async fn privacy_for_a_user_without_a_privacy_key_is_explained() {
    let addr = snmpd();
    let credential = v3_user(
        &setting("OC_TEST_SNMP_V3_AUTHNOPRIV_USER"),
        Some(auth_protocol(&setting(
            "OC_TEST_SNMP_V3_AUTHNOPRIV_AUTH_PROTO",
        ))),
        Some(SnmpPrivProtocol::Aes128),
    );
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME]});
    let err = get(addr, p, Some(&credential))
        .await
        .expect_err("user has no privacy key");
    assert_eq!(
        err,
        ActionError::Failed(format!(
            "SNMPv3 user ocv3auth may not use privacy at {addr}: the agent has no privacy key for \
             it (use authNoPriv)"
        ))
    );
}

#[tokio::test]
async fn a_wrong_v3_privacy_key_times_out_with_a_privacy_hint() {
    let addr = snmpd();
    let credential = Credential::SnmpV3 {
        user: setting("OC_TEST_SNMP_V3_USER"),
        auth: Some((
            SnmpAuthProtocol::Sha256,
            Secret::new(setting("OC_TEST_SNMP_V3_AUTH_PASS")),
        )),
        privacy: Some((SnmpPrivProtocol::Aes128, Secret::new("not-the-priv-key"))),
    };
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME], "timeout_ms": 300, "retries": 0});
    let err = get(addr, p, Some(&credential))
        .await
        .expect_err("snmpd drops what it cannot decrypt");
    let ActionError::Timeout(reason) = err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert!(
        reason.contains("wrong privacy key or protocol for user ocv3?"),
        "{reason}"
    );
}

#[tokio::test]
async fn v1_getnext_walk_of_the_system_subtree_matches_the_bulk_walk() {
    let addr = snmpd();
    let root = json!({"root_oid": ".1.3.6.1.2.1.1"});
    let v1 = walk(
        addr,
        params(addr, json!({"version": "1", "root_oid": ".1.3.6.1.2.1.1"})),
        None,
    )
    .await
    .expect("v1 walk");
    let v2 = walk(addr, params(addr, root), None)
        .await
        .expect("bulk walk");
    assert!(v1.fields["varbind_count"].as_u64().expect("count") > 10);
    assert_eq!(oids_of(&v1.raw), oids_of(&v2.raw));
    assert_eq!(v1.fields["varbind_count"], v2.fields["varbind_count"]);
    assert_eq!(v1.fields["truncated"], json!(false));
    assert_eq!(v1.fields["walk_error"], Value::Null);
    assert!(
        v1.raw.lines().all(|l| l.starts_with(".1.3.6.1.2.1.1.")),
        "{}",
        v1.raw
    );
    assert!(
        v1.fields["requests"].as_u64() > v2.fields["requests"].as_u64(),
        "GETNEXT asks once per varbind"
    );
}

#[tokio::test]
async fn bulk_walk_of_the_whole_tree_matches_snmpbulkwalk() {
    let addr = snmpd();
    let target = addr.to_string();
    let anchor = net_snmp(
        "snmpbulkwalk",
        &[
            "-v2c",
            "-c",
            "oc-public",
            "-On",
            "-m",
            "",
            "-Cr50",
            &target,
            ".1",
        ],
    );
    // net-snmp wraps long hex strings and prints the endOfMibView it stops at.
    let expected = anchor
        .lines()
        .filter(|l| l.starts_with('.') && !l.contains(" = No more variables"))
        .count();
    let out = walk(
        addr,
        params(
            addr,
            json!({"root_oid": ".1", "max_repetitions": 50, "max_varbinds": 200_000}),
        ),
        None,
    )
    .await
    .expect("whole walk");
    let count =
        usize::try_from(out.fields["varbind_count"].as_u64().expect("count")).expect("fits");
    assert_eq!(count, out.raw.lines().count());
    assert!(count > 5000, "{count}");
    assert!(
        count.abs_diff(expected) <= 20,
        "ours {count}, snmpbulkwalk {expected}"
    );
    assert_eq!(out.fields["truncated"], json!(false));
    assert_eq!(out.fields["walk_error"], Value::Null);
    assert!(out.fields.get("output_truncated").is_none());
    let oids = oids_of(&out.raw);
    assert_eq!(oids.first(), Some(&SYS_DESCR));
    // The columns the interface parsers read are all there, ifName included.
    for column in [
        ".1.3.6.1.2.1.2.2.1.2.",
        ".1.3.6.1.2.1.2.2.1.8.",
        ".1.3.6.1.2.1.31.1.1.1.1.",
        ".1.3.6.1.2.1.31.1.1.1.6.",
    ] {
        assert!(
            oids.iter().any(|o| o.starts_with(column)),
            "no {column} in the walk"
        );
    }
}

#[tokio::test]
async fn a_walk_stops_at_max_varbinds_and_says_it_was_truncated() {
    let addr = snmpd();
    let full = walk(
        addr,
        params(addr, json!({"root_oid": ".1.3.6.1.2.1.2.2"})),
        None,
    )
    .await
    .expect("ifTable");
    let all = full.fields["varbind_count"].as_u64().expect("count");
    assert!(all > 10);
    let capped = walk(
        addr,
        params(
            addr,
            json!({"root_oid": ".1.3.6.1.2.1.2.2", "max_varbinds": 7}),
        ),
        None,
    )
    .await
    .expect("capped walk");
    assert_eq!(capped.fields["varbind_count"], json!(7));
    assert_eq!(capped.fields["truncated"], json!(true));
    assert_eq!(
        capped.raw.lines().collect::<Vec<_>>(),
        full.raw.lines().take(7).collect::<Vec<_>>()
    );
    let exact = walk(
        addr,
        params(
            addr,
            json!({"root_oid": ".1.3.6.1.2.1.2.2", "max_varbinds": all}),
        ),
        None,
    )
    .await
    .expect("walk capped at its own size");
    assert_eq!(exact.fields["varbind_count"], json!(all));
    assert_eq!(
        exact.fields["truncated"],
        json!(false),
        "nothing was left out"
    );
}

#[tokio::test]
async fn a_walk_of_a_scalar_instance_returns_it() {
    let addr = snmpd();
    let out = walk(addr, params(addr, json!({"root_oid": SYS_NAME})), None)
        .await
        .expect("walk");
    assert_eq!(out.fields["varbind_count"], json!(1));
    assert_eq!(
        out.raw,
        format!("{SYS_NAME} = STRING: \"{}\"\n", sys_name())
    );
}

#[tokio::test]
async fn v3_bulk_walk_of_the_interfaces_matches_v2c() {
    let addr = snmpd();
    let v2 = walk(
        addr,
        params(addr, json!({"root_oid": ".1.3.6.1.2.1.2"})),
        None,
    )
    .await
    .expect("v2c");
    let p = json!({"version": "3", "port": addr.port(), "root_oid": ".1.3.6.1.2.1.2", "max_repetitions": 10});
    let v3 = walk(addr, p, Some(&ocv3())).await.expect("v3 walk");
    assert_eq!(oids_of(&v3.raw), oids_of(&v2.raw));
}

#[tokio::test]
async fn params_out_of_range_are_refused() {
    let addr = snmpd();
    for (p, what) in [
        (json!({"oids": []}), "oids"),
        (json!({"oids": ["sysName.0"]}), "numeric OID"),
        (json!({"oids": [SYS_NAME], "retries": 9}), "retries"),
        (json!({"oids": [SYS_NAME], "version": "4"}), "version"),
    ] {
        let err = get(addr, params(addr, p), None).await.expect_err("invalid");
        let ActionError::InvalidParams(reason) = err else {
            panic!("{err:?}")
        };
        assert!(reason.contains(what), "{reason}");
    }
    for (p, what) in [
        (
            json!({"root_oid": ".1", "max_repetitions": 0}),
            "max_repetitions",
        ),
        (json!({"root_oid": ".1", "max_varbinds": 0}), "max_varbinds"),
        (json!({}), "root_oid"),
    ] {
        let err = walk(addr, params(addr, p), None)
            .await
            .expect_err("invalid");
        let ActionError::InvalidParams(reason) = err else {
            panic!("{err:?}")
        };
        assert!(reason.contains(what), "{reason}");
    }
}

// --- through the library, the runner and the shipped parsers --------------------------

/// Resolves `command` from the shipped libraries and dry-runs it against the test snmpd.
async fn dry_run_command(command: &str, params: Value) -> DryRunOutput {
    let library = Library::load_dir(&crate::support::repo_root().join("libraries"))
        .expect("the shipped libraries load");
    let spec: ActionSpec = serde_json::from_value(json!({"command": command, "params": params}))
        .expect("an action spec");
    let resolved = library.resolve_action(&spec).expect("the action resolves");
    let prepared = PreparedAction::from_resolved(0, &resolved, None);
    let registry = Registry::empty()
        .with(Arc::new(SnmpGetAction::new()))
        .with(Arc::new(SnmpWalkAction::new()));
    let target = Target::Ip(snmpd().ip());
    dry_run(&registry, &target, &prepared, Duration::from_secs(30)).await
}

#[tokio::test]
async fn the_system_command_parses_the_get_into_fields() {
    let addr = snmpd();
    let run = dry_run_command(
        "snmp.system",
        json!({"port": addr.port(), "community": community()}),
    )
    .await;
    assert_eq!(
        run.result.status,
        ResultStatus::Ok,
        "{:?}",
        run.result.reason
    );
    let fields = &run.result.fields;
    assert_eq!(fields["name"], json!(sys_name()));
    assert_eq!(fields["object_id"], json!(".1.3.6.1.4.1.8072.3.2.10"));
    assert!(
        fields["descr"]
            .as_str()
            .expect("descr")
            .starts_with("Linux")
    );
    assert!(fields["uptime_s"].as_f64().expect("uptime_s") > 0.0);
    assert!(
        fields.contains_key("varbinds"),
        "the executor's own fields stay"
    );
}

#[tokio::test]
async fn the_if_table_command_gives_one_row_per_interface() {
    let addr = snmpd();
    let run = dry_run_command(
        "snmp.if_table",
        json!({"port": addr.port(), "community": community()}),
    )
    .await;
    assert_eq!(
        run.result.status,
        ResultStatus::Ok,
        "{:?}",
        run.result.reason
    );
    let rows = &run.result.rows;
    let count = run
        .raw
        .lines()
        .filter(|l| l.starts_with(".1.3.6.1.2.1.2.2.1.1."))
        .count();
    assert!(
        count > 0 && rows.len() == count,
        "{count} interfaces, {} rows",
        rows.len()
    );
    for row in rows {
        for column in ["index", "name", "descr", "mtu", "oper_status", "in_octets"] {
            assert!(row.contains_key(column), "row without {column}: {row:?}");
        }
    }
    assert!(rows.iter().any(|r| r["name"] == json!("lo")), "{rows:?}");
}

// --- fake agents ---------------------------------------------------------------------

/// A UDP responder on loopback: for each datagram, sends back what `answer` returns.
async fn fake_agent(
    mut answer: impl FnMut(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
) -> (SocketAddr, JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            for reply in answer(&buf[..len]) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    (addr, task)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).expect("short"));
    } else {
        out.extend([
            0x82,
            u8::try_from(len >> 8).expect("len"),
            (len & 0xff) as u8,
        ]);
    }
    out.extend_from_slice(content);
    out
}

fn int(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take(7).take_while(|&&b| b == 0).count();
    let start = if bytes[skip] & 0x80 != 0 {
        skip - 1
    } else {
        skip
    };
    tlv(0x02, &bytes[start..])
}

fn oid(text: &str) -> Vec<u8> {
    let arcs: Vec<u64> = text
        .trim_start_matches('.')
        .split('.')
        .map(|a| a.parse().expect("arc"))
        .collect();
    let mut content = vec![u8::try_from(arcs[0] * 40 + arcs[1]).expect("first arcs")];
    for &arc in &arcs[2..] {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    tlv(0x06, &content)
}

/// A v2c Response to `request` with these varbinds (OID, BER value).
fn response(request: &[u8], status: i64, index: i64, varbinds: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let pdu = snmp2::Pdu::from_bytes(request).expect("a v2c request");
    let list: Vec<u8> = varbinds
        .iter()
        .flat_map(|(o, v)| tlv(0x30, &[oid(o), v.clone()].concat()))
        .collect();
    let body = [
        int(i64::from(pdu.req_id)),
        int(status),
        int(index),
        tlv(0x30, &list),
    ]
    .concat();
    tlv(
        0x30,
        &[int(1), tlv(0x04, pdu.community), tlv(0xa2, &body)].concat(),
    )
}

fn string(text: &str) -> Vec<u8> {
    tlv(0x04, text.as_bytes())
}

#[tokio::test]
async fn an_agent_that_returns_non_increasing_oids_stops_the_walk_with_an_error() {
    let (addr, _agent) = fake_agent(|request| {
        vec![response(
            request,
            0,
            0,
            &[
                (".1.3.6.1.2.1.1.1.0", string("a")),
                (".1.3.6.1.2.1.1.2.0", string("b")),
                (".1.3.6.1.2.1.1.1.0", string("a")),
            ],
        )]
    })
    .await;
    let out = walk(
        addr,
        params(addr, json!({"root_oid": ".1.3.6.1.2.1.1"})),
        None,
    )
    .await
    .expect("partial walk");
    assert_eq!(out.fields["varbind_count"], json!(2));
    assert_eq!(
        out.fields["walk_error"],
        json!(
            "the agent returned .1.3.6.1.2.1.1.1.0 after .1.3.6.1.2.1.1.2.0: OIDs must increase, \
             so the walk stopped to avoid a loop"
        )
    );
}

#[tokio::test]
async fn an_agent_that_repeats_the_same_answer_does_not_loop_forever() {
    let (addr, _agent) = fake_agent(|request| {
        vec![response(
            request,
            0,
            0,
            &[(".1.3.6.1.2.1.1.1.0", string("a"))],
        )]
    })
    .await;
    let out = walk(
        addr,
        params(addr, json!({"root_oid": ".1.3.6.1.2.1.1"})),
        None,
    )
    .await
    .expect("partial walk");
    assert_eq!(out.fields["varbind_count"], json!(1));
    assert!(
        out.fields["walk_error"]
            .as_str()
            .expect("error")
            .contains("OIDs must increase")
    );
}

#[tokio::test]
async fn a_get_is_split_when_the_agent_says_too_big() {
    let (addr, _agent) = fake_agent(|request| {
        let pdu = snmp2::Pdu::from_bytes(request).expect("request");
        let asked: Vec<String> = pdu.varbinds.clone().map(|(o, _)| format!(".{o}")).collect();
        if asked.len() > 2 {
            return vec![response(request, 1, 0, &[])];
        }
        let answers: Vec<(&str, Vec<u8>)> = asked.iter().map(|o| (o.as_str(), int(7))).collect();
        vec![response(request, 0, 0, &answers)]
    })
    .await;
    let oids: Vec<String> = (1..=5).map(|i| format!(".1.3.6.1.4.1.99.{i}.0")).collect();
    let out = get(addr, params(addr, json!({"oids": oids})), None)
        .await
        .expect("split get");
    assert_eq!(varbinds(&out).len(), 5);
    assert!(varbinds(&out).values().all(|v| v == &json!(7)));
    assert_eq!(
        oids_of(&out.raw),
        oids.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_late_answer_to_an_earlier_attempt_is_left_behind() {
    // Answers every request twice: the copy still queued when the next request goes out
    // must not be taken for its answer.
    let (addr, _agent) = fake_agent(|request| {
        let pdu = snmp2::Pdu::from_bytes(request).expect("request");
        let asked = pdu
            .varbinds
            .clone()
            .next()
            .map(|(o, _)| format!(".{o}"))
            .unwrap_or_default();
        let next = if asked == SYS_NAME {
            ".1.3.6.1.2.1.1.6.0"
        } else {
            SYS_NAME
        };
        let answer = response(request, 0, 0, &[(next, string("dup"))]);
        vec![answer.clone(), answer]
    })
    .await;
    let out = walk(
        addr,
        params(
            addr,
            json!({"root_oid": ".1.3.6.1.2.1.1.5", "max_repetitions": 1}),
        ),
        None,
    )
    .await
    .expect("walk despite duplicates");
    assert_eq!(out.fields["varbind_count"], json!(1));
    assert_eq!(out.fields["walk_error"], Value::Null);
    assert_eq!(out.raw, format!("{SYS_NAME} = STRING: \"dup\"\n"));
}

#[tokio::test]
async fn an_agent_answering_an_error_status_is_reported_by_name() {
    let (addr, _agent) =
        fake_agent(|request| vec![response(request, 5, 1, &[(SYS_NAME, vec![0x05, 0x00])])]).await;
    let err = get(addr, params(addr, json!({"oids": [SYS_NAME]})), None)
        .await
        .expect_err("genErr");
    assert_eq!(
        err,
        ActionError::Failed(format!(
            "the agent at {addr} answered genErr for .1.3.6.1.2.1.1.5.0"
        ))
    );
}

#[tokio::test]
async fn garbage_answers_fail_as_malformed_and_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let template = {
        let request = {
            // Any v2c GET will do as the shape to mutate.
            let body = [
                int(1),
                int(0),
                int(0),
                tlv(0x30, &tlv(0x30, &[oid(SYS_NAME), vec![5, 0]].concat())),
            ]
            .concat();
            tlv(
                0x30,
                &[int(1), tlv(0x04, b"oc-public"), tlv(0xa0, &body)].concat(),
            )
        };
        response(
            &request,
            0,
            0,
            &[
                (SYS_NAME, string("oc-test-snmpd")),
                (SYS_UP_TIME, tlv(0x43, &[1, 2])),
            ],
        )
    };
    let (addr, _agent) = fake_agent(move |_request| {
        let mut bytes = match rng.random_range(0..3) {
            0 => (0..rng.random_range(0..200))
                .map(|_| rng.random())
                .collect(),
            1 => template[..rng.random_range(0..template.len())].to_vec(),
            _ => {
                let mut b = template.clone();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                b
            }
        };
        bytes.truncate(65_000);
        vec![bytes]
    })
    .await;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..300 {
        let p = params(
            addr,
            json!({"oids": [SYS_NAME], "timeout_ms": 200, "retries": 0}),
        );
        let result = if i % 2 == 0 {
            get(addr, p, None).await.map(|_| ())
        } else {
            let p = params(
                addr,
                json!({"root_oid": ".1.3.6.1.2.1.1", "timeout_ms": 200, "retries": 0}),
            );
            walk(addr, p, None).await.map(|_| ())
        };
        let key = match result {
            Ok(()) => "ok".to_owned(),
            Err(ActionError::Failed(m))
                if m.starts_with(&format!("malformed SNMP response from {addr} (")) =>
            {
                "malformed".to_owned()
            }
            Err(ActionError::Timeout(_)) => "timeout".to_owned(),
            Err(other) => panic!("unexpected error for garbage: {other:?}"),
        };
        *outcomes.entry(key).or_default() += 1;
    }
    eprintln!("garbage outcomes: {outcomes:?}");
    assert!(
        outcomes.get("malformed").copied().unwrap_or(0) > 200,
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn garbage_answers_to_snmpv3_fail_as_malformed() {
    let (addr, _agent) =
        fake_agent(|_request| vec![b"\x30\x0b\x02\x01\x03 definitely not SNMP".to_vec()]).await;
    let p = json!({"version": "3", "port": addr.port(), "oids": [SYS_NAME], "timeout_ms": 300});
    let err = get(addr, p, Some(&ocv3())).await.expect_err("garbage");
    let ActionError::Failed(reason) = err else {
        panic!("expected Failed, got {err:?}")
    };
    assert!(
        reason.starts_with(&format!("malformed SNMP response from {addr} (")),
        "{reason}"
    );
}
