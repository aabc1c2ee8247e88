//! The dynamic-group filter language.
//!
//! A dynamic group is a saved filter over the inventory, for example
//! `vendor = "Cisco" and tag = "core"`. Filters are parsed once when the group is saved
//! ([`Filter::parse`], which reports the column of the first mistake) and then evaluated
//! against every device ([`Filter::matches`]), which never fails: a missing attribute
//! simply does not compare equal.
//!
//! Grammar (lowest precedence first; keywords and field names are case-insensitive,
//! whitespace is free):
//! ```text
//! expr       := and_expr ("or" and_expr)*
//! and_expr   := unary ("and" unary)*
//! unary      := "not" unary | "(" expr ")" | "exists" FIELD | comparison
//! comparison := FIELD OP VALUE
//!             | FIELD "in" "[" VALUE ("," VALUE)* "]"
//!             | "address" "in" CIDR
//! OP         := "=" | "!=" | "~" | "!~" | "<" | "<=" | ">" | ">="
//! VALUE      := "double-quoted, with \" and \\ escapes" | bare word [A-Za-z0-9_.:/-]+
//! ```
//!
//! Presence is tested with the prefix form only (`exists hostname`): one spelling keeps
//! saved filters uniform, and `hostname exists` gets an error that says how to write it.
//!
//! Semantics, chosen so that a filter reads the way an operator would say it:
//! - Text comparisons ignore case: `=` is equality, `~` is substring. An empty text counts
//!   as missing, and a missing value equals nothing, so `vendor = x` is false and
//!   `vendor != x` is true for a device without a vendor. Every `!=` / `!~` is exactly
//!   `not (… = …)` / `not (… ~ …)`.
//! - `tag` and `port` hold many values; a comparison is true when *any* value satisfies
//!   it, so `tag != x` means "no tag equals x" and `exists tag` means "has a tag".
//! - `address` compares as an IP address (`address = 2001:DB8::1` matches `2001:db8::1`),
//!   `address in 10.0.0.0/8` tests CIDR membership (IPv4 and IPv6) and a list may mix
//!   addresses and CIDRs; `address ~ "10.1."` is a plain text match.
//! - `<`, `<=`, `>`, `>=` apply to the number fields `port`, `rtt_ms` and `uptime_s` only.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::Device;

/// Longest filter accepted, in characters: a group filter is typed by a person, and the cap
/// bounds parsing work on whatever an API client sends.
pub const MAX_FILTER_CHARS: usize = 4096;
/// Deepest nesting of `(` and `not` accepted, so parsing and evaluation recursion stay
/// bounded.
pub const MAX_FILTER_DEPTH: usize = 64;

/// A parsed dynamic-group filter; [`Filter::matches`] decides membership.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    source: String,
    node: Node,
}

/// Why a filter did not parse, with the 1-based character column of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FilterError {
    /// 1-based character (not byte) column where the problem starts; one past the last
    /// character when the filter ended too early.
    pub column: usize,
    /// What was expected and what was found, written for the person who typed the filter.
    pub message: String,
}

impl Filter {
    /// Parses a filter; the error names the column and what was expected there.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        if text.chars().count() > MAX_FILTER_CHARS {
            return Err(error(
                MAX_FILTER_CHARS + 1,
                format!("the filter is longer than {MAX_FILTER_CHARS} characters"),
            ));
        }
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Err(error(
                1,
                "the filter is empty: write a condition such as vendor = \"Cisco\"",
            ));
        }
        let mut parser = Parser {
            tokens,
            pos: 0,
            depth: 0,
            end_column: text.chars().count() + 1,
        };
        let node = parser.or_expr()?;
        if let Some(tok) = parser.peek() {
            let message = if tok.kind == Tok::RParen {
                "')' has no matching '('".to_owned()
            } else {
                format!(
                    "expected 'and', 'or' or the end of the filter, found {}",
                    tok.kind
                )
            };
            return Err(error(tok.column, message));
        }
        Ok(Self {
            source: text.to_owned(),
            node,
        })
    }

    /// True when the device belongs to the group.
    pub fn matches(&self, device: &Device) -> bool {
        eval(&self.node, device)
    }

    /// The text the filter was parsed from, exactly as given (what the group stores).
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn error(column: usize, message: impl Into<String>) -> FilterError {
    FilterError {
        column,
        message: message.into(),
    }
}

// ---------------------------------------------------------------- fields

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Address,
    Hostname,
    Segment,
    Vendor,
    Model,
    Os,
    SysName,
    SysDescr,
    SysObjectId,
    SshBanner,
    HttpServer,
    HttpTitle,
    Notes,
    Tag,
    Port,
    RttMs,
    UptimeS,
}

/// The field names, in the order error messages list them.
const FIELDS: [(&str, Field); 17] = [
    ("address", Field::Address),
    ("hostname", Field::Hostname),
    ("segment", Field::Segment),
    ("vendor", Field::Vendor),
    ("model", Field::Model),
    ("os", Field::Os),
    ("sys_name", Field::SysName),
    ("sys_descr", Field::SysDescr),
    ("sys_object_id", Field::SysObjectId),
    ("ssh_banner", Field::SshBanner),
    ("http_server", Field::HttpServer),
    ("http_title", Field::HttpTitle),
    ("notes", Field::Notes),
    ("tag", Field::Tag),
    ("port", Field::Port),
    ("rtt_ms", Field::RttMs),
    ("uptime_s", Field::UptimeS),
];

/// What a field holds, which decides the operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Address,
    Text,
    Tags,
    Ports,
    Number,
}

impl Field {
    fn lookup(word: &str) -> Option<Self> {
        FIELDS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|(_, field)| *field)
    }

    fn name(self) -> &'static str {
        FIELDS
            .iter()
            .find(|(_, field)| *field == self)
            .map_or("?", |(name, _)| name)
    }

    fn kind(self) -> Kind {
        match self {
            Self::Address => Kind::Address,
            Self::Tag => Kind::Tags,
            Self::Port => Kind::Ports,
            Self::RttMs | Self::UptimeS => Kind::Number,
            _ => Kind::Text,
        }
    }

    /// The single text value of a text field; blank counts as missing.
    fn text(self, device: &Device) -> Option<&str> {
        let a = &device.attributes;
        let value = match self {
            Self::Address => Some(device.address.as_str()),
            Self::Hostname => device.hostname.as_deref(),
            Self::Segment => device.segment.as_deref(),
            Self::Vendor => a.vendor.as_deref(),
            Self::Model => a.model.as_deref(),
            Self::Os => a.os.as_deref(),
            Self::SysName => a.sys_name.as_deref(),
            Self::SysDescr => a.sys_descr.as_deref(),
            Self::SysObjectId => a.sys_object_id.as_deref(),
            Self::SshBanner => a.ssh_banner.as_deref(),
            Self::HttpServer => a.http_server.as_deref(),
            Self::HttpTitle => a.http_title.as_deref(),
            Self::Notes => Some(device.notes.as_str()),
            Self::Tag | Self::Port | Self::RttMs | Self::UptimeS => None,
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// True when any text value of the field satisfies `pred`.
    fn any_text(self, device: &Device, mut pred: impl FnMut(&str) -> bool) -> bool {
        match self {
            Self::Tag => device.tags.iter().any(|t| pred(t)),
            _ => self.text(device).is_some_and(pred),
        }
    }

    /// True when any number value of the field satisfies `pred`.
    fn any_number(self, device: &Device, mut pred: impl FnMut(f64) -> bool) -> bool {
        let a = &device.attributes;
        match self {
            Self::Port => a.open_ports.iter().any(|p| pred(f64::from(*p))),
            Self::RttMs => a.rtt_ms.is_some_and(pred),
            Self::UptimeS => a.sys_uptime_s.is_some_and(pred),
            _ => false,
        }
    }

    fn present(self, device: &Device) -> bool {
        let a = &device.attributes;
        match self {
            Self::Tag => !device.tags.is_empty(),
            Self::Port => !a.open_ports.is_empty(),
            Self::RttMs => a.rtt_ms.is_some(),
            Self::UptimeS => a.sys_uptime_s.is_some(),
            _ => self.text(device).is_some(),
        }
    }
}

fn known_fields() -> String {
    FIELDS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------- evaluation

/// The parsed filter. Negated operators are stored as `Not` of the positive one, so "a
/// missing value never equals" is decided in one place.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Exists(Field),
    /// Any value equals `value` (already case-folded).
    Equals {
        field: Field,
        value: String,
    },
    /// Any value equals one of `values` (case-folded).
    OneOf {
        field: Field,
        values: Vec<String>,
    },
    /// Any value contains `needle` (case-folded).
    Contains {
        field: Field,
        needle: String,
    },
    /// Any number value satisfies `op value`.
    Number {
        field: Field,
        op: NumOp,
        value: f64,
    },
    /// Any number value is one of `values`.
    NumberIn {
        field: Field,
        values: Vec<f64>,
    },
    /// The address lies in one of the networks (a single address is a /32 or /128).
    AddressIn(Vec<IpNet>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl NumOp {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
        }
    }
}

fn eval(node: &Node, device: &Device) -> bool {
    match node {
        Node::Or(items) => items.iter().any(|n| eval(n, device)),
        Node::And(items) => items.iter().all(|n| eval(n, device)),
        Node::Not(inner) => !eval(inner, device),
        Node::Exists(field) => field.present(device),
        Node::Equals { field, value } => field.any_text(device, |t| folded_eq(t, value)),
        Node::OneOf { field, values } => {
            field.any_text(device, |t| values.iter().any(|v| folded_eq(t, v)))
        }
        Node::Contains { field, needle } => {
            field.any_text(device, |t| fold(t).contains(needle.as_str()))
        }
        Node::Number { field, op, value } => field.any_number(device, |n| op.holds(n, *value)),
        Node::NumberIn { field, values } => field.any_number(device, |n| values.contains(&n)),
        Node::AddressIn(nets) => device
            .address
            .trim()
            .parse::<IpAddr>()
            .is_ok_and(|ip| nets.iter().any(|net| net.contains(&ip))),
    }
}

/// Case folding used on both sides of every text comparison.
fn fold(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// `fold(text) == folded` without allocating (called once per device per condition).
fn folded_eq(text: &str, folded: &str) -> bool {
    text.chars().flat_map(char::to_lowercase).eq(folded.chars())
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(Op),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Contains,
    NotContains,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Contains => "~",
            Self::NotContains => "!~",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(w) => write!(f, "'{}'", short(w)),
            Self::Str(s) => write!(f, "string {:?}", short(s)),
            Self::Op(op) => write!(f, "'{}'", op.text()),
            Self::LParen => f.write_str("'('"),
            Self::RParen => f.write_str("')'"),
            Self::LBracket => f.write_str("'['"),
            Self::RBracket => f.write_str("']'"),
            Self::Comma => f.write_str("','"),
        }
    }
}

/// Input echoed in error messages is cut, so a pasted blob does not become the message.
fn short(text: &str) -> String {
    if text.chars().count() > 40 {
        format!("{}...", super::cut(text, 37))
    } else {
        text.to_owned()
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    column: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-')
}

fn lex(source: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (kind, len) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            (',', _) => (Tok::Comma, 1),
            ('=', Some('=')) => {
                return Err(error(column, "'==' is not an operator: use '=' to compare"));
            }
            ('=', _) => (Tok::Op(Op::Eq), 1),
            ('!', Some('=')) => (Tok::Op(Op::Ne), 2),
            ('!', Some('~')) => (Tok::Op(Op::NotContains), 2),
            ('!', _) => {
                return Err(error(
                    column,
                    "'!' must be followed by '=' or '~'; use 'not' to negate a condition",
                ));
            }
            ('~', _) => (Tok::Op(Op::Contains), 1),
            ('<', Some('=')) => (Tok::Op(Op::Le), 2),
            ('<', _) => (Tok::Op(Op::Lt), 1),
            ('>', Some('=')) => (Tok::Op(Op::Ge), 2),
            ('>', _) => (Tok::Op(Op::Gt), 1),
            ('&', _) => return Err(error(column, "'&' is not an operator: use 'and'")),
            ('|', _) => return Err(error(column, "'|' is not an operator: use 'or'")),
            ('"', _) => lex_string(&chars, i)?,
            (c, _) if is_word_char(c) => {
                let len = chars[i..].iter().take_while(|c| is_word_char(**c)).count();
                (Tok::Word(chars[i..i + len].iter().collect()), len)
            }
            (other, _) => {
                return Err(error(
                    column,
                    format!(
                        "unexpected character {other:?}; put values with spaces or other \
                         characters in double quotes"
                    ),
                ));
            }
        };
        tokens.push(Token { kind, column });
        i += len;
    }
    Ok(tokens)
}

/// A double-quoted string starting at `start`; returns the token and its length in chars.
fn lex_string(chars: &[char], start: usize) -> Result<(Tok, usize), FilterError> {
    let mut text = String::new();
    let mut j = start + 1;
    loop {
        match chars.get(j) {
            None => {
                return Err(error(
                    start + 1,
                    "unterminated string: the '\"' here is never closed",
                ));
            }
            Some('"') => return Ok((Tok::Str(text), j + 1 - start)),
            Some('\\') => match chars.get(j + 1) {
                Some(escaped @ ('"' | '\\')) => {
                    text.push(*escaped);
                    j += 2;
                }
                Some(other) => {
                    return Err(error(
                        j + 1,
                        format!("unknown escape '\\{other}': only \\\" and \\\\ are allowed"),
                    ));
                }
                None => {
                    return Err(error(
                        start + 1,
                        "unterminated string: the '\"' here is never closed",
                    ));
                }
            },
            Some(c) => {
                text.push(*c);
                j += 1;
            }
        }
    }
}

// ---------------------------------------------------------------- parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let hit = self.at_keyword(keyword);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn at_end(&self, message: impl fmt::Display) -> FilterError {
        error(
            self.end_column,
            format!("{message}, found the end of the filter"),
        )
    }

    fn enter(&mut self, column: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(error(
                column,
                format!("the filter nests deeper than {MAX_FILTER_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Node, FilterError> {
        let first = self.and_expr()?;
        if !self.at_keyword("or") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_keyword("or") {
            items.push(self.and_expr()?);
        }
        Ok(Node::Or(items))
    }

    fn and_expr(&mut self) -> Result<Node, FilterError> {
        let first = self.unary()?;
        if !self.at_keyword("and") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_keyword("and") {
            items.push(self.unary()?);
        }
        Ok(Node::And(items))
    }

    fn unary(&mut self) -> Result<Node, FilterError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.at_end("expected a condition (a field name, 'not', 'exists' or '(')"));
        };
        match &tok.kind {
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.pos += 1;
                self.enter(tok.column)?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("exists") => {
                self.pos += 1;
                Ok(Node::Exists(self.field("after 'exists'")?))
            }
            Tok::LParen => {
                self.pos += 1;
                self.enter(tok.column)?;
                let inner = self.or_expr()?;
                match self.next() {
                    Some(Token {
                        kind: Tok::RParen, ..
                    }) => {}
                    Some(other) => {
                        return Err(error(
                            other.column,
                            format!(
                                "expected 'and', 'or' or ')' to close the '(' at column {}, \
                                 found {}",
                                tok.column, other.kind
                            ),
                        ));
                    }
                    None => {
                        return Err(self.at_end(format_args!(
                            "expected ')' to close the '(' at column {}",
                            tok.column
                        )));
                    }
                }
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.comparison(),
        }
    }

    fn field(&mut self, context: &str) -> Result<Field, FilterError> {
        match self.next() {
            Some(Token {
                kind: Tok::Word(w),
                column,
            }) => Field::lookup(&w).ok_or_else(|| {
                error(
                    column,
                    format!(
                        "unknown field '{}'; known fields: {}",
                        short(&w),
                        known_fields()
                    ),
                )
            }),
            Some(tok) => Err(error(
                tok.column,
                format!(
                    "expected a field name {context}, found {}; known fields: {}",
                    tok.kind,
                    known_fields()
                ),
            )),
            None => Err(self.at_end(format_args!("expected a field name {context}"))),
        }
    }

    fn comparison(&mut self) -> Result<Node, FilterError> {
        let field = self.field("to start a condition")?;
        let expected = format!(
            "expected an operator (=, !=, ~, !~, <, <=, >, >=) or 'in' after '{}'",
            field.name()
        );
        match self.next() {
            Some(Token {
                kind: Tok::Op(op),
                column,
            }) => self.operator(field, op, column),
            Some(Token {
                kind: Tok::Word(w), ..
            }) if w.eq_ignore_ascii_case("in") => self.membership(field),
            Some(Token {
                kind: Tok::Word(w),
                column,
            }) if w.eq_ignore_ascii_case("exists") => Err(error(
                column,
                format!(
                    "'exists' goes before the field: write 'exists {}'",
                    field.name()
                ),
            )),
            Some(tok) => Err(error(tok.column, format!("{expected}, found {}", tok.kind))),
            None => Err(self.at_end(expected)),
        }
    }

    /// The next value (bare word or string) with its column.
    fn value(&mut self, after: &str) -> Result<(String, usize), FilterError> {
        match self.next() {
            Some(Token {
                kind: Tok::Word(w),
                column,
            }) if w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") => Err(error(
                column,
                format!(
                    "expected a value after {after}, found '{w}' (quote it to compare with \
                     the word: \"{w}\")"
                ),
            )),
            Some(Token {
                kind: Tok::Word(text) | Tok::Str(text),
                column,
            }) => Ok((text, column)),
            Some(tok) => Err(error(
                tok.column,
                format!("expected a value after {after}, found {}", tok.kind),
            )),
            None => Err(self.at_end(format_args!("expected a value after {after}"))),
        }
    }

    fn operator(&mut self, field: Field, op: Op, op_column: usize) -> Result<Node, FilterError> {
        let name = field.name();
        let after = format!("'{name} {}'", op.text());
        let kind = field.kind();
        let positive = match op {
            Op::Eq | Op::Ne => {
                let (text, column) = self.value(&after)?;
                match kind {
                    Kind::Address => {
                        let ip = parse_ip(&text).ok_or_else(|| {
                            error(
                                column,
                                format!(
                                    "expected an IP address after {after}, found {:?} (use \
                                     'address ~' to match text)",
                                    short(&text)
                                ),
                            )
                        })?;
                        Node::AddressIn(vec![IpNet::from(ip)])
                    }
                    Kind::Text | Kind::Tags => Node::Equals {
                        field,
                        value: fold(&text),
                    },
                    Kind::Ports | Kind::Number => Node::Number {
                        field,
                        op: NumOp::Eq,
                        value: number(field, &text, column, &after)?,
                    },
                }
            }
            Op::Contains | Op::NotContains => match kind {
                Kind::Address | Kind::Text | Kind::Tags => {
                    let (text, _) = self.value(&after)?;
                    Node::Contains {
                        field,
                        needle: fold(&text),
                    }
                }
                Kind::Ports | Kind::Number => {
                    return Err(error(
                        op_column,
                        format!(
                            "'{}' matches text, but {name} is a number; use =, !=, <, <=, >, \
                             >= or in [...]",
                            op.text()
                        ),
                    ));
                }
            },
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let num_op = match op {
                    Op::Lt => NumOp::Lt,
                    Op::Le => NumOp::Le,
                    Op::Gt => NumOp::Gt,
                    _ => NumOp::Ge,
                };
                match kind {
                    Kind::Ports | Kind::Number => {
                        let (text, column) = self.value(&after)?;
                        Node::Number {
                            field,
                            op: num_op,
                            value: number(field, &text, column, &after)?,
                        }
                    }
                    Kind::Address => {
                        return Err(error(
                            op_column,
                            format!(
                                "'{}' compares numbers, but address is an IP address; use =, \
                                 !=, ~, !~ or 'in 10.0.0.0/8'",
                                op.text()
                            ),
                        ));
                    }
                    Kind::Text | Kind::Tags => {
                        return Err(error(
                            op_column,
                            format!(
                                "'{}' compares numbers, but {name} is text; use =, !=, ~ or !~ \
                                 (number fields: port, rtt_ms, uptime_s)",
                                op.text()
                            ),
                        ));
                    }
                }
            }
        };
        Ok(match op {
            Op::Ne | Op::NotContains => Node::Not(Box::new(positive)),
            _ => positive,
        })
    }

    /// After `FIELD in`: a bracketed list, or a CIDR for `address`.
    fn membership(&mut self, field: Field) -> Result<Node, FilterError> {
        let name = field.name();
        let after = format!("'{name} in'");
        let is_list = matches!(
            self.peek(),
            Some(Token {
                kind: Tok::LBracket,
                ..
            })
        );
        if !is_list {
            if field != Field::Address {
                let found = self.peek().map_or_else(
                    || "the end of the filter".to_owned(),
                    |t| t.kind.to_string(),
                );
                let column = self.peek().map_or(self.end_column, |t| t.column);
                return Err(error(
                    column,
                    format!(
                        "expected '[' after {after} (a list such as [22, 443]), found {found}; \
                         only address takes a CIDR"
                    ),
                ));
            }
            let (text, column) = self.value(&after)?;
            return Ok(Node::AddressIn(vec![parse_net(&text, column, &after)?]));
        }
        let open = self.next().map_or(self.end_column, |t| t.column);
        let mut items = Vec::new();
        loop {
            items.push(self.value(&format!("'[' or ',' in the list at column {open}"))?);
            match self.next() {
                Some(Token {
                    kind: Tok::Comma, ..
                }) => {}
                Some(Token {
                    kind: Tok::RBracket,
                    ..
                }) => break,
                Some(tok) => {
                    return Err(error(
                        tok.column,
                        format!(
                            "expected ',' or ']' in the list opened at column {open}, found {}",
                            tok.kind
                        ),
                    ));
                }
                None => {
                    return Err(self.at_end(format_args!(
                        "expected ',' or ']' to close the list opened at column {open}"
                    )));
                }
            }
        }
        Ok(match field.kind() {
            Kind::Address => Node::AddressIn(
                items
                    .iter()
                    .map(|(text, column)| parse_net(text, *column, &after))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Text | Kind::Tags => Node::OneOf {
                field,
                values: items.iter().map(|(text, _)| fold(text)).collect(),
            },
            Kind::Ports | Kind::Number => Node::NumberIn {
                field,
                values: items
                    .iter()
                    .map(|(text, column)| number(field, text, *column, &after))
                    .collect::<Result<_, _>>()?,
            },
        })
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

/// A CIDR, or a single address as its /32 or /128.
fn parse_net(text: &str, column: usize, after: &str) -> Result<IpNet, FilterError> {
    if let Some(ip) = parse_ip(text) {
        return Ok(IpNet::from(ip));
    }
    text.trim()
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .map_err(|_| {
            error(
                column,
                format!(
                    "expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32 after {after}, found {:?}",
                    short(text)
                ),
            )
        })
}

/// A number for `field`: a port 0-65535 for `port`, any finite number otherwise.
fn number(field: Field, text: &str, column: usize, after: &str) -> Result<f64, FilterError> {
    let text = text.trim();
    if field == Field::Port {
        return text.parse::<u16>().map(f64::from).map_err(|_| {
            error(
                column,
                format!(
                    "expected a port number 0-65535 after {after}, found {:?}",
                    short(text)
                ),
            )
        });
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(error(
            column,
            format!("expected a number after {after}, found {:?}", short(text)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::Attributes;
    use super::*;

    fn device(address: &str) -> Device {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Device {
            address: address.to_owned(),
            hostname: None,
            segment: None,
            attributes: Attributes::default(),
            tags: Vec::new(),
            notes: String::new(),
            first_seen: at,
            last_seen: at,
            last_scan_id: None,
        }
    }

    fn core_switch() -> Device {
        let mut d = device("10.1.2.3");
        d.hostname = Some("core-sw1".to_owned());
        d.segment = Some("dc1".to_owned());
        d.tags = vec!["core".to_owned(), "dc1".to_owned()];
        d.attributes = Attributes {
            vendor: Some("Cisco".to_owned()),
            model: Some("C9300-48P".to_owned()),
            os: Some("Cisco IOS XE".to_owned()),
            sys_name: Some("core-sw1.example.net".to_owned()),
            sys_descr: Some("Cisco IOS Software [Amsterdam], Catalyst L3 Switch".to_owned()),
            sys_object_id: Some("1.3.6.1.4.1.9.1.2494".to_owned()),
            sys_uptime_s: Some(90_000.0),
            ssh_banner: Some("SSH-2.0-Cisco-1.25".to_owned()),
            open_ports: vec![22, 443],
            rtt_ms: Some(1.5),
            ..Attributes::default()
        };
        d
    }

    fn linux_host() -> Device {
        let mut d = device("127.0.0.1");
        d.attributes = Attributes {
            os: Some("Linux (Debian)".to_owned()),
            sys_name: Some("build1".to_owned()),
            ssh_banner: Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".to_owned()),
            open_ports: vec![22, 8080],
            ..Attributes::default()
        };
        d.notes = "Build server, owned by the platform team".to_owned();
        d
    }

    fn matches(filter: &str, device: &Device) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(device)
    }

    fn parse_error(filter: &str) -> FilterError {
        match Filter::parse(filter) {
            Ok(f) => panic!("{filter} parsed: {f:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn vendor_and_tag_select_cisco_core_devices() {
        let filter = r#"vendor = "Cisco" and tag = "core""#;
        assert!(matches(filter, &core_switch()));
        assert!(!matches(filter, &linux_host()));
        let mut edge = core_switch();
        edge.tags = vec!["edge".to_owned()];
        assert!(!matches(filter, &edge));
    }

    #[test]
    fn not_contains_or_port_list_selects_non_linux_or_ssh_hosts() {
        let filter = "not (os ~ linux) or port in [22, 443]";
        assert!(matches(filter, &core_switch()));
        assert!(
            matches(filter, &linux_host()),
            "linux host has port 22 open"
        );
        let mut quiet_linux = linux_host();
        quiet_linux.attributes.open_ports = vec![8080];
        assert!(!matches(filter, &quiet_linux));
        // A device without an os is "not linux".
        assert!(matches(filter, &device("10.0.0.9")));
    }

    #[test]
    fn address_cidr_and_exists_select_local_hosts_with_snmp() {
        let filter = "address in 127.0.0.0/24 and exists sys_name";
        assert!(matches(filter, &linux_host()));
        assert!(!matches(filter, &core_switch()), "outside the range");
        assert!(!matches(filter, &device("127.0.0.5")), "no sys_name");
    }

    #[test]
    fn text_equality_ignores_case() {
        assert!(matches("vendor = cisco", &core_switch()));
        assert!(matches("VENDOR = \"CISCO\"", &core_switch()));
        assert!(!matches("vendor = cis", &core_switch()));
        assert!(matches("hostname = CORE-SW1", &core_switch()));
    }

    #[test]
    fn keywords_and_field_names_ignore_case() {
        assert!(matches(
            "Vendor = cisco AND NOT Tag = edge OR EXISTS notes",
            &core_switch()
        ));
        assert!(matches("PORT IN [22]", &core_switch()));
        assert!(matches("Address In 10.0.0.0/8", &core_switch()));
    }

    #[test]
    fn a_missing_value_equals_nothing_and_differs_from_everything() {
        let bare = device("10.0.0.1");
        assert!(!matches("vendor = cisco", &bare));
        assert!(matches("vendor != cisco", &bare));
        assert!(!matches("vendor ~ c", &bare));
        assert!(matches("vendor !~ c", &bare));
        assert!(!matches("rtt_ms = 1", &bare));
        assert!(matches("rtt_ms != 1", &bare));
        assert!(!matches("rtt_ms < 100", &bare));
        assert!(!matches("vendor in [cisco, juniper]", &bare));
        assert!(!matches("exists vendor", &bare));
    }

    #[test]
    fn blank_text_counts_as_missing() {
        let mut d = device("10.0.0.1");
        d.hostname = Some("  ".to_owned());
        assert!(!matches("exists hostname", &d));
        assert!(!matches("exists notes", &d));
        assert!(matches("hostname != x", &d));
        d.notes = "rack 4".to_owned();
        assert!(matches("exists notes and notes ~ RACK", &d));
    }

    #[test]
    fn tag_comparisons_hold_when_any_tag_does() {
        let d = core_switch();
        assert!(matches("tag = dc1", &d));
        assert!(matches("tag ~ DC", &d));
        assert!(matches("tag in [edge, core]", &d));
        assert!(!matches("tag in [edge, lab]", &d));
        // `!=` is "no tag equals", not "some tag differs".
        assert!(!matches("tag != core", &d));
        assert!(matches("tag != edge", &d));
        assert!(!matches("tag !~ c", &d));
        assert!(matches("exists tag", &d));
        assert!(!matches("exists tag", &device("10.0.0.1")));
        assert!(matches("tag != core", &device("10.0.0.1")));
    }

    #[test]
    fn port_comparisons_hold_when_any_open_port_does() {
        let d = linux_host();
        assert!(matches("port = 22", &d));
        assert!(matches("port = 8080", &d));
        assert!(!matches("port = 443", &d));
        assert!(matches("port != 443", &d));
        assert!(!matches("port != 22", &d));
        assert!(matches("port < 1024", &d));
        assert!(matches("port >= 8080", &d));
        assert!(!matches("port > 8080", &d));
        assert!(matches("port in [80, 8080]", &d));
        assert!(matches("exists port", &d));
        assert!(!matches("exists port", &device("10.0.0.1")));
    }

    #[test]
    fn numbers_compare_rtt_and_uptime() {
        let d = core_switch();
        assert!(matches("rtt_ms < 2", &d));
        assert!(matches("rtt_ms <= 1.5 and rtt_ms >= 1.5", &d));
        assert!(matches("rtt_ms = 1.5", &d));
        assert!(!matches("rtt_ms > 1.5", &d));
        assert!(matches("uptime_s > 86400", &d));
        assert!(matches("uptime_s in [1, 90000]", &d));
        assert!(matches("uptime_s >= 9e4", &d));
        assert!(matches("rtt_ms > -1", &d));
    }

    #[test]
    fn addresses_compare_by_value_not_text() {
        let v6 = device("2001:db8::1");
        assert!(matches("address = 2001:DB8:0::1", &v6));
        assert!(matches("address != 2001:db8::2", &v6));
        assert!(matches("address in 2001:db8::/32", &v6));
        assert!(!matches("address in 10.0.0.0/8", &v6));
        assert!(matches("address in \"2001:db8::/32\"", &v6));
        let v4 = device("10.1.2.3");
        assert!(matches("address = 10.1.2.3", &v4));
        assert!(
            matches("address in 10.1.2.3", &v4),
            "a single address is a /32"
        );
        assert!(matches("address in 10.1.2.0/24", &v4));
        assert!(
            matches("address in 10.1.2.99/24", &v4),
            "host bits are ignored"
        );
        assert!(!matches("address in 10.1.3.0/24", &v4));
        assert!(!matches("address in 2001:db8::/32", &v4));
        assert!(matches("address in [192.168.0.0/16, 10.1.2.3]", &v4));
        assert!(matches("address ~ \"10.1.\"", &v4));
        assert!(matches("address !~ 192.", &v4));
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        let d = core_switch();
        // vendor = juniper or (tag = core and os ~ xe)
        assert!(matches("vendor = juniper or tag = core and os ~ xe", &d));
        // (vendor = juniper or tag = core) and os ~ linux
        assert!(!matches(
            "(vendor = juniper or tag = core) and os ~ linux",
            &d
        ));
        // (not vendor = cisco) and tag = core
        assert!(!matches("not vendor = cisco and tag = core", &d));
        assert!(matches("not not vendor = cisco", &d));
    }

    #[test]
    fn quoted_strings_take_escapes_and_spaces() {
        let mut d = device("10.0.0.1");
        d.notes = r#"the "old" core \ spare"#.to_owned();
        d.attributes.http_title = Some("RouterOS router configuration page".to_owned());
        assert!(matches(r#"notes = "the \"old\" core \\ spare""#, &d));
        assert!(matches(r#"http_title ~ "configuration page""#, &d));
        assert!(matches(r#"notes ~ "and" or notes ~ "old""#, &d));
    }

    #[test]
    fn every_field_name_is_known() {
        for (name, _) in FIELDS {
            let filter = format!("exists {name}");
            Filter::parse(&filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        }
        let d = core_switch();
        assert!(matches("segment = DC1", &d));
        assert!(matches("model ~ 9300", &d));
        assert!(matches("sys_descr ~ amsterdam", &d));
        assert!(matches("sys_object_id = 1.3.6.1.4.1.9.1.2494", &d));
        assert!(matches("ssh_banner ~ cisco", &d));
        assert!(!matches("exists http_server", &d));
    }

    #[test]
    fn source_is_kept_and_from_str_parses() {
        let text = "  vendor = cisco  ";
        let filter: Filter = text.parse().unwrap();
        assert_eq!(filter.source(), text);
        assert_eq!(filter.to_string(), text);
        assert_eq!(filter, Filter::parse(text).unwrap());
    }

    #[test]
    fn unknown_field_lists_the_known_fields() {
        let e = parse_error("vendor = x and vendr = y");
        assert_eq!(e.column, 16);
        assert!(e.message.contains("unknown field 'vendr'"), "{e}");
        assert!(e.message.contains("address, hostname, segment"), "{e}");
        assert!(e.message.contains("uptime_s"), "{e}");
        assert_eq!(e.to_string(), format!("column 16: {}", e.message));
    }

    #[test]
    fn a_missing_value_is_reported_where_it_should_be() {
        let e = parse_error("vendor =");
        assert_eq!(e.column, 9);
        assert_eq!(
            e.message,
            "expected a value after 'vendor =', found the end of the filter"
        );
        let e = parse_error("vendor = and tag = x");
        assert_eq!(e.column, 10);
        assert!(e.message.contains("found 'and'"), "{e}");
        let e = parse_error("vendor = )");
        assert_eq!(e.column, 10);
        assert!(e.message.contains("found ')'"), "{e}");
    }

    #[test]
    fn an_unterminated_string_points_at_its_quote() {
        let e = parse_error(r#"vendor = "Cisco and tag = x"#);
        assert_eq!(e.column, 10);
        assert!(e.message.starts_with("unterminated string"), "{e}");
        let e = parse_error(r#"vendor = "abc\"#);
        assert_eq!(e.column, 10);
        let e = parse_error(r#"vendor = "a\nb""#);
        assert_eq!(e.column, 12);
        assert!(e.message.contains("unknown escape '\\n'"), "{e}");
    }

    #[test]
    fn unbalanced_parentheses_are_named() {
        let e = parse_error("(vendor = x and (tag = y)");
        assert_eq!(e.column, 26);
        assert_eq!(
            e.message,
            "expected ')' to close the '(' at column 1, found the end of the filter"
        );
        let e = parse_error("vendor = x)");
        assert_eq!(e.column, 11);
        assert_eq!(e.message, "')' has no matching '('");
        let e = parse_error("(vendor = x tag = y)");
        assert_eq!(e.column, 13);
        assert!(e.message.contains("to close the '(' at column 1"), "{e}");
    }

    #[test]
    fn trailing_input_is_reported() {
        let e = parse_error("vendor = cisco juniper");
        assert_eq!(e.column, 16);
        assert_eq!(
            e.message,
            "expected 'and', 'or' or the end of the filter, found 'juniper'"
        );
    }

    #[test]
    fn ordering_needs_a_number_field() {
        let e = parse_error("vendor < 3");
        assert_eq!(e.column, 8);
        assert!(
            e.message
                .contains("'<' compares numbers, but vendor is text"),
            "{e}"
        );
        let e = parse_error("address >= 10.0.0.1");
        assert!(e.message.contains("address is an IP address"), "{e}");
        let e = parse_error("port ~ 22");
        assert_eq!(e.column, 6);
        assert!(e.message.contains("port is a number"), "{e}");
        let e = parse_error("rtt_ms < fast");
        assert_eq!(e.column, 10);
        assert!(
            e.message.contains("expected a number after 'rtt_ms <'"),
            "{e}"
        );
        let e = parse_error("rtt_ms < inf");
        assert!(e.message.contains("expected a number"), "{e}");
        let e = parse_error("port = 70000");
        assert!(e.message.contains("port number 0-65535"), "{e}");
    }

    #[test]
    fn bad_cidrs_and_addresses_are_reported() {
        let e = parse_error("address in 10.0.0.0/33");
        assert_eq!(e.column, 12);
        assert!(e.message.contains("expected a CIDR"), "{e}");
        let e = parse_error("address in [10.0.0.0/8, nope]");
        assert_eq!(e.column, 25);
        let e = parse_error("address = core-sw1");
        assert!(e.message.contains("expected an IP address"), "{e}");
        let e = parse_error("vendor in cisco");
        assert_eq!(e.column, 11);
        assert!(e.message.contains("only address takes a CIDR"), "{e}");
        let e = parse_error("address in");
        assert!(e.message.ends_with("found the end of the filter"), "{e}");
    }

    #[test]
    fn lists_must_be_well_formed() {
        let e = parse_error("port in []");
        assert_eq!(e.column, 10);
        assert!(e.message.contains("found ']'"), "{e}");
        let e = parse_error("port in [22 80]");
        assert_eq!(e.column, 13);
        assert!(e.message.contains("expected ',' or ']'"), "{e}");
        let e = parse_error("port in [22,");
        assert_eq!(e.column, 13);
        let e = parse_error("port in [22");
        assert!(
            e.message.contains("close the list opened at column 9"),
            "{e}"
        );
    }

    #[test]
    fn empty_long_and_deep_filters_are_refused() {
        let e = parse_error("   ");
        assert_eq!(e.column, 1);
        assert!(e.message.contains("empty"), "{e}");
        let e = parse_error("");
        assert!(e.message.contains("empty"), "{e}");

        let long = format!("notes ~ \"{}\"", "x".repeat(MAX_FILTER_CHARS));
        let e = parse_error(&long);
        assert_eq!(e.column, MAX_FILTER_CHARS + 1);
        assert!(e.message.contains("longer than 4096"), "{e}");

        let ok = format!("{}vendor = x{}", "(".repeat(64), ")".repeat(64));
        assert!(!matches(&ok, &device("10.0.0.1")));
        let deep = format!("{}vendor = x{}", "(".repeat(65), ")".repeat(65));
        let e = parse_error(&deep);
        assert_eq!(e.column, 65);
        assert!(e.message.contains("deeper than 64"), "{e}");
        let nots = format!("{}vendor = x", "not ".repeat(65));
        assert!(parse_error(&nots).message.contains("deeper than 64"));
    }

    #[test]
    fn misspelled_operators_get_a_hint() {
        assert!(parse_error("vendor == x").message.contains("use '='"));
        assert!(
            parse_error("vendor = x && tag = y")
                .message
                .contains("use 'and'")
        );
        assert!(
            parse_error("vendor = x || tag = y")
                .message
                .contains("use 'or'")
        );
        assert!(parse_error("!vendor = x").message.contains("use 'not'"));
        let e = parse_error("hostname exists");
        assert_eq!(e.column, 10);
        assert_eq!(
            e.message,
            "'exists' goes before the field: write 'exists hostname'"
        );
        let e = parse_error("vendor cisco");
        assert!(e.message.starts_with("expected an operator"), "{e}");
        let e = parse_error("vendor = köln");
        assert_eq!(e.column, 11);
        assert!(e.message.contains("double quotes"), "{e}");
        assert!(matches("hostname != \"köln\"", &device("10.0.0.1")));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = parse_error("notes = \"héllo\" and véndor = x");
        assert_eq!(e.column, 22);
    }

    #[test]
    fn errors_do_not_echo_long_input() {
        let e = parse_error(&format!("{} = 1", "a".repeat(3000)));
        assert!(e.message.len() < 400, "{}", e.message.len());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const PIECES: &[&str] = &[
            "vendor",
            "tag",
            "port",
            "address",
            "rtt_ms",
            "exists",
            "not",
            "and",
            "or",
            "in",
            "=",
            "!=",
            "~",
            "!~",
            "<",
            ">=",
            "(",
            ")",
            "[",
            "]",
            ",",
            "\"x y\"",
            "22",
            "10.0.0.0/8",
            "::1",
            "cisco",
            "\"",
            "\\",
            "é",
        ];

        proptest! {
            #[test]
            fn random_text_never_panics(text in "\\PC{0,300}") {
                if let Ok(filter) = Filter::parse(&text) {
                    let _ = filter.matches(&core_switch());
                }
            }

            #[test]
            fn random_token_soup_never_panics(
                pieces in prop::collection::vec(prop::sample::select(PIECES), 0..60)
            ) {
                let text = pieces.join(" ");
                match Filter::parse(&text) {
                    Ok(filter) => {
                        let _ = filter.matches(&core_switch());
                        let _ = filter.matches(&linux_host());
                    }
                    Err(e) => {
                        prop_assert!(e.column >= 1);
                        prop_assert!(e.column <= text.chars().count() + 1);
                    }
                }
            }
        }
    }
}
