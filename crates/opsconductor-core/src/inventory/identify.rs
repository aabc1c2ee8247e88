//! Vendor, model and OS guessed from what a scan learned.
//!
//! Each source gives a partial guess and the guesses are merged field by field, most
//! trustworthy source first:
//! 1. SNMP: sysObjectID names the vendor reliably (the enterprise number is assigned by
//!    IANA), and sysDescr is the vendor's own description of model and software.
//! 2. The SSH identification line (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`).
//! 3. The HTTP `Server` header.
//!
//! So a vendor comes from sysObjectID, then sysDescr, then SSH, then HTTP; a model and an OS
//! come from sysDescr, then sysObjectID, then SSH, then HTTP. Fields from different sources
//! may combine (vendor from sysObjectID, OS from the SSH banner) because a box that answers
//! SNMP with only an enterprise number still tells the truth in its banner.
//!
//! Names follow one rule so that groups can filter on them: vendors by their usual short
//! name (`Cisco`, `Juniper`, `Palo Alto Networks`); operating systems by product name
//! (`JUNOS`, `EOS`, `RouterOS`, `VRP`, `FortiOS`, `PAN-OS`, `Windows`, `FreeBSD`), with
//! Cisco's prefixed because `IOS` alone is ambiguous (`Cisco IOS`, `Cisco IOS XE`,
//! `Cisco IOS XR`, `Cisco NX-OS`, `Cisco ASA`). Linux is `Linux`, or `Linux (Debian)` when
//! the distribution is visible; every Enterprise Linux rebuild (Red Hat, CentOS, Rocky,
//! Alma, an `.el9` kernel) is `Linux (RHEL)`, and dropbear-only hosts are
//! `Linux (embedded)`. A more specific `Linux (…)` from a lower source refines a plain
//! `Linux` from a higher one. Linux and the BSDs have no vendor.
//!
//! Every guess is cut to [`MAX_ATTRIBUTE_CHARS`]; unknown or garbage input gives
//! [`Identity::default`], never a panic.

use std::sync::LazyLock;

use regex::Regex;

use super::{Attributes, MAX_ATTRIBUTE_CHARS, cut};

/// Longest input looked at, in characters: sysDescr and banners are short; the cap keeps
/// the regex work per device bounded if a caller passes something unfiltered.
const MAX_INPUT_CHARS: usize = 4096;

/// What [`identify`] guessed; `None` where nothing was recognised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Vendor, e.g. `Cisco`, `Juniper`, `MikroTik`.
    pub vendor: Option<String>,
    /// Model as the device names it, e.g. `C3750E`, `mx480`, `DCS-7050SX-64`.
    pub model: Option<String>,
    /// Operating system, e.g. `Cisco IOS XE`, `JUNOS`, `Linux (Debian)`, `Windows`.
    pub os: Option<String>,
}

/// Guesses vendor, model and OS from the SNMP system group, the SSH banner and the HTTP
/// `Server` header (see the module docs for the precedence).
pub fn identify(attributes: &Attributes) -> Identity {
    let read = |text: &Option<String>, reader: fn(&str) -> Identity| {
        text.as_deref()
            .map(|t| reader(&cut(t, MAX_INPUT_CHARS)))
            .unwrap_or_default()
    };
    let oid = read(&attributes.sys_object_id, from_object_id);
    let descr = read(&attributes.sys_descr, from_sys_descr);
    let ssh = read(&attributes.ssh_banner, from_ssh_banner);
    let http = read(&attributes.http_server, from_http_server);
    let systems: Vec<String> = [descr.os, oid.os, ssh.os, http.os]
        .into_iter()
        .flatten()
        .collect();
    let os = match systems.first().map(String::as_str) {
        Some("Linux") => systems.iter().find(|o| o.starts_with("Linux (")),
        _ => None,
    }
    .or(systems.first())
    .cloned();
    Identity {
        vendor: first([oid.vendor, descr.vendor, ssh.vendor, http.vendor]),
        model: first([descr.model, oid.model, ssh.model, http.model]),
        os,
    }
    .trimmed()
}

impl Identity {
    /// Every field cut to [`MAX_ATTRIBUTE_CHARS`], blank ones dropped.
    fn trimmed(self) -> Self {
        let clean = |v: Option<String>| {
            v.map(|s| cut(s.trim(), MAX_ATTRIBUTE_CHARS))
                .filter(|s| !s.is_empty())
        };
        Self {
            vendor: clean(self.vendor),
            model: clean(self.model),
            os: clean(self.os),
        }
    }
}

fn first<const N: usize>(candidates: [Option<String>; N]) -> Option<String> {
    candidates.into_iter().flatten().next()
}

fn guess(vendor: Option<&str>, model: Option<&str>, os: Option<&str>) -> Identity {
    Identity {
        vendor: vendor.map(str::to_owned),
        model: model.map(str::to_owned),
        os: os.map(str::to_owned),
    }
}

/// A regex compiled once, on first use. The patterns are literals exercised by the tests;
/// an invalid one trips the debug assertion there and, in a release build, only disables
/// its rule instead of failing a scan.
macro_rules! regex {
    ($pattern:literal) => {{
        static RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
            let compiled = Regex::new($pattern);
            debug_assert!(compiled.is_ok(), "bad pattern {}", $pattern);
            compiled.ok()
        });
        RE.as_ref()
    }};
}

/// The first capture group of `re` in `text`.
fn capture<'t>(re: Option<&Regex>, text: &'t str) -> Option<&'t str> {
    Some(re?.captures(text)?.get(1)?.as_str())
}

fn found(re: Option<&Regex>, text: &str) -> bool {
    re.is_some_and(|re| re.is_match(text))
}

// ---------------------------------------------------------------- sysObjectID

/// IANA private enterprise numbers (the arc after 1.3.6.1.4.1) of common network gear:
/// `(number, vendor, OS when every product of that number runs the same one)`.
const ENTERPRISES: &[(u32, Option<&str>, Option<&str>)] = &[
    (2, Some("IBM"), None),
    (9, Some("Cisco"), None),
    (11, Some("HP"), None),
    (43, Some("3Com"), None),
    (171, Some("D-Link"), None),
    (253, Some("Xerox"), None),
    (311, Some("Microsoft"), Some("Windows")),
    (318, Some("APC"), None),
    (367, Some("Ricoh"), None),
    (641, Some("Lexmark"), None),
    (674, Some("Dell"), None),
    (789, Some("NetApp"), None),
    (890, Some("Zyxel"), None),
    (1588, Some("Brocade"), None),
    (1602, Some("Canon"), None),
    (1916, Some("Extreme Networks"), None),
    (1991, Some("Brocade"), None), // Foundry Networks
    (2011, Some("Huawei"), None),
    // UC Davis: the net-snmp agent before 8072; OS from the agent arc, vendor unknown.
    (2021, None, None),
    (2435, Some("Brother"), None),
    (2604, Some("Sophos"), None),
    (2620, Some("Check Point"), None),
    (2636, Some("Juniper"), Some("JUNOS")),
    (3076, Some("Cisco"), None), // Altiga, the VPN concentrators
    (3224, Some("Juniper"), Some("ScreenOS")), // NetScreen
    (3375, Some("F5"), None),
    (3417, Some("Blue Coat"), None),
    (3955, Some("Linksys"), None),
    (4526, Some("Netgear"), None),
    (5624, Some("Enterasys"), None),
    (6027, Some("Dell"), None), // Force10
    (6486, Some("Alcatel-Lucent"), None),
    (6527, Some("Nokia"), None), // Timetra, the Alcatel-Lucent / Nokia service routers
    (6574, Some("Synology"), None),
    (6876, Some("VMware"), None),
    (6889, Some("Avaya"), None),
    (7779, Some("Infoblox"), None),
    // net-snmp: vendor unknown (any box running the agent), OS from the agent arc.
    (8072, None, None),
    (8741, Some("SonicWall"), None),
    (10002, Some("Ubiquiti"), None), // Frogfoot, used by older Ubiquiti firmware
    (11863, Some("TP-Link"), None),
    (12356, Some("Fortinet"), None),
    (14179, Some("Cisco"), None), // Airespace wireless controllers
    (14823, Some("Aruba"), None),
    (14988, Some("MikroTik"), None),
    (17163, Some("Riverbed"), None),
    (24681, Some("QNAP"), None),
    (25461, Some("Palo Alto Networks"), Some("PAN-OS")),
    (25506, Some("H3C"), None),
    (30065, Some("Arista"), Some("EOS")),
    (41112, Some("Ubiquiti"), None),
    (47196, Some("HPE Aruba"), None),
];

/// OS of a net-snmp / UCD-SNMP agent by the arc under `netSnmpAgentOIDs` (8072.3.2) or
/// `ucdSnmpAgent` (2021.250): the agent reports the platform it was built for.
fn agent_os(arc: u64) -> Option<&'static str> {
    Some(match arc {
        1 | 6 | 14 => "HP-UX",
        2 => "SunOS",
        3 => "Solaris",
        4 => "Tru64",
        5 => "Ultrix",
        7 => "NetBSD",
        8 => "FreeBSD",
        9 => "IRIX",
        10 => "Linux",
        11 => "BSD/OS",
        12 => "OpenBSD",
        13 => "Windows",
        15 => "AIX",
        16 => "macOS",
        17 => "DragonFly BSD",
        _ => return None,
    })
}

/// The arcs after `1.3.6.1.4.1` (enterprise number first), read leniently: a leading dot,
/// `iso.` and net-snmp's `SNMPv2-SMI::enterprises.` forms are accepted too.
fn enterprise_arcs(oid: &str) -> Option<Vec<u64>> {
    let oid = oid.trim().trim_start_matches('.');
    let rest = match oid.strip_prefix("SNMPv2-SMI::enterprises.") {
        Some(rest) => rest,
        None => oid
            .strip_prefix("1.3.6.1.4.1.")
            .or_else(|| oid.strip_prefix("iso.3.6.1.4.1."))?,
    };
    // Only the first few arcs mean anything here; the cap bounds work on garbage.
    rest.split('.')
        .take(4)
        .map(|arc| arc.parse::<u64>().ok())
        .collect()
}

fn from_object_id(oid: &str) -> Identity {
    let Some(arcs) = enterprise_arcs(oid) else {
        return Identity::default();
    };
    let Some(&enterprise) = arcs.first() else {
        return Identity::default();
    };
    let agent = match arcs.as_slice() {
        [8072, 3, 2, os, ..] | [2021, 250, os, ..] => agent_os(*os),
        _ => None,
    };
    match ENTERPRISES
        .iter()
        .find(|(n, _, _)| u64::from(*n) == enterprise)
    {
        Some((_, vendor, os)) => guess(*vendor, None, agent.or(*os)),
        None => Identity::default(),
    }
}

// ---------------------------------------------------------------- sysDescr

/// sysDescr rules, most specific first; the first that recognises the text wins.
const DESCR_RULES: &[fn(&str) -> Option<Identity>] = &[
    cisco,
    juniper,
    arista,
    mikrotik,
    huawei,
    fortinet,
    palo_alto,
    hp_switch,
    ubiquiti,
    vmware,
    apc,
    windows,
    linux,
    bsd,
    other_unix,
    vendor_named,
];

fn from_sys_descr(descr: &str) -> Identity {
    DESCR_RULES
        .iter()
        .find_map(|rule| rule(descr))
        .unwrap_or_default()
}

fn cisco(d: &str) -> Option<Identity> {
    if !found(regex!(r"(?i)\bcisco\b"), d) {
        return None;
    }
    if found(regex!(r"(?i)\bIOS[ -]?XR\b"), d) {
        let model = capture(regex!(r"\(Cisco ([A-Za-z0-9-]+?)(?: Series)?\)"), d);
        return Some(guess(Some("Cisco"), model, Some("Cisco IOS XR")));
    }
    if found(regex!(r"(?i)\bNX-OS\b|Nexus Operating System"), d) {
        let model = capture(regex!(r"(?i)NX-OS\(tm\) ([a-z0-9]+)"), d);
        return Some(guess(Some("Cisco"), model, Some("Cisco NX-OS")));
    }
    let os = if found(regex!(r"(?i)Adaptive Security Appliance"), d) {
        Some("Cisco ASA")
    } else if found(regex!(r"(?i)Firepower Threat Defense"), d) {
        Some("Cisco FTD")
    } else if found(
        // IOS XE 16 and later name a release train in brackets (`[Amsterdam]`), and its
        // images run as the Linux process IOSd.
        regex!(r"(?i)IOS[ -]?XE|Virtual XE|LINUX_IOSD|^Cisco IOS Software \[[A-Za-z ]+\]"),
        d,
    ) {
        Some("Cisco IOS XE")
    } else if found(
        regex!(r"(?i)\bIOS(?: \(tm\))? Software|Internetwork Operating System"),
        d,
    ) {
        Some("Cisco IOS")
    } else {
        None
    };
    // An explicit product number (`cisco WS-C2960X-48TS-L`) beats the platform read from
    // the image name (`C3750E-UNIVERSALK9-M` → `C3750E`). Virtual routers' images
    // (`X86_64_LINUX_IOSD-…`) name no platform.
    let model =
        capture(regex!(r"\b[Cc]isco ((?:[A-Z]+-)?[A-Z]+\d[A-Za-z0-9-]*)"), d).or_else(|| {
            capture(regex!(r"Software \(([A-Za-z0-9]+)[-_][A-Za-z0-9_-]*\)"), d)
                .filter(|m| m.chars().any(|c| c.is_ascii_digit()))
                .filter(|m| !m.to_ascii_uppercase().starts_with("X86"))
        });
    Some(guess(Some("Cisco"), model, os))
}

fn juniper(d: &str) -> Option<Identity> {
    let model = capture(regex!(r"(?i)Juniper Networks,? Inc\.? ([A-Za-z0-9-]+)"), d);
    let junos = found(regex!(r"(?i)\bJUNOS\b"), d);
    if model.is_none() && !junos && !found(regex!(r"(?i)\bJuniper\b"), d) {
        return None;
    }
    Some(guess(Some("Juniper"), model, junos.then_some("JUNOS")))
}

fn arista(d: &str) -> Option<Identity> {
    if !found(regex!(r"(?i)\bArista Networks\b"), d) {
        return None;
    }
    let model = capture(
        regex!(r"(?i)running on an Arista Networks ([A-Za-z0-9-]+)"),
        d,
    );
    let eos = found(regex!(r"(?i)\bEOS\b"), d);
    Some(guess(Some("Arista"), model, eos.then_some("EOS")))
}

fn mikrotik(d: &str) -> Option<Identity> {
    if let Some(model) = capture(regex!(r"^RouterOS (\S+)"), d) {
        return Some(guess(Some("MikroTik"), Some(model), Some("RouterOS")));
    }
    if found(regex!(r"(?i)\bRouterOS\b"), d) {
        return Some(guess(Some("MikroTik"), None, Some("RouterOS")));
    }
    found(regex!(r"(?i)\bMikroTik\b"), d).then(|| guess(Some("MikroTik"), None, None))
}

fn huawei(d: &str) -> Option<Identity> {
    let vrp = found(
        regex!(r"(?i)Huawei Versatile Routing Platform|\bVRP \(R\) software"),
        d,
    );
    if !vrp && !found(regex!(r"(?i)\bHuawei\b"), d) {
        return None;
    }
    let model = capture(regex!(r"\bHUAWEI ([A-Z]+\d[A-Za-z0-9-]*)"), d)
        .or_else(|| capture(regex!(r"\(([A-Z]+\d[A-Za-z0-9-]*) V\d{3}R\d{3}"), d));
    Some(guess(Some("Huawei"), model, vrp.then_some("VRP")))
}

fn fortinet(d: &str) -> Option<Identity> {
    let model = capture(regex!(r"\b(Forti[A-Z][A-Za-z]+-[A-Za-z0-9-]+)"), d);
    if model.is_none() && !found(regex!(r"(?i)\bFortinet\b"), d) {
        return None;
    }
    let fortios = model.is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.starts_with("fortigate-") || m.starts_with("fortiwifi-")
    });
    Some(guess(Some("Fortinet"), model, fortios.then_some("FortiOS")))
}

fn palo_alto(d: &str) -> Option<Identity> {
    if !found(regex!(r"(?i)\bPalo Alto Networks\b"), d) {
        return None;
    }
    let model = capture(
        regex!(r"(?i)Palo Alto Networks ((?:PA|VM|M)-[A-Za-z0-9-]+)"),
        d,
    );
    Some(guess(Some("Palo Alto Networks"), model, Some("PAN-OS")))
}

/// ProCurve / ProVision / ArubaOS-Switch: `HP J9728A 2920-48G Switch, revision WB.16…`.
/// Their OS name changed with every rebrand, so only vendor and model are guessed.
fn hp_switch(d: &str) -> Option<Identity> {
    let caps = regex!(
        r"^(HP ProCurve|ProCurve|HPE|HP|Hewlett-Packard|Aruba)(?: Switch)? (?:[A-Z]{1,2}\d{3,4}[A-Z] )?(?:Switch )?(\d{4}[A-Za-z0-9+-]*)"
    )?
    .captures(d)?;
    let vendor = if caps.get(1).is_some_and(|m| m.as_str() == "Aruba") {
        "Aruba"
    } else {
        "HP"
    };
    Some(guess(Some(vendor), caps.get(2).map(|m| m.as_str()), None))
}

fn ubiquiti(d: &str) -> Option<Identity> {
    if found(regex!(r"^EdgeOS\b"), d) {
        return Some(guess(Some("Ubiquiti"), None, Some("EdgeOS")));
    }
    if let Some(model) = capture(regex!(r"^(EdgeSwitch[^,]*)"), d) {
        return Some(guess(Some("Ubiquiti"), Some(model.trim()), None));
    }
    found(regex!(r"(?i)\bUbiquiti\b"), d).then(|| guess(Some("Ubiquiti"), None, None))
}

fn vmware(d: &str) -> Option<Identity> {
    found(regex!(r"(?i)\bVMware ESXi?\b"), d).then(|| guess(Some("VMware"), None, Some("ESXi")))
}

fn apc(d: &str) -> Option<Identity> {
    if !found(regex!(r"^APC\b"), d) {
        return None;
    }
    let model = capture(regex!(r"\bMN:([A-Za-z0-9-]+)"), d);
    Some(guess(Some("APC"), model, None))
}

fn windows(d: &str) -> Option<Identity> {
    found(
        regex!(r"(?i)Software: Windows|^Microsoft Windows|\bWindows (?:Version|Server|NT)\b"),
        d,
    )
    .then(|| guess(Some("Microsoft"), None, Some("Windows")))
}

/// A distribution named in a kernel version, banner or server header.
fn linux_distribution(text: &str) -> Option<&'static str> {
    const DISTRIBUTIONS: [(&str, &str); 9] = [
        ("ubuntu", "Ubuntu"),
        ("raspbian", "Raspbian"),
        ("debian", "Debian"),
        ("kali", "Kali"),
        ("alpine", "Alpine"),
        ("suse", "SUSE"),
        ("fedora", "Fedora"),
        ("red hat", "RHEL"),
        ("centos", "RHEL"),
    ];
    let lower = text.to_ascii_lowercase();
    if let Some((_, name)) = DISTRIBUTIONS.iter().find(|(key, _)| lower.contains(key)) {
        return Some(name);
    }
    if found(
        regex!(r"(?i)rocky|almalinux|oracle linux|\.el\d+[._]"),
        text,
    ) {
        return Some("RHEL");
    }
    if found(regex!(r"\.fc\d+\."), text) {
        return Some("Fedora");
    }
    if found(regex!(r"[+~]deb\d+"), text) {
        return Some("Debian");
    }
    None
}

fn linux_os(text: &str) -> String {
    match linux_distribution(text) {
        Some(distribution) => format!("Linux ({distribution})"),
        None => "Linux".to_owned(),
    }
}

fn linux(d: &str) -> Option<Identity> {
    if !found(regex!(r"^Linux\b"), d) {
        return None;
    }
    // `Linux <hostname> <kernel> …`: the host name is left out so that a host called
    // `debian-mirror` is not taken for Debian.
    let after_host = capture(regex!(r"^Linux \S+ (.*)$"), d).unwrap_or(d);
    Some(Identity {
        os: Some(linux_os(after_host)),
        ..Identity::default()
    })
}

/// The BSDs; firewall distributions built on FreeBSD keep the same `OS (flavour)` shape.
fn bsd(d: &str) -> Option<Identity> {
    let os = if found(regex!(r"\bFreeBSD\b"), d) {
        let flavour = capture(regex!(r"(?i)\b(pfSense|OPNsense|TrueNAS)\b"), d);
        return Some(Identity {
            os: Some(match flavour {
                Some(f) => format!("FreeBSD ({f})"),
                None => "FreeBSD".to_owned(),
            }),
            ..Identity::default()
        });
    } else if found(regex!(r"^OpenBSD\b"), d) {
        "OpenBSD"
    } else if found(regex!(r"^NetBSD\b"), d) {
        "NetBSD"
    } else if found(regex!(r"^DragonFly\b"), d) {
        "DragonFly BSD"
    } else {
        return None;
    };
    Some(guess(None, None, Some(os)))
}

fn other_unix(d: &str) -> Option<Identity> {
    let (vendor, os) = if found(regex!(r"^Darwin\b"), d) {
        (Some("Apple"), "macOS")
    } else if found(regex!(r"^SunOS\b"), d) {
        (None, "Solaris")
    } else if found(regex!(r"^AIX\b"), d) {
        (Some("IBM"), "AIX")
    } else if found(regex!(r"^HP-UX\b"), d) {
        (Some("HP"), "HP-UX")
    } else {
        return None;
    };
    Some(guess(vendor, None, Some(os)))
}

/// Last resort: a vendor named outright, nothing else recognised.
fn vendor_named(d: &str) -> Option<Identity> {
    const NAMED: [(&str, &str); 10] = [
        ("netgear", "Netgear"),
        ("d-link", "D-Link"),
        ("zyxel", "Zyxel"),
        ("sonicwall", "SonicWall"),
        ("check point", "Check Point"),
        ("brocade", "Brocade"),
        ("extreme networks", "Extreme Networks"),
        ("alcatel-lucent", "Alcatel-Lucent"),
        ("h3c", "H3C"),
        ("tp-link", "TP-Link"),
    ];
    let lower = d.to_ascii_lowercase();
    NAMED
        .iter()
        .find(|(key, _)| lower.contains(key))
        .map(|(_, vendor)| guess(Some(vendor), None, None))
}

// ---------------------------------------------------------------- SSH and HTTP

/// The software part of an SSH identification line (after `SSH-2.0-`), per RFC 4253.
fn ssh_software(banner: &str) -> &str {
    let banner = banner.trim();
    capture(regex!(r"^SSH-\d+\.\d+-(.*)$"), banner).unwrap_or(banner)
}

fn from_ssh_banner(banner: &str) -> Identity {
    let software = ssh_software(banner);
    let lower = software.to_ascii_lowercase();
    if lower.starts_with("openssh_for_windows") {
        return guess(Some("Microsoft"), None, Some("Windows"));
    }
    if lower.starts_with("openssh") {
        if lower.contains("freebsd") {
            return guess(None, None, Some("FreeBSD"));
        }
        return match linux_distribution(software) {
            Some(distribution) => Identity {
                os: Some(format!("Linux ({distribution})")),
                ..Identity::default()
            },
            None => Identity::default(),
        };
    }
    const PREFIXES: [(&str, Option<&str>, Option<&str>); 8] = [
        ("cisco", Some("Cisco"), None),
        ("rosssh", Some("MikroTik"), Some("RouterOS")),
        ("dropbear", None, Some("Linux (embedded)")),
        ("huawei", Some("Huawei"), None),
        ("zyxel", Some("Zyxel"), None),
        ("netscreen", Some("Juniper"), Some("ScreenOS")),
        ("comware", None, Some("Comware")),
        ("sun_ssh", None, Some("Solaris")),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _, _)| lower.starts_with(prefix))
        .map(|(_, vendor, os)| guess(*vendor, None, *os))
        .unwrap_or_default()
}

fn from_http_server(server: &str) -> Identity {
    let lower = server.trim().to_ascii_lowercase();
    if lower.starts_with("microsoft-iis") || lower.starts_with("microsoft-httpapi") {
        return guess(Some("Microsoft"), None, Some("Windows"));
    }
    if lower.contains("routeros") || lower.contains("mikrotik") {
        return guess(Some("MikroTik"), None, Some("RouterOS"));
    }
    if lower.starts_with("cisco-ios") {
        return guess(Some("Cisco"), None, Some("Cisco IOS"));
    }
    const PREFIXES: [(&str, &str); 5] = [
        ("forti", "Fortinet"),
        ("hp http server", "HP"),
        ("huawei", "Huawei"),
        ("zyxel", "Zyxel"),
        ("check point svn foundation", "Check Point"),
    ];
    if let Some((_, vendor)) = PREFIXES.iter().find(|(p, _)| lower.starts_with(p)) {
        return guess(Some(vendor), None, None);
    }
    // `Apache/2.4.57 (Debian)`: the platform the server was built for, in parentheses.
    match capture(regex!(r"\(([^()]{1,40})\)"), server) {
        Some(platform) if platform.to_ascii_lowercase().starts_with("win") => {
            guess(Some("Microsoft"), None, Some("Windows"))
        }
        Some(platform) if platform.eq_ignore_ascii_case("freebsd") => {
            guess(None, None, Some("FreeBSD"))
        }
        Some(platform) => match linux_distribution(platform) {
            Some(distribution) => Identity {
                os: Some(format!("Linux ({distribution})")),
                ..Identity::default()
            },
            None => Identity::default(),
        },
        None => Identity::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(descr: &str) -> Identity {
        identify(&Attributes {
            sys_descr: Some(descr.to_owned()),
            ..Attributes::default()
        })
    }

    fn ssh(banner: &str) -> Identity {
        identify(&Attributes {
            ssh_banner: Some(banner.to_owned()),
            ..Attributes::default()
        })
    }

    fn http(server: &str) -> Identity {
        identify(&Attributes {
            http_server: Some(server.to_owned()),
            ..Attributes::default()
        })
    }

    fn oid(object_id: &str) -> Identity {
        identify(&Attributes {
            sys_object_id: Some(object_id.to_owned()),
            ..Attributes::default()
        })
    }

    fn id(vendor: Option<&str>, model: Option<&str>, os: Option<&str>) -> Identity {
        guess(vendor, model, os)
    }

    #[test]
    fn nothing_known_gives_nothing() {
        assert_eq!(identify(&Attributes::default()), Identity::default());
        assert_eq!(of(""), Identity::default());
        assert_eq!(of("some appliance"), Identity::default());
        assert_eq!(ssh("SSH-2.0-OpenSSH_9.6"), Identity::default());
        assert_eq!(http("nginx/1.25.3"), Identity::default());
        assert_eq!(oid("1.3.6.1.4.1.99999999.1"), Identity::default());
        assert_eq!(oid("1.3.6.1.2.1.1"), Identity::default());
    }

    #[test]
    fn enterprise_numbers_name_the_vendor() {
        let cases = [
            ("1.3.6.1.4.1.9.1.1208", "Cisco"),
            ("1.3.6.1.4.1.2636.1.1.1.2.29", "Juniper"),
            ("1.3.6.1.4.1.30065.1.3011.7050.3741.64", "Arista"),
            ("1.3.6.1.4.1.2011.2.23.96", "Huawei"),
            ("1.3.6.1.4.1.14988.1", "MikroTik"),
            ("1.3.6.1.4.1.12356.101.1.604", "Fortinet"),
            ("1.3.6.1.4.1.25461.2.3.36", "Palo Alto Networks"),
            ("1.3.6.1.4.1.11.2.3.7.11.160", "HP"),
            ("1.3.6.1.4.1.47196.4.1.1.1.1", "HPE Aruba"),
            ("1.3.6.1.4.1.14823.1.1.32", "Aruba"),
            ("1.3.6.1.4.1.674.10895.3042", "Dell"),
            ("1.3.6.1.4.1.6027.1.3.23", "Dell"),
            ("1.3.6.1.4.1.1588.2.1.1.1", "Brocade"),
            ("1.3.6.1.4.1.1991.1.3.51.2", "Brocade"),
            ("1.3.6.1.4.1.311.1.1.3.1.2", "Microsoft"),
            ("1.3.6.1.4.1.41112.1.4", "Ubiquiti"),
            ("1.3.6.1.4.1.10002.1", "Ubiquiti"),
            ("1.3.6.1.4.1.3375.2.1.3.4.43", "F5"),
            ("1.3.6.1.4.1.1916.2.170", "Extreme Networks"),
            ("1.3.6.1.4.1.6486.800.1.1.2.1.7.1.1", "Alcatel-Lucent"),
            ("1.3.6.1.4.1.2620.1.6.123.1.49", "Check Point"),
            ("1.3.6.1.4.1.6876.4.1", "VMware"),
            ("1.3.6.1.4.1.8741.1", "SonicWall"),
            ("1.3.6.1.4.1.4526.100.1.1", "Netgear"),
            ("1.3.6.1.4.1.171.10.76.28", "D-Link"),
            ("1.3.6.1.4.1.890.1.5.8.47", "Zyxel"),
            ("1.3.6.1.4.1.3076.1.2.1.1.1.2", "Cisco"),
            ("1.3.6.1.4.1.5624.2.1.100", "Enterasys"),
            ("1.3.6.1.4.1.25506.1.1", "H3C"),
            ("1.3.6.1.4.1.43.1.16.4.3.5", "3Com"),
        ];
        assert!(ENTERPRISES.len() >= 25);
        for (object_id, vendor) in cases {
            assert_eq!(
                oid(object_id).vendor.as_deref(),
                Some(vendor),
                "{object_id}"
            );
        }
    }

    #[test]
    fn enterprise_numbers_with_one_os_name_it() {
        assert_eq!(
            oid("1.3.6.1.4.1.2636.1.1.1.2.25"),
            id(Some("Juniper"), None, Some("JUNOS"))
        );
        assert_eq!(oid("1.3.6.1.4.1.30065.1").os.as_deref(), Some("EOS"));
        assert_eq!(
            oid("1.3.6.1.4.1.25461.2.3.36").os.as_deref(),
            Some("PAN-OS")
        );
        assert_eq!(
            oid("1.3.6.1.4.1.311.1.1.3.1.3").os.as_deref(),
            Some("Windows")
        );
        assert_eq!(oid("1.3.6.1.4.1.9.1.1208").os, None);
    }

    #[test]
    fn net_snmp_agent_oids_name_the_platform_but_no_vendor() {
        assert_eq!(
            oid("1.3.6.1.4.1.8072.3.2.10"),
            id(None, None, Some("Linux"))
        );
        assert_eq!(
            oid(".1.3.6.1.4.1.8072.3.2.8"),
            id(None, None, Some("FreeBSD"))
        );
        assert_eq!(
            oid("1.3.6.1.4.1.8072.3.2.13").os.as_deref(),
            Some("Windows")
        );
        assert_eq!(oid("1.3.6.1.4.1.8072.3.2.16").os.as_deref(), Some("macOS"));
        assert_eq!(oid("1.3.6.1.4.1.8072.3.2.255"), Identity::default());
        assert_eq!(oid("1.3.6.1.4.1.2021.250.10").os.as_deref(), Some("Linux"));
    }

    #[test]
    fn object_ids_are_read_leniently() {
        assert_eq!(oid(" .1.3.6.1.4.1.9.1.1 ").vendor.as_deref(), Some("Cisco"));
        assert_eq!(oid("iso.3.6.1.4.1.9.1.1").vendor.as_deref(), Some("Cisco"));
        assert_eq!(
            oid("SNMPv2-SMI::enterprises.2636.1.1.1.2.29")
                .vendor
                .as_deref(),
            Some("Juniper")
        );
        assert_eq!(oid("1.3.6.1.4.1.9x.1"), Identity::default());
        assert_eq!(oid("1.3.6.1.4.1."), Identity::default());
        assert_eq!(
            oid("1.3.6.1.4.1.99999999999999999999999"),
            Identity::default()
        );
    }

    #[test]
    fn cisco_ios_model_comes_from_the_image_name() {
        assert_eq!(
            of(
                "Cisco IOS Software, C3750E Software (C3750E-UNIVERSALK9-M), Version \
                15.2(4)E10, RELEASE SOFTWARE (fc2)"
            ),
            id(Some("Cisco"), Some("C3750E"), Some("Cisco IOS"))
        );
        assert_eq!(
            of(
                "Cisco Internetwork Operating System Software IOS (tm) C2600 Software \
                (C2600-IK9O3S3-M), Version 12.3(26), RELEASE SOFTWARE (fc2)"
            ),
            id(Some("Cisco"), Some("C2600"), Some("Cisco IOS"))
        );
    }

    #[test]
    fn cisco_explicit_product_number_wins() {
        assert_eq!(
            of(
                "cisco WS-C2960X-48TS-L (APM86XXX) processor, Cisco IOS Software, C2960X \
                Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E4"
            ),
            id(Some("Cisco"), Some("WS-C2960X-48TS-L"), Some("Cisco IOS"))
        );
    }

    #[test]
    fn cisco_ios_xe_xr_nx_os_and_asa() {
        assert_eq!(
            of(
                "Cisco IOS Software [Amsterdam], Catalyst L3 Switch Software (CAT9K_IOSXE), \
                Version 17.3.4, RELEASE SOFTWARE (fc3)"
            ),
            id(Some("Cisco"), Some("CAT9K"), Some("Cisco IOS XE"))
        );
        assert_eq!(
            of("Cisco IOS Software [Bengaluru], Virtual XE Software \
                (X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 17.6.1a"),
            id(Some("Cisco"), None, Some("Cisco IOS XE"))
        );
        assert_eq!(
            of("Cisco IOS XR Software (Cisco ASR9K Series), Version 6.5.3[Default]"),
            id(Some("Cisco"), Some("ASR9K"), Some("Cisco IOS XR"))
        );
        assert_eq!(
            of(
                "Cisco NX-OS(tm) n9000, Software (n9000-dk9), Version 9.3(8), RELEASE \
                SOFTWARE"
            ),
            id(Some("Cisco"), Some("n9000"), Some("Cisco NX-OS"))
        );
        assert_eq!(
            of("Cisco Adaptive Security Appliance Version 9.8(4)20"),
            id(Some("Cisco"), None, Some("Cisco ASA"))
        );
        assert_eq!(of("Cisco Controller"), id(Some("Cisco"), None, None));
    }

    #[test]
    fn juniper_arista_mikrotik_huawei() {
        assert_eq!(
            of(
                "Juniper Networks, Inc. mx480 internet router, kernel JUNOS 21.4R3-S1.5, \
                Build date: 2022-10-13"
            ),
            id(Some("Juniper"), Some("mx480"), Some("JUNOS"))
        );
        assert_eq!(
            of(
                "Arista Networks EOS version 4.28.3M running on an Arista Networks \
                DCS-7050SX-64"
            ),
            id(Some("Arista"), Some("DCS-7050SX-64"), Some("EOS"))
        );
        assert_eq!(
            of("RouterOS CCR1036-12G-4S"),
            id(Some("MikroTik"), Some("CCR1036-12G-4S"), Some("RouterOS"))
        );
        assert_eq!(
            of("RouterOS RB4011iGS+"),
            id(Some("MikroTik"), Some("RB4011iGS+"), Some("RouterOS"))
        );
        assert_eq!(
            of("Huawei Versatile Routing Platform Software"),
            id(Some("Huawei"), None, Some("VRP"))
        );
        assert_eq!(
            of(
                "Huawei Versatile Routing Platform Software VRP (R) software, Version 5.170 \
                (S5720 V200R011C10SPC500) Copyright (C) 2000-2018 HUAWEI TECH CO., LTD"
            ),
            id(Some("Huawei"), Some("S5720"), Some("VRP"))
        );
    }

    #[test]
    fn fortinet_palo_alto_hp_ubiquiti() {
        assert_eq!(
            of("FortiGate-60E v7.2.5,build1517,230606 (GA.F)"),
            id(Some("Fortinet"), Some("FortiGate-60E"), Some("FortiOS"))
        );
        assert_eq!(
            of("Palo Alto Networks PA-3220 series firewall"),
            id(Some("Palo Alto Networks"), Some("PA-3220"), Some("PAN-OS"))
        );
        assert_eq!(
            of(
                "HP J9728A 2920-48G Switch, revision WB.16.10.0012, ROM WB.16.03 \
                (/ws/swbuildm/rel_ukiah_qaoff/code/build/bom(swbuildm_rel_ukiah_qaoff_rel_ukiah))"
            ),
            id(Some("HP"), Some("2920-48G"), None)
        );
        assert_eq!(
            of("ProCurve J9050A Switch 2900-48G, revision T.13.71, ROM K.12.12"),
            id(Some("HP"), Some("2900-48G"), None)
        );
        assert_eq!(
            of("HP ProCurve Switch 2524, revision F.05.17, ROM F.02.01"),
            id(Some("HP"), Some("2524"), None)
        );
        assert_eq!(
            of("Aruba JL258A 2930F-8G-PoE+-2SFP+ Switch, revision WC.16.10.0009"),
            id(Some("Aruba"), Some("2930F-8G-PoE+-2SFP+"), None)
        );
        assert_eq!(
            of("EdgeOS v2.0.9-hotfix.7.5622762.230615.0857"),
            id(Some("Ubiquiti"), None, Some("EdgeOS"))
        );
        assert_eq!(
            of("EdgeSwitch 24-Port Lite, 1.9.3.5409345, Linux 3.6.5-1b505fb7, 1.1.0.5102011"),
            id(Some("Ubiquiti"), Some("EdgeSwitch 24-Port Lite"), None)
        );
    }

    #[test]
    fn linux_with_and_without_a_distribution() {
        assert_eq!(
            of(
                "Linux host 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 \
                (2024-02-01) x86_64"
            ),
            id(None, None, Some("Linux (Debian)"))
        );
        assert_eq!(
            of(
                "Linux intense 4.15.0-55-generic #60-Ubuntu SMP Tue Jul 2 18:22:20 UTC 2019 \
                x86_64"
            )
            .os
            .as_deref(),
            Some("Linux (Ubuntu)")
        );
        assert_eq!(
            of("Linux db1 5.14.0-362.8.1.el9_3.x86_64 #1 SMP PREEMPT_DYNAMIC x86_64")
                .os
                .as_deref(),
            Some("Linux (RHEL)")
        );
        assert_eq!(
            of(
                "Linux kali 6.8.11-amd64 #1 SMP PREEMPT_DYNAMIC Kali 6.8.11-1kali2 \
                (2024-05-30) x86_64"
            )
            .os
            .as_deref(),
            Some("Linux (Kali)")
        );
        assert_eq!(
            of("Linux zeus 4.8.6.5-smp #2 SMP Sun Nov 13 14:58:11 CDT 2016 i686"),
            id(None, None, Some("Linux"))
        );
    }

    #[test]
    fn the_host_name_does_not_decide_the_distribution() {
        assert_eq!(
            of("Linux debian-mirror 5.15.0-91-generic #101-Ubuntu SMP x86_64")
                .os
                .as_deref(),
            Some("Linux (Ubuntu)")
        );
        assert_eq!(
            of("Linux alpine-db 4.19.0 #1 SMP x86_64").os.as_deref(),
            Some("Linux")
        );
    }

    #[test]
    fn windows_bsd_and_others() {
        assert_eq!(
            of(
                "Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - Software: \
                Windows Version 6.3 (Build 17763 Multiprocessor Free)"
            ),
            id(Some("Microsoft"), None, Some("Windows"))
        );
        assert_eq!(
            of("FreeBSD fw1.example.net 13.2-RELEASE FreeBSD 13.2-RELEASE \
                releng/13.2-n254617-525ecfdad597 GENERIC amd64"),
            id(None, None, Some("FreeBSD"))
        );
        assert_eq!(
            of("pfSense fw.example 2.7.2-RELEASE pfSense FreeBSD 14.0-CURRENT amd64")
                .os
                .as_deref(),
            Some("FreeBSD (pfSense)")
        );
        assert_eq!(
            of("OpenBSD gw 7.4 GENERIC.MP#1397 amd64").os.as_deref(),
            Some("OpenBSD")
        );
        assert_eq!(
            of("VMware ESXi 7.0.3 build-20036589 VMware, Inc. x86_64"),
            id(Some("VMware"), None, Some("ESXi"))
        );
        assert_eq!(
            of(
                "APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.8.2 PN:apc_hw05_aos_682.bin \
                AF1:v6.8.2 AN1:apc_hw05_sumx_682.bin MN:SMT1500RMI2U HR:05 SN: 3S1234X56789 \
                MD:05/09/2016)"
            ),
            id(Some("APC"), Some("SMT1500RMI2U"), None)
        );
        assert_eq!(
            of("Darwin mac 23.1.0 Darwin Kernel").os.as_deref(),
            Some("macOS")
        );
        assert_eq!(of("Netgear GS108Tv3").vendor.as_deref(), Some("Netgear"));
    }

    #[test]
    fn ssh_banners() {
        assert_eq!(
            ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
            id(None, None, Some("Linux (Debian)"))
        );
        assert_eq!(
            ssh("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10")
                .os
                .as_deref(),
            Some("Linux (Ubuntu)")
        );
        assert_eq!(
            ssh("SSH-2.0-OpenSSH_7.9p1 Raspbian-10+deb10u2")
                .os
                .as_deref(),
            Some("Linux (Raspbian)")
        );
        assert_eq!(ssh("SSH-1.99-Cisco-1.25"), id(Some("Cisco"), None, None));
        assert_eq!(ssh("SSH-2.0-Cisco-2.0").vendor.as_deref(), Some("Cisco"));
        assert_eq!(
            ssh("SSH-2.0-ROSSSH"),
            id(Some("MikroTik"), None, Some("RouterOS"))
        );
        assert_eq!(
            ssh("SSH-2.0-dropbear_2022.83"),
            id(None, None, Some("Linux (embedded)"))
        );
        assert_eq!(
            ssh("SSH-2.0-OpenSSH_for_Windows_8.1"),
            id(Some("Microsoft"), None, Some("Windows"))
        );
        assert_eq!(ssh("SSH-2.0-HUAWEI-1.5"), id(Some("Huawei"), None, None));
        assert_eq!(
            ssh("SSH-2.0-Zyxel SSH server").vendor.as_deref(),
            Some("Zyxel")
        );
        assert_eq!(
            ssh("SSH-2.0-OpenSSH_9.3 FreeBSD-20230316").os.as_deref(),
            Some("FreeBSD")
        );
    }

    #[test]
    fn http_server_headers() {
        assert_eq!(
            http("Microsoft-IIS/10.0"),
            id(Some("Microsoft"), None, Some("Windows"))
        );
        assert_eq!(
            http("Microsoft-HTTPAPI/2.0"),
            id(Some("Microsoft"), None, Some("Windows"))
        );
        assert_eq!(
            http("RouterOS"),
            id(Some("MikroTik"), None, Some("RouterOS"))
        );
        assert_eq!(
            http("mikrotik routeros").vendor.as_deref(),
            Some("MikroTik")
        );
        assert_eq!(
            http("cisco-IOS"),
            id(Some("Cisco"), None, Some("Cisco IOS"))
        );
        assert_eq!(http("FortiWeb-7.0").vendor.as_deref(), Some("Fortinet"));
        assert_eq!(
            http("Apache/2.4.57 (Debian)").os.as_deref(),
            Some("Linux (Debian)")
        );
        assert_eq!(
            http("Apache/2.4.6 (CentOS) OpenSSL/1.0.2k-fips")
                .os
                .as_deref(),
            Some("Linux (RHEL)")
        );
        assert_eq!(
            http("Apache/2.4.58 (Win64) OpenSSL/3.1.3"),
            id(Some("Microsoft"), None, Some("Windows"))
        );
        assert_eq!(http("Apache/2.4.58 (Unix)"), Identity::default());
    }

    #[test]
    fn snmp_beats_ssh_beats_http() {
        let all = Attributes {
            sys_object_id: Some("1.3.6.1.4.1.9.1.1208".to_owned()),
            sys_descr: Some(
                "Cisco IOS Software, C3750E Software (C3750E-UNIVERSALK9-M), Version 15.2"
                    .to_owned(),
            ),
            ssh_banner: Some("SSH-2.0-ROSSSH".to_owned()),
            http_server: Some("Microsoft-IIS/10.0".to_owned()),
            ..Attributes::default()
        };
        assert_eq!(
            identify(&all),
            id(Some("Cisco"), Some("C3750E"), Some("Cisco IOS"))
        );

        let no_snmp = Attributes {
            sys_object_id: None,
            sys_descr: None,
            ..all.clone()
        };
        assert_eq!(
            identify(&no_snmp),
            id(Some("MikroTik"), None, Some("RouterOS"))
        );

        let http_only = Attributes {
            ssh_banner: None,
            ..no_snmp
        };
        assert_eq!(
            identify(&http_only),
            id(Some("Microsoft"), None, Some("Windows"))
        );
    }

    #[test]
    fn sources_combine_field_by_field() {
        // The vendor from the OID, the OS from the descr where the OID says nothing.
        let a = Attributes {
            sys_object_id: Some("1.3.6.1.4.1.8072.3.2.10".to_owned()),
            sys_descr: Some("Linux nas 5.10.55 #1 SMP x86_64".to_owned()),
            ssh_banner: Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".to_owned()),
            ..Attributes::default()
        };
        // A plain `Linux` from SNMP is refined by the banner's distribution.
        assert_eq!(identify(&a), id(None, None, Some("Linux (Debian)")));

        let b = Attributes {
            sys_object_id: Some("1.3.6.1.4.1.2636.1.1.1.2.29".to_owned()),
            sys_descr: Some("Juniper Networks, Inc. ex4300-48t Ethernet Switch".to_owned()),
            ..Attributes::default()
        };
        // No `JUNOS` in this descr: the OS comes from the enterprise number.
        assert_eq!(
            identify(&b),
            id(Some("Juniper"), Some("ex4300-48t"), Some("JUNOS"))
        );

        // The sysObjectID names the vendor even when the descr suggests another.
        let c = Attributes {
            sys_object_id: Some("1.3.6.1.4.1.41112.1.5".to_owned()),
            sys_descr: Some("Linux 3.6.5 EdgeSwitch".to_owned()),
            ..Attributes::default()
        };
        assert_eq!(identify(&c).vendor.as_deref(), Some("Ubiquiti"));
    }

    #[test]
    fn guesses_are_cut_to_the_attribute_limit() {
        let long_model = format!("RouterOS {}", "X".repeat(2000));
        let got = of(&long_model);
        assert_eq!(
            got.model.as_deref().map(|m| m.chars().count()),
            Some(MAX_ATTRIBUTE_CHARS)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\u{0}\u{1}\u{fffd}\u{10ffff}".to_owned(),
            "SSH-".to_owned(),
            "SSH-2.0-".to_owned(),
            "(((((".to_owned(),
            "Cisco ".repeat(10_000),
            "é".repeat(100_000),
            "1.3.6.1.4.1.".repeat(1000),
            String::from_utf8_lossy(&(0..=255u8).cycle().take(5000).collect::<Vec<_>>())
                .into_owned(),
        ];
        for text in inputs {
            let got = identify(&Attributes {
                sys_object_id: Some(text.clone()),
                sys_descr: Some(text.clone()),
                ssh_banner: Some(text.clone()),
                http_server: Some(text.clone()),
                ..Attributes::default()
            });
            for field in [got.vendor, got.model, got.os].into_iter().flatten() {
                assert!(field.chars().count() <= MAX_ATTRIBUTE_CHARS);
                assert!(!field.is_empty());
            }
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_in_any_source_never_panics(
                a in "\\PC{0,200}", b in "\\PC{0,200}", c in "[ -~]{0,200}", d in ".{0,200}"
            ) {
                let got = identify(&Attributes {
                    sys_object_id: Some(format!("1.3.6.1.4.1.{a}")),
                    sys_descr: Some(b),
                    ssh_banner: Some(format!("SSH-2.0-{c}")),
                    http_server: Some(d),
                    ..Attributes::default()
                });
                for field in [got.vendor, got.model, got.os].into_iter().flatten() {
                    prop_assert!(field.chars().count() <= MAX_ATTRIBUTE_CHARS);
                }
            }
        }
    }
}
