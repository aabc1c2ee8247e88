//! OIDs and values: reading the `oids` / `root_oid` params, and writing varbinds the way
//! `snmpget -On` prints them (the `raw` text parsers read) and as typed JSON (the
//! `varbinds` field).
//!
//! Where net-snmp's text would break the one-line-per-varbind shape, it is changed on
//! purpose: strings keep `\n` / `\r` escaped, hex strings stay on one line without the
//! trailing space, and UTF-8 text is shown as text (net-snmp shows any non-ASCII byte as
//! hex).

use std::fmt::Write as _;

use serde_json::Value as Json;
use snmp2::{Oid, Value};

/// Most sub-identifiers an OID may have (RFC 2578 §7.1.3).
const MAX_OID_LEN: usize = 128;

/// Reads a numeric OID (`.1.3.6.1.2.1.1.5.0` or `1.3.6.1.2.1.1.5.0`) into its arcs.
pub(crate) fn parse_oid(text: &str) -> Result<Vec<u64>, String> {
    let trimmed = text.trim();
    let body = trimmed.strip_prefix('.').unwrap_or(trimmed);
    if body.is_empty() {
        return Err(format!("{text:?} is not an OID"));
    }
    let mut arcs = Vec::with_capacity(16);
    for part in body.split('.') {
        match part.parse::<u32>() {
            Ok(arc) => arcs.push(u64::from(arc)),
            Err(_) => {
                return Err(format!(
                    "{text:?} is not a numeric OID (write names such as sysName.0 as \
                     numbers: .1.3.6.1.2.1.1.5.0)"
                ));
            }
        }
    }
    if arcs.len() > MAX_OID_LEN {
        return Err(format!(
            "{text:?} has more than {MAX_OID_LEN} sub-identifiers"
        ));
    }
    if arcs[0] > 2 || (arcs.len() > 1 && arcs[1] >= 40) {
        return Err(format!(
            "{text:?} is not a valid OID: it must start with 0, 1 or 2, then a number below 40"
        ));
    }
    Ok(arcs)
}

/// The OID to put in a request. A one-arc OID such as `.1` cannot be BER-encoded, so it is
/// sent as `.1.0`, as net-snmp does; a GETNEXT of it still lands on the first object below.
pub(crate) fn request_oid(arcs: &[u64]) -> Result<Oid<'static>, String> {
    let padded;
    let arcs = if arcs.len() == 1 {
        padded = [arcs[0], 0];
        &padded[..]
    } else {
        arcs
    };
    Oid::from(arcs).map_err(|e| format!("cannot encode OID {}: {e:?}", dotted(arcs)))
}

/// Decodes the BER content octets of an OID into `out`; false when they are malformed.
pub(crate) fn decode_oid(bytes: &[u8], out: &mut Vec<u64>) -> bool {
    out.clear();
    let mut value: u64 = 0;
    let mut first = true;
    let mut pending = false;
    for &byte in bytes {
        if value > (u64::MAX >> 7) {
            return false;
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        pending = byte & 0x80 != 0;
        if pending {
            continue;
        }
        if first {
            // The first sub-identifier packs the first two arcs (X * 40 + Y).
            let (x, y) = match value {
                0..40 => (0, value),
                40..80 => (1, value - 40),
                _ => (2, value - 80),
            };
            out.push(x);
            out.push(y);
            first = false;
        } else {
            out.push(value);
        }
        value = 0;
    }
    !first && !pending && out.len() <= MAX_OID_LEN
}

/// `1.3.6.1.2.1.1.5.0` (no leading dot), as `varbinds` keys and OID values are written.
pub(crate) fn dotted(arcs: &[u64]) -> String {
    let mut s = String::with_capacity(arcs.len() * 3);
    write_dotted(arcs, &mut s, false);
    s
}

/// Appends the arcs, dot-separated, with a leading dot when `leading_dot` (net-snmp's `-On`).
pub(crate) fn write_dotted(arcs: &[u64], out: &mut String, leading_dot: bool) {
    for (i, arc) in arcs.iter().enumerate() {
        if leading_dot || i > 0 {
            out.push('.');
        }
        let _ = write!(out, "{arc}");
    }
}

/// The SNMP exception values a varbind can carry instead of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exception {
    /// `noSuchObject`: the agent does not implement the object.
    NoSuchObject,
    /// `noSuchInstance`: the object exists, this instance does not.
    NoSuchInstance,
    /// `endOfMibView`: nothing follows in the agent's view.
    EndOfMibView,
}

impl Exception {
    /// The exception of a value, if it is one.
    pub(crate) fn of(value: &Value<'_>) -> Option<Self> {
        match value {
            Value::NoSuchObject => Some(Self::NoSuchObject),
            Value::NoSuchInstance => Some(Self::NoSuchInstance),
            Value::EndOfMibView => Some(Self::EndOfMibView),
            _ => None,
        }
    }

    /// The name SMIv2 gives it, as it appears in the `errors` field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::NoSuchObject => "noSuchObject",
            Self::NoSuchInstance => "noSuchInstance",
            Self::EndOfMibView => "endOfMibView",
        }
    }

    /// net-snmp's wording, for the raw text.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Self::NoSuchObject => "No Such Object available on this agent at this OID",
            Self::NoSuchInstance => "No Such Instance currently exists at this OID",
            Self::EndOfMibView => {
                "No more variables left in this MIB View (It is past the end of the MIB tree)"
            }
        }
    }
}

/// Appends one varbind line without its newline: `.1.3.6.1.2.1.1.5.0 = STRING: "x"`.
pub(crate) fn write_varbind(
    arcs: &[u64],
    value: &Value<'_>,
    out: &mut String,
    scratch: &mut Vec<u64>,
) {
    write_dotted(arcs, out, true);
    out.push_str(" = ");
    write_value(value, out, scratch);
}

/// Appends the value part of a varbind line (`STRING: "x"`, `Counter32: 5`, ...).
pub(crate) fn write_value(value: &Value<'_>, out: &mut String, scratch: &mut Vec<u64>) {
    match value {
        Value::Integer(n) => {
            let _ = write!(out, "INTEGER: {n}");
        }
        Value::OctetString(bytes) => match as_text(bytes) {
            Some("") => out.push_str("\"\""),
            Some(text) => {
                out.push_str("STRING: \"");
                escape_into(text, out);
                out.push('"');
            }
            None => {
                out.push_str("Hex-STRING: ");
                write_hex(bytes, out, ' ', true);
            }
        },
        Value::ObjectIdentifier(oid) => {
            out.push_str("OID: ");
            if decode_oid(oid.as_bytes(), scratch) {
                write_dotted(scratch, out, true);
            } else {
                out.push_str("(malformed) ");
                write_hex(oid.as_bytes(), out, ' ', true);
            }
        }
        Value::IpAddress([a, b, c, d]) => {
            let _ = write!(out, "IpAddress: {a}.{b}.{c}.{d}");
        }
        Value::Counter32(n) => {
            let _ = write!(out, "Counter32: {n}");
        }
        Value::Unsigned32(n) => {
            let _ = write!(out, "Gauge32: {n}");
        }
        Value::Timeticks(n) => {
            let _ = write!(out, "Timeticks: ({n}) ");
            write_uptime(*n, out);
        }
        Value::Counter64(n) => {
            let _ = write!(out, "Counter64: {n}");
        }
        Value::Opaque(bytes) => match opaque_number(bytes) {
            Some(OpaqueNumber::Float(f)) => {
                let _ = write!(out, "Opaque: Float: {f:.6}");
            }
            Some(OpaqueNumber::Double(f)) => {
                let _ = write!(out, "Opaque: Double: {f:.6}");
            }
            None => {
                out.push_str("Opaque: ");
                write_hex(bytes, out, ' ', true);
            }
        },
        Value::Null => out.push_str("NULL"),
        Value::Boolean(b) => {
            let _ = write!(out, "BOOLEAN: {b}");
        }
        Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {
            if let Some(exception) = Exception::of(value) {
                out.push_str(exception.text());
            }
        }
        _ => out.push_str("Wrong Type: unexpected BER type in a varbind"),
    }
}

/// The value as JSON for the `varbinds` field: numbers for the numeric types, text for
/// printable strings, `aa:bb` hex otherwise, dotted OIDs, `null` for exceptions.
pub(crate) fn json_value(value: &Value<'_>, scratch: &mut Vec<u64>) -> Json {
    match value {
        Value::Integer(n) => Json::from(*n),
        Value::OctetString(bytes) => match as_text(bytes) {
            Some(text) => Json::from(text),
            None => {
                let mut s = String::with_capacity(bytes.len() * 3);
                write_hex(bytes, &mut s, ':', false);
                Json::from(s)
            }
        },
        Value::ObjectIdentifier(oid) => {
            if decode_oid(oid.as_bytes(), scratch) {
                Json::from(dotted(scratch))
            } else {
                Json::Null
            }
        }
        Value::IpAddress([a, b, c, d]) => Json::from(format!("{a}.{b}.{c}.{d}")),
        Value::Counter32(n) | Value::Unsigned32(n) | Value::Timeticks(n) => Json::from(*n),
        Value::Counter64(n) => Json::from(*n),
        Value::Opaque(bytes) => match opaque_number(bytes) {
            Some(OpaqueNumber::Float(f)) => json_float(f64::from(f)),
            Some(OpaqueNumber::Double(f)) => json_float(f),
            None => {
                let mut s = String::with_capacity(bytes.len() * 3);
                write_hex(bytes, &mut s, ':', false);
                Json::from(s)
            }
        },
        Value::Boolean(b) => Json::from(*b),
        _ => Json::Null,
    }
}

fn json_float(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// The text of an OCTET STRING when it is printable UTF-8 (tabs and line breaks allowed,
/// trailing NULs that C agents leave dropped); `None` when it should be shown as hex.
pub(crate) fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.is_empty() {
        return Some("");
    }
    let end = bytes.iter().rposition(|&b| b != 0)? + 1;
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then_some(text)
}

/// Escapes what would break the quoted, one-line form: `\`, `"`, CR and LF.
fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
}

fn write_hex(bytes: &[u8], out: &mut String, separator: char, upper: bool) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        let _ = if upper {
            write!(out, "{b:02X}")
        } else {
            write!(out, "{b:02x}")
        };
    }
}

/// net-snmp's uptime form of Timeticks: `0:03:36.36`, `1 day, 2:03:04.05`, `3 days, ...`.
pub(crate) fn write_uptime(ticks: u32, out: &mut String) {
    let centis = ticks % 100;
    let secs = ticks / 100;
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    match days {
        0 => {}
        1 => out.push_str("1 day, "),
        n => {
            let _ = write!(out, "{n} days, ");
        }
    }
    let _ = write!(out, "{hours}:{minutes:02}:{seconds:02}.{centis:02}");
}

enum OpaqueNumber {
    Float(f32),
    Double(f64),
}

/// Opaque-wrapped floats from the NET-SNMP / UCD MIBs (`9f 78 04 <f32>`, `9f 79 08 <f64>`).
fn opaque_number(bytes: &[u8]) -> Option<OpaqueNumber> {
    match bytes {
        [0x9f, 0x78, 0x04, rest @ ..] => {
            let raw: [u8; 4] = rest.try_into().ok()?;
            Some(OpaqueNumber::Float(f32::from_be_bytes(raw)))
        }
        [0x9f, 0x79, 0x08, rest @ ..] => {
            let raw: [u8; 8] = rest.try_into().ok()?;
            Some(OpaqueNumber::Double(f64::from_be_bytes(raw)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(arcs: &[u64], value: Value<'_>) -> String {
        let mut out = String::new();
        write_varbind(arcs, &value, &mut out, &mut Vec::new());
        out
    }

    #[test]
    fn oids_parse_with_or_without_a_leading_dot() {
        assert_eq!(
            parse_oid(".1.3.6.1.2.1.1.5.0").unwrap(),
            [1, 3, 6, 1, 2, 1, 1, 5, 0]
        );
        assert_eq!(parse_oid(" 1.3.6 ").unwrap(), [1, 3, 6]);
        assert_eq!(parse_oid(".1").unwrap(), [1]);
        for bad in [
            "",
            ".",
            "sysName.0",
            "1..3",
            "1.3.",
            "3.1",
            "1.40",
            "1.3.4294967296",
        ] {
            assert!(parse_oid(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn oids_round_trip_through_ber() {
        for text in [
            "1.3.6.1.2.1.1.5.0",
            "1.3.6.1.4.1.2021.10.1.6.1",
            "1.3.6.1.2.1.4.20.1.1.4294967295",
            "0.0",
            "2.39",
        ] {
            let arcs = parse_oid(text).unwrap();
            let oid = request_oid(&arcs).unwrap();
            let mut back = Vec::new();
            assert!(decode_oid(oid.as_bytes(), &mut back), "{text}");
            assert_eq!(dotted(&back), text);
        }
        let one = request_oid(&[1]).unwrap();
        let mut back = Vec::new();
        assert!(decode_oid(one.as_bytes(), &mut back));
        assert_eq!(back, [1, 0]);
    }

    #[test]
    fn malformed_oid_bytes_are_rejected() {
        let mut out = Vec::new();
        assert!(!decode_oid(&[], &mut out));
        assert!(
            !decode_oid(&[0x2b, 0x86], &mut out),
            "dangling continuation bit"
        );
        assert!(!decode_oid(&[0xff; 12], &mut out), "overflow");
    }

    #[test]
    fn varbind_lines_match_snmpget_numeric_output() {
        let oid = [1, 3, 6, 1, 2, 1, 1, 5, 0];
        assert_eq!(
            line(&oid, Value::OctetString(b"oc-test-snmpd")),
            r#".1.3.6.1.2.1.1.5.0 = STRING: "oc-test-snmpd""#
        );
        assert_eq!(
            line(&oid, Value::OctetString(b"")),
            r#".1.3.6.1.2.1.1.5.0 = """#
        );
        assert_eq!(
            line(&oid, Value::OctetString(&[0x62, 0xa3, 0xc1])),
            ".1.3.6.1.2.1.1.5.0 = Hex-STRING: 62 A3 C1"
        );
        assert_eq!(
            line(&oid, Value::Integer(-3)),
            ".1.3.6.1.2.1.1.5.0 = INTEGER: -3"
        );
        assert_eq!(
            line(&oid, Value::Timeticks(21636)),
            ".1.3.6.1.2.1.1.5.0 = Timeticks: (21636) 0:03:36.36"
        );
        assert_eq!(
            line(&oid, Value::Unsigned32(7)),
            ".1.3.6.1.2.1.1.5.0 = Gauge32: 7"
        );
        assert_eq!(
            line(&oid, Value::Counter32(7)),
            ".1.3.6.1.2.1.1.5.0 = Counter32: 7"
        );
        assert_eq!(
            line(&oid, Value::Counter64(u64::MAX)),
            ".1.3.6.1.2.1.1.5.0 = Counter64: 18446744073709551615"
        );
        assert_eq!(
            line(&oid, Value::IpAddress([127, 0, 0, 1])),
            ".1.3.6.1.2.1.1.5.0 = IpAddress: 127.0.0.1"
        );
        let target = request_oid(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10]).unwrap();
        assert_eq!(
            line(&oid, Value::ObjectIdentifier(target)),
            ".1.3.6.1.2.1.1.5.0 = OID: .1.3.6.1.4.1.8072.3.2.10"
        );
        let float = [0x9f, 0x78, 0x04, 0x40, 0x4e, 0x47, 0xae];
        assert_eq!(
            line(&oid, Value::Opaque(&float)),
            ".1.3.6.1.2.1.1.5.0 = Opaque: Float: 3.223125"
        );
        assert_eq!(
            line(&oid, Value::NoSuchObject),
            ".1.3.6.1.2.1.1.5.0 = No Such Object available on this agent at this OID"
        );
    }

    #[test]
    fn strings_stay_on_one_line() {
        let oid = [1, 3];
        assert_eq!(
            line(&oid, Value::OctetString(b"a \"b\"\\\nc\r")),
            r#".1.3 = STRING: "a \"b\"\\\nc\r""#
        );
        assert_eq!(
            line(&oid, Value::OctetString("Zürich\0\0".as_bytes())),
            r#".1.3 = STRING: "Zürich""#
        );
        assert_eq!(
            line(&oid, Value::OctetString(&[0, 0])),
            ".1.3 = Hex-STRING: 00 00"
        );
    }

    #[test]
    fn uptime_reads_like_net_snmp() {
        let mut s = String::new();
        write_uptime((86_400 + 2 * 3600 + 3 * 60 + 4) * 100 + 5, &mut s);
        assert_eq!(s, "1 day, 2:03:04.05");
        s.clear();
        write_uptime(u32::MAX, &mut s);
        assert_eq!(s, "497 days, 2:27:52.95");
    }

    #[test]
    fn json_values_are_typed() {
        let mut scratch = Vec::new();
        assert_eq!(
            json_value(&Value::Timeticks(5), &mut scratch),
            Json::from(5)
        );
        assert_eq!(
            json_value(&Value::OctetString(&[0x62, 0xa3]), &mut scratch),
            Json::from("62:a3")
        );
        assert_eq!(
            json_value(&Value::OctetString(b"up"), &mut scratch),
            Json::from("up")
        );
        assert_eq!(json_value(&Value::NoSuchInstance, &mut scratch), Json::Null);
        let target = request_oid(&[1, 3, 6, 1]).unwrap();
        assert_eq!(
            json_value(&Value::ObjectIdentifier(target), &mut scratch),
            Json::from("1.3.6.1")
        );
    }
}
