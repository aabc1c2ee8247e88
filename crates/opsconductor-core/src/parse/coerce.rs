//! Field coercion: raw text (or JSON) into typed JSON values.
//!
//! Every function here is total: bad input is a [`CoerceError`] naming the type and the
//! value, never a panic. The HTTP action and the criteria language reuse these helpers, so
//! the rules are written for operators:
//!
//! | type | accepts | produces |
//! |---|---|---|
//! | `int` | `42`, `+5`, `-3`, `1,234`, `1_000`, `5.0` | JSON integer (i64, or u64 above `i64::MAX`) |
//! | `float` | `12.5`, `1,234.5`, `1e-3`, `+0.5` | JSON number (finite only) |
//! | `bool` | `true/false`, `yes/no`, `y/n`, `on/off`, `up/down`, `1/0`, `ok/fail`, `pass`, `enabled/disabled`, SNMP `up(1)` | JSON bool |
//! | `string` | anything | the text, trimmed |
//! | `duration` | `1d2h3m4s`, `3.5ms`, `00:01:02.45`, `1 year, 2 weeks, 3 days, 4 hours, 5 minutes`, `14 days, 6:56:07.89`, SNMP Timeticks `(12345) 0:02:03.45`, bare `90` | seconds, as a JSON float |
//! | `bytes` | `512`, `1.5 KB`, `10MiB`, `262144K bytes` | integer bytes |
//!
//! For `int` and `float`, a trailing unit equal to the field's `unit` is stripped
//! (`12.5%` with unit `%`, `3.2 ms` with unit `ms`); any other trailing text is an error.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// The type a field's raw value is coerced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Whole number (thousands separators and a leading `+` accepted).
    Int,
    /// Finite floating-point number.
    Float,
    /// Truth value (`true`, `yes`, `up`, `on`, `1`, ... and their opposites).
    Bool,
    /// Text, trimmed.
    String,
    /// Length of time, in seconds (float).
    Duration,
    /// Size in bytes (integer); `KB` = 1000, `KiB` and bare `K` = 1024.
    Bytes,
}

impl FieldType {
    /// The name used in definitions (`int`, `float`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Int => "int",
            Self::Float => "float",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Duration => "duration",
            Self::Bytes => "bytes",
        }
    }

    /// Whether the result is a number (and so may carry a `scale`).
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Int | Self::Float | Self::Duration | Self::Bytes)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that could not be read as the wanted type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {value:?} as {ty}: {reason}")]
pub struct CoerceError {
    /// The wanted type.
    pub ty: FieldType,
    /// The offending value, shortened to at most [`CoerceError::MAX_VALUE_CHARS`] characters.
    pub value: String,
    /// Why it was refused, for the operator.
    pub reason: String,
}

impl CoerceError {
    /// Longest excerpt of the offending value kept in the error (device output can be huge).
    pub const MAX_VALUE_CHARS: usize = 64;

    fn new(ty: FieldType, value: &str, reason: impl Into<String>) -> Self {
        let value = if value.chars().count() > Self::MAX_VALUE_CHARS {
            let mut short: String = value.chars().take(Self::MAX_VALUE_CHARS).collect();
            short.push('…');
            short
        } else {
            value.to_owned()
        };
        Self {
            ty,
            value,
            reason: reason.into(),
        }
    }
}

/// Coerces raw text to `ty` (no unit stripping). See the module docs for the accepted forms.
pub fn coerce(value: &str, ty: FieldType) -> Result<Value, CoerceError> {
    coerce_with_unit(value, ty, None)
}

/// Coerces raw text to `ty`; for `int` and `float` a trailing `unit` is stripped first.
pub fn coerce_with_unit(
    value: &str,
    ty: FieldType,
    unit: Option<&str>,
) -> Result<Value, CoerceError> {
    match ty {
        FieldType::Int => parse_int(strip_unit(value, unit)).map(Value::Number),
        FieldType::Float => {
            let f = parse_float(strip_unit(value, unit))?;
            float_value(f, ty, value)
        }
        FieldType::Bool => parse_bool(value).map(Value::Bool),
        FieldType::String => Ok(Value::String(value.trim().to_owned())),
        FieldType::Duration => {
            let secs = parse_duration_secs(value)?;
            float_value(secs, ty, value)
        }
        FieldType::Bytes => parse_bytes(value).map(Value::from),
    }
}

/// Coerces a JSON value (from a JSONPath query) to `ty`.
///
/// Strings go through [`coerce_with_unit`]; numbers and booleans convert where the meaning
/// is plain (`1` → `true`, `5.0` → int `5`, a number as duration is seconds); `null`,
/// arrays and objects are refused — callers treat `null` as an absent value beforehand.
pub fn coerce_json(value: &Value, ty: FieldType, unit: Option<&str>) -> Result<Value, CoerceError> {
    let refuse = |reason: &str| Err(CoerceError::new(ty, &value.to_string(), reason));
    match value {
        Value::String(s) => coerce_with_unit(s, ty, unit),
        Value::Null | Value::Array(_) | Value::Object(_) => {
            refuse("not a single value (null, array or object)")
        }
        Value::Bool(b) => match ty {
            FieldType::Bool => Ok(Value::Bool(*b)),
            FieldType::String => Ok(Value::String(b.to_string())),
            _ => refuse("a boolean is not a number"),
        },
        Value::Number(n) => match ty {
            FieldType::String => Ok(Value::String(n.to_string())),
            FieldType::Bool => parse_bool(&n.to_string()).map(Value::Bool),
            FieldType::Int => match int_from_number(n) {
                Some(v) => Ok(v),
                None => refuse("not a whole number within 64 bits"),
            },
            FieldType::Float | FieldType::Duration => match n.as_f64() {
                Some(f) => float_value(f, ty, &n.to_string()),
                None => refuse("not a finite number"),
            },
            FieldType::Bytes => match (n.as_u64(), n.as_f64()) {
                (Some(b), _) => Ok(Value::from(b)),
                (None, Some(f)) if (0.0..1.8e19).contains(&f) => Ok(Value::from(f.round() as u64)),
                _ => refuse("not a byte count (negative or too large)"),
            },
        },
    }
}

fn int_from_number(n: &Number) -> Option<Value> {
    if n.is_i64() || n.is_u64() {
        return Some(Value::Number(n.clone()));
    }
    let f = n.as_f64()?;
    // 2^53: beyond it an f64 no longer names one integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (f.fract() == 0.0 && f.abs() <= EXACT).then(|| Value::from(f as i64))
}

fn float_value(f: f64, ty: FieldType, raw: &str) -> Result<Value, CoerceError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| CoerceError::new(ty, raw, "not a finite number"))
}

/// Removes a trailing `unit` (and the spaces before it) when the text ends with it.
fn strip_unit<'a>(value: &'a str, unit: Option<&str>) -> &'a str {
    let value = value.trim();
    match unit.map(str::trim) {
        Some(u) if !u.is_empty() => value.strip_suffix(u).map_or(value, str::trim_end),
        _ => value,
    }
}

/// Removes `,` and `_` digit-group separators.
fn without_separators(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '_']) {
        std::borrow::Cow::Owned(value.chars().filter(|c| !matches!(c, ',' | '_')).collect())
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Reads a whole number: `42`, `+5`, `-3`, `1,234`, `1_000`, or `5.0` (zero fraction only).
pub fn parse_int(value: &str) -> Result<Number, CoerceError> {
    let trimmed = value.trim();
    let refuse = |reason: &str| CoerceError::new(FieldType::Int, value, reason);
    if trimmed.is_empty() {
        return Err(refuse("empty"));
    }
    let cleaned = without_separators(trimmed);
    let (negative, unsigned) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    // `5.0` / `5.` are whole numbers printed by float-happy tools; `5.5` is not.
    let digits = match unsigned.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => {
            if !frac.bytes().all(|b| b == b'0') {
                return Err(refuse("has a fractional part"));
            }
            int
        }
        Some(_) => return Err(refuse("not a whole number")),
        None => unsigned,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse("not a whole number"));
    }
    let magnitude: u128 = digits
        .bytes()
        .try_fold(0u128, |acc, b| {
            acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
        })
        .ok_or_else(|| refuse("out of the 64-bit range"))?;
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        match i64::try_from(magnitude)
            .ok()
            .map(|m| -m)
            .or_else(|| (magnitude == 1u128 << 63).then_some(i64::MIN))
        {
            Some(i) => Ok(Number::from(i)),
            None => Err(refuse("out of the 64-bit range")),
        }
    } else if let Ok(i) = i64::try_from(magnitude) {
        Ok(Number::from(i))
    } else {
        u64::try_from(magnitude)
            .map(Number::from)
            .map_err(|_| refuse("out of the 64-bit range"))
    }
}

/// Reads a finite float: `12.5`, `-0.5`, `+1`, `1,234.5`, `1e-3`.
pub fn parse_float(value: &str) -> Result<f64, CoerceError> {
    let trimmed = value.trim();
    let refuse = |reason: &str| CoerceError::new(FieldType::Float, value, reason);
    if trimmed.is_empty() {
        return Err(refuse("empty"));
    }
    let cleaned = without_separators(trimmed);
    // Rust also reads `inf` and `NaN`; JSON cannot carry them, so only digits get through.
    if !cleaned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return Err(refuse("not a number"));
    }
    match cleaned.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        Ok(_) => Err(refuse("out of range")),
        Err(_) => Err(refuse("not a number")),
    }
}

/// Reads a truth value, case-insensitively.
///
/// True: `true`, `yes`, `y`, `on`, `up`, `1`, `ok`, `pass`, `enabled`.
/// False: `false`, `no`, `n`, `off`, `down`, `0`, `fail`, `disabled`.
/// SNMP enumerations such as `up(1)` are read by their label.
pub fn parse_bool(value: &str) -> Result<bool, CoerceError> {
    let trimmed = value.trim();
    let label = match trimmed.split_once('(') {
        Some((label, rest))
            if rest
                .strip_suffix(')')
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            label.trim_end()
        }
        _ => trimmed,
    };
    match label.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "up" | "1" | "ok" | "pass" | "enabled" => Ok(true),
        "false" | "no" | "n" | "off" | "down" | "0" | "fail" | "disabled" => Ok(false),
        _ => Err(CoerceError::new(
            FieldType::Bool,
            value,
            "expected true/false, yes/no, on/off, up/down, 1/0 or ok/fail",
        )),
    }
}

/// A decimal read exactly: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: u128,
    scale: u32,
}

impl Decimal {
    /// Reads `digits[.digits]` exactly; `None` for anything else or more than 30 digits.
    fn parse(text: &str) -> Option<Self> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = int.len() + frac.len();
        if digits > 30 {
            return None;
        }
        let mut mantissa: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa * 10 + u128::from(b - b'0');
        }
        Some(Self {
            mantissa,
            scale: u32::try_from(frac.len()).ok()?,
        })
    }

    /// `self × factor`, rounded half up to an integer; `None` on overflow.
    fn times(self, factor: u128) -> Option<u128> {
        let product = self.mantissa.checked_mul(factor)?;
        let divisor = 10u128.checked_pow(self.scale)?;
        Some((product + divisor / 2) / divisor)
    }
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

fn duration_unit_nanos(unit: &str) -> Option<u128> {
    const S: u128 = NANOS_PER_SEC;
    Some(match unit {
        "ns" | "nsec" | "nanosecond" | "nanoseconds" => 1,
        "us" | "µs" | "μs" | "usec" | "microsecond" | "microseconds" => 1_000,
        "ms" | "msec" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => S,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * S,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * S,
        "d" | "day" | "days" => 86_400 * S,
        "w" | "wk" | "wks" | "week" | "weeks" => 7 * 86_400 * S,
        "mo" | "month" | "months" => 30 * 86_400 * S,
        "y" | "yr" | "yrs" | "year" | "years" => 365 * 86_400 * S,
        _ => return None,
    })
}

/// Reads a length of time and returns it in seconds.
///
/// Accepted forms (mixable, separated by spaces, commas or `and`):
/// - compact units: `1d2h3m4s`, `3.5ms`, `250us`, `2w`, `1.5h`;
/// - words, as in Cisco IOS uptime: `1 year, 2 weeks, 3 days, 4 hours, 5 minutes`;
/// - clock: `MM:SS`, `HH:MM:SS(.frac)`, `D:HH:MM:SS`, also after days (`14 days, 6:56:07.89`);
/// - SNMP Timeticks, hundredths of a second in parentheses: `(12345) 0:02:03.45` → 123.45;
/// - a bare number, in seconds: `90`, `2.5`.
///
/// A year is 365 days and a month 30 days. Precision is one nanosecond; the sum is exact
/// before the final conversion, so `00:01:02.45` is exactly the float `62.45`.
pub fn parse_duration_secs(value: &str) -> Result<f64, CoerceError> {
    let refuse = |reason: &str| CoerceError::new(FieldType::Duration, value, reason);
    let text = value.trim();
    if text.is_empty() {
        return Err(refuse("empty"));
    }
    // SNMP Timeticks: `(12345) 0:02:03.45` or `Timeticks: (12345) ...`; the count rules.
    let ticks_text = text
        .strip_prefix("Timeticks:")
        .map_or(text, str::trim_start);
    if let Some(rest) = ticks_text.strip_prefix('(') {
        let ticks = rest
            .split_once(')')
            .map(|(n, _)| n.trim())
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| refuse("Timeticks must start with a count in parentheses"))?;
        return Ok(ticks as f64 / 100.0);
    }
    let lower = text.to_lowercase();
    let mut total: u128 = 0;
    let mut terms = 0usize;
    let mut bare_number = false;
    let mut chars = lower.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
            continue;
        }
        if c.is_alphabetic() {
            // Only the joining word `and` may stand between terms.
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if !c.is_alphabetic() {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            if &lower[start..end] != "and" {
                return Err(refuse(&format!(
                    "`{}` has no number before it",
                    &lower[start..end]
                )));
            }
            continue;
        }
        if !(c.is_ascii_digit() || c == '.') {
            return Err(refuse(&format!("unexpected character `{c}`")));
        }
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !(c.is_ascii_digit() || c == '.' || c == ':') {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let number = &lower[start..end];
        terms += 1;
        if number.contains(':') {
            total = total
                .checked_add(clock_nanos(number).ok_or_else(|| refuse("bad clock time"))?)
                .ok_or_else(|| refuse("too long"))?;
            continue;
        }
        let amount = Decimal::parse(number).ok_or_else(|| refuse("bad number"))?;
        while chars.peek().is_some_and(|&(_, c)| c == ' ') {
            chars.next();
        }
        let unit_start = chars.peek().map_or(lower.len(), |&(i, _)| i);
        let mut unit_end = unit_start;
        while let Some(&(i, c)) = chars.peek() {
            if !c.is_alphabetic() {
                break;
            }
            unit_end = i + c.len_utf8();
            chars.next();
        }
        let unit = &lower[unit_start..unit_end];
        let factor = if unit.is_empty() {
            bare_number = true;
            NANOS_PER_SEC
        } else {
            duration_unit_nanos(unit).ok_or_else(|| refuse(&format!("unknown unit `{unit}`")))?
        };
        let nanos = amount.times(factor).ok_or_else(|| refuse("too long"))?;
        total = total.checked_add(nanos).ok_or_else(|| refuse("too long"))?;
    }
    if terms == 0 {
        return Err(refuse("no number"));
    }
    if bare_number && terms > 1 {
        return Err(refuse("a number without a unit must stand alone"));
    }
    Ok(total as f64 / NANOS_PER_SEC as f64)
}

/// `MM:SS`, `HH:MM:SS(.frac)` or `D:HH:MM:SS(.frac)` in nanoseconds.
fn clock_nanos(text: &str) -> Option<u128> {
    let parts: Vec<&str> = text.split(':').collect();
    let weights: &[u128] = match parts.len() {
        2 => &[60, 1],
        3 => &[3_600, 60, 1],
        4 => &[86_400, 3_600, 60, 1],
        _ => return None,
    };
    let last = parts.len() - 1;
    let mut total: u128 = 0;
    for (i, (part, weight)) in parts.iter().zip(weights).enumerate() {
        if part.is_empty() || (i < last && part.contains('.')) {
            return None;
        }
        let amount = Decimal::parse(part)?;
        total = total.checked_add(amount.times(weight * NANOS_PER_SEC)?)?;
    }
    Some(total)
}

fn byte_unit(unit: &str) -> Option<u128> {
    const K: u128 = 1_000;
    const KI: u128 = 1_024;
    let lower = unit.to_ascii_lowercase();
    let (prefix, suffix) = match lower.char_indices().nth(1) {
        Some((i, _)) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    if matches!(lower.as_str(), "" | "b" | "byte" | "bytes") {
        return Some(1);
    }
    let power = match prefix {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    // Bare `K`/`M`/`G` are binary, as `df -h`, `free -h` and Cisco IOS (`65536K bytes`) mean them.
    let base = match suffix {
        "" | "i" | "ib" | "ibyte" | "ibytes" => KI,
        "b" | "byte" | "bytes" => K,
        _ => return None,
    };
    base.checked_pow(power)
}

/// Reads a size and returns whole bytes (rounded to the nearest byte).
///
/// `512`, `512 B`, `1,024 bytes`, `1.5 KB` (= 1500), `1.5 KiB` (= 1536), `10MiB`,
/// `262144K bytes` (= 262144 × 1024). `KB`/`MB`/`GB`/`TB` are decimal; `KiB`/`MiB`/... and
/// bare `K`/`M`/`G`/`T` are binary. Case is ignored; bits are not understood.
pub fn parse_bytes(value: &str) -> Result<u64, CoerceError> {
    let refuse = |reason: &str| CoerceError::new(FieldType::Bytes, value, reason);
    let text = value.trim();
    if text.is_empty() {
        return Err(refuse("empty"));
    }
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '_' | '+')))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let number = without_separators(number);
    let number = number.strip_prefix('+').unwrap_or(&number);
    let amount = Decimal::parse(number).ok_or_else(|| refuse("not a non-negative number"))?;
    let words: Vec<&str> = unit.split_whitespace().collect();
    let unit = match words.as_slice() {
        [] => "",
        [one] => one,
        // `65536K bytes`: the prefix carries the scale, `bytes` is just the noun.
        [prefix, noun] if matches!(noun.to_ascii_lowercase().as_str(), "bytes" | "byte") => prefix,
        _ => return Err(refuse("unexpected text after the size")),
    };
    let factor = byte_unit(unit).ok_or_else(|| refuse(&format!("unknown unit `{unit}`")))?;
    let bytes = amount.times(factor).ok_or_else(|| refuse("too large"))?;
    u64::try_from(bytes).map_err(|_| refuse("too large"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secs(s: &str) -> f64 {
        parse_duration_secs(s).unwrap()
    }

    #[test]
    fn int_accepts_thousands_separators_and_plus_sign() {
        assert_eq!(coerce("1,234", FieldType::Int).unwrap(), json!(1234));
        assert_eq!(coerce("+5", FieldType::Int).unwrap(), json!(5));
        assert_eq!(coerce(" -3 ", FieldType::Int).unwrap(), json!(-3));
        assert_eq!(coerce("5.0", FieldType::Int).unwrap(), json!(5));
        assert_eq!(
            coerce("18446744073709551615", FieldType::Int).unwrap(),
            json!(u64::MAX)
        );
        assert_eq!(
            coerce("-9223372036854775808", FieldType::Int).unwrap(),
            json!(i64::MIN)
        );
        assert_eq!(coerce("-0", FieldType::Int).unwrap(), json!(0));
    }

    #[test]
    fn int_refuses_fractions_words_and_overflow() {
        for bad in [
            "5.5",
            "abc",
            "",
            "1-2",
            "+-1",
            "-+1",
            "18446744073709551616",
            "--1",
            "-",
            "1.x",
            "1e3",
        ] {
            let e = coerce(bad, FieldType::Int).unwrap_err();
            assert_eq!(e.ty, FieldType::Int, "{bad}");
        }
    }

    #[test]
    fn int_and_float_strip_only_their_own_unit() {
        assert_eq!(
            coerce_with_unit("12.5%", FieldType::Float, Some("%")).unwrap(),
            json!(12.5)
        );
        assert_eq!(
            coerce_with_unit("3.2 ms", FieldType::Float, Some("ms")).unwrap(),
            json!(3.2)
        );
        assert_eq!(
            coerce_with_unit("40 %", FieldType::Int, Some("%")).unwrap(),
            json!(40)
        );
        assert!(coerce_with_unit("12.5%", FieldType::Float, Some("ms")).is_err());
        assert!(coerce("12.5%", FieldType::Float).is_err());
    }

    #[test]
    fn float_refuses_infinity_and_nan() {
        for bad in ["inf", "NaN", "infinity", "1e400", "1.2.3", "x"] {
            assert!(coerce(bad, FieldType::Float).is_err(), "{bad}");
        }
    }

    #[test]
    fn bool_reads_operator_words_and_snmp_enums() {
        for t in [
            "true", "YES", "up", "On", "1", "ok", "up(1)", "true(1)", "enabled",
        ] {
            assert!(parse_bool(t).unwrap(), "{t}");
        }
        for f in [
            "false", "no", "DOWN", "off", "0", "fail", "down(2)", "disabled",
        ] {
            assert!(!parse_bool(f).unwrap(), "{f}");
        }
        assert!(parse_bool("maybe").is_err());
        assert!(parse_bool("testing(3)").is_err());
    }

    #[test]
    fn duration_parses_compact_units() {
        assert_eq!(secs("1d2h3m4s"), 93_784.0);
        assert_eq!(secs("3.5ms"), 0.0035);
        assert_eq!(secs("250us"), 0.000_25);
        assert_eq!(secs("1h30m"), 5_400.0);
        assert_eq!(secs("2w"), 1_209_600.0);
    }

    #[test]
    fn duration_parses_cisco_uptime() {
        assert_eq!(
            secs("1 year, 2 weeks, 3 days, 4 hours, 5 minutes"),
            (365.0 + 14.0 + 3.0) * 86_400.0 + 4.0 * 3_600.0 + 5.0 * 60.0
        );
        assert_eq!(secs("5 minutes"), 300.0);
        assert_eq!(secs("1 day, 1 hour and 1 minute"), 90_060.0);
    }

    #[test]
    fn duration_parses_clock_forms() {
        assert_eq!(secs("00:01:02.45"), 62.45);
        assert_eq!(secs("1:02"), 62.0);
        assert_eq!(secs("2:00:00:01"), 172_801.0);
        assert_eq!(secs("14 days, 6:56:07.89"), 14.0 * 86_400.0 + 24_967.89);
    }

    #[test]
    fn duration_parses_snmp_timeticks_by_their_count() {
        assert_eq!(secs("(12345) 0:02:03.45"), 123.45);
        assert_eq!(secs("Timeticks: (8640000) 1 day, 0:00:00.00"), 86_400.0);
        assert!(parse_duration_secs("(abc) 0:00").is_err());
    }

    #[test]
    fn duration_reads_bare_numbers_as_seconds() {
        assert_eq!(secs("90"), 90.0);
        assert_eq!(secs("2.5"), 2.5);
        assert!(parse_duration_secs("5 10").is_err());
    }

    #[test]
    fn duration_refuses_unknown_units_and_junk() {
        for bad in [
            "",
            "5 parsecs",
            "minutes",
            "1:2:3:4:5",
            "1::2",
            "1.5:00",
            "-5s",
            "5s!",
        ] {
            assert!(parse_duration_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bytes_distinguish_decimal_and_binary_units() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("1.5 KB").unwrap(), 1_500);
        assert_eq!(parse_bytes("1.5 KiB").unwrap(), 1_536);
        assert_eq!(parse_bytes("10MiB").unwrap(), 10 * 1_048_576);
        assert_eq!(parse_bytes("2 GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_bytes("65536K bytes").unwrap(), 65_536 * 1_024);
        assert_eq!(parse_bytes("1,024 bytes").unwrap(), 1_024);
        assert_eq!(parse_bytes("1.9G").unwrap(), 2_040_109_466);
    }

    #[test]
    fn bytes_refuse_negative_and_unknown_units() {
        for bad in ["-1", "1 KX", "lots", "1 KB of memory", "99999999999 EB"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_numbers_coerce_without_detours() {
        assert_eq!(
            coerce_json(&json!(5.0), FieldType::Int, None).unwrap(),
            json!(5)
        );
        assert!(coerce_json(&json!(5.5), FieldType::Int, None).is_err());
        assert_eq!(
            coerce_json(&json!(1), FieldType::Bool, None).unwrap(),
            json!(true)
        );
        assert_eq!(
            coerce_json(&json!(1.5), FieldType::Duration, None).unwrap(),
            json!(1.5)
        );
        assert_eq!(
            coerce_json(&json!(12), FieldType::String, None).unwrap(),
            json!("12")
        );
        assert_eq!(
            coerce_json(&json!("7"), FieldType::Int, None).unwrap(),
            json!(7)
        );
        assert!(coerce_json(&json!([1]), FieldType::String, None).is_err());
        assert!(coerce_json(&json!(true), FieldType::Int, None).is_err());
    }

    #[test]
    fn coerce_error_names_type_and_shortened_value() {
        let long = "x".repeat(500);
        let e = coerce(&long, FieldType::Int).unwrap_err();
        assert!(e.value.chars().count() <= CoerceError::MAX_VALUE_CHARS + 1);
        assert!(e.to_string().starts_with("cannot read \"xxx"));
        assert!(e.to_string().contains("as int"));
    }
}
