//! The success-criteria expression language.
//!
//! A command says when a result is ok and when it is only a warning with small boolean
//! expressions over the parsed fields, for example `loss_pct < 20 && rtt_avg_ms < 100`.
//! Expressions are parsed once, when the library loads ([`Expr::parse`]); evaluation is
//! a pure function of the fields and never fails: a missing field or a type mismatch makes
//! the comparison false and is named in the verdict's reason.
//!
//! Grammar (lowest precedence first):
//! ```text
//! expr    := and (("||" | "or") and)*
//! and     := unary (("&&" | "and") unary)*
//! unary   := ("!" | "not") unary | compare
//! compare := value (("==" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "contains" | "in") value)?
//! value   := number | "string" | true | false | null | [value, ...] | field | func(args) | (expr)
//! field   := name ("." name | "[" integer "]")*
//! func    := exists(field) | len(value) | lower(value)
//! ```
//! `=~` takes a string literal regex on its right. A bare field used as a condition is true
//! when it is `true`, a non-zero number or a non-empty string / array.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest expression accepted, so a library file cannot make the parser recurse forever.
const MAX_EXPR_LEN: usize = 4096;
/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;

/// A criteria expression that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct CriteriaError {
    /// 1-based character column where the problem starts.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The verdict of a result after its success criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The `ok` expression held (or there are no criteria).
    Ok,
    /// The `ok` expression did not hold but the `warn` expression did.
    Warn,
    /// Neither held.
    Fail,
}

/// A verdict with the reason a person can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// ok / warn / fail.
    pub verdict: Verdict,
    /// Why, e.g. `ok when loss_pct < 20 did not hold (loss_pct = 50)`.
    pub reason: String,
}

/// Success criteria as written in a library or a job: source text of each expression.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriteriaSpec {
    /// When this holds the result is ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<String>,
    /// When `ok` fails but this holds, the result is a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<String>,
}

impl CriteriaSpec {
    /// Parses both expressions; errors carry the field name (`ok` / `warn`).
    pub fn compile(&self) -> Result<Criteria, Vec<(&'static str, CriteriaError)>> {
        let mut problems = Vec::new();
        let mut parse = |name: &'static str, src: &Option<String>| match src {
            None => None,
            Some(text) => match Expr::parse(text) {
                Ok(expr) => Some(expr),
                Err(e) => {
                    problems.push((name, e));
                    None
                }
            },
        };
        let ok = parse("ok", &self.ok);
        let warn = parse("warn", &self.warn);
        if problems.is_empty() {
            Ok(Criteria { ok, warn })
        } else {
            Err(problems)
        }
    }
}

/// Compiled success criteria.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    ok: Option<Expr>,
    warn: Option<Expr>,
}

impl Criteria {
    /// Decides ok / warn / fail for a result's fields.
    pub fn evaluate(&self, fields: &Map<String, Value>) -> Evaluation {
        let Some(ok) = &self.ok else {
            // Without an `ok` expression the result is ok unless the warn condition holds.
            return match &self.warn {
                Some(warn) if warn.is_true(fields) => Evaluation {
                    verdict: Verdict::Warn,
                    reason: format!("warn condition {warn} held{}", warn.explain(fields)),
                },
                _ => Evaluation {
                    verdict: Verdict::Ok,
                    reason: "no ok condition and no warn condition held".to_owned(),
                },
            };
        };
        if ok.is_true(fields) {
            return Evaluation {
                verdict: Verdict::Ok,
                reason: format!("{ok} held{}", ok.explain(fields)),
            };
        }
        match &self.warn {
            Some(warn) if warn.is_true(fields) => Evaluation {
                verdict: Verdict::Warn,
                reason: format!("{ok} did not hold but {warn} did{}", ok.explain(fields)),
            },
            _ => Evaluation {
                verdict: Verdict::Fail,
                reason: format!("{ok} did not hold{}", ok.explain(fields)),
            },
        }
    }

    /// True when neither expression is set.
    pub fn is_empty(&self) -> bool {
        self.ok.is_none() && self.warn.is_none()
    }
}

/// A parsed expression. `Display` prints it back in canonical form.
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    node: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Literal(Value),
    List(Vec<Node>),
    Field(Vec<PathPart>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Compare(Box<Node>, CmpOp, Box<Node>),
    Matches(Box<Node>, Box<Regex>),
    Exists(Vec<PathPart>),
    Len(Box<Node>),
    Lower(Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum PathPart {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    In,
}

impl Expr {
    /// Parses an expression; the error names the column.
    pub fn parse(source: &str) -> Result<Self, CriteriaError> {
        if source.chars().count() > MAX_EXPR_LEN {
            return Err(CriteriaError {
                column: MAX_EXPR_LEN,
                message: format!("expression is longer than {MAX_EXPR_LEN} characters"),
            });
        }
        let tokens = lex(source)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let node = parser.expr()?;
        if let Some(tok) = parser.peek() {
            return Err(CriteriaError {
                column: tok.column,
                message: format!("unexpected {} after a complete expression", tok.kind),
            });
        }
        Ok(Self {
            source: source.trim().to_owned(),
            node,
        })
    }

    /// Evaluates the expression as a condition.
    pub fn is_true(&self, fields: &Map<String, Value>) -> bool {
        truthy(&eval(&self.node, fields))
    }

    /// Names of the top-level fields the expression reads, in order of appearance.
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_fields(&self.node, &mut out);
        out
    }

    /// ` (a = 1, b missing)`: the values of the fields the expression reads.
    fn explain(&self, fields: &Map<String, Value>) -> String {
        let names = self.fields();
        if names.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = names
            .iter()
            .map(|name| {
                let path = name_to_path(name);
                match lookup(fields, &path) {
                    Some(v) => format!("{name} = {}", short(v)),
                    None => format!("{name} missing"),
                }
            })
            .collect();
        format!(" ({})", parts.join(", "))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn name_to_path(name: &str) -> Vec<PathPart> {
    let mut parts = Vec::new();
    for piece in name.split('.') {
        let (key, mut rest) = match piece.find('[') {
            Some(i) => (&piece[..i], &piece[i..]),
            None => (piece, ""),
        };
        if !key.is_empty() {
            parts.push(PathPart::Key(key.to_owned()));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                parts.push(PathPart::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    parts
}

fn path_to_name(path: &[PathPart]) -> String {
    let mut out = String::new();
    for part in path {
        match part {
            PathPart::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathPart::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn collect_fields(node: &Node, out: &mut Vec<String>) {
    match node {
        Node::Literal(_) => {}
        Node::List(items) => items.iter().for_each(|n| collect_fields(n, out)),
        Node::Field(path) | Node::Exists(path) => {
            let name = path_to_name(path);
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Node::Not(n) | Node::Len(n) | Node::Lower(n) | Node::Matches(n, _) => {
            collect_fields(n, out);
        }
        Node::And(a, b) | Node::Or(a, b) | Node::Compare(a, _, b) => {
            collect_fields(a, out);
            collect_fields(b, out);
        }
    }
}

fn lookup<'a>(fields: &'a Map<String, Value>, path: &[PathPart]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let PathPart::Key(key) = first else {
        return None;
    };
    let mut current = fields.get(key)?;
    for part in rest {
        current = match (part, current) {
            (PathPart::Key(k), Value::Object(map)) => map.get(k)?,
            (PathPart::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn eval(node: &Node, fields: &Map<String, Value>) -> Value {
    match node {
        Node::Literal(v) => v.clone(),
        Node::List(items) => Value::Array(items.iter().map(|n| eval(n, fields)).collect()),
        Node::Field(path) => lookup(fields, path).cloned().unwrap_or(Value::Null),
        Node::Exists(path) => Value::Bool(lookup(fields, path).is_some_and(|v| !v.is_null())),
        Node::Not(n) => Value::Bool(!truthy(&eval(n, fields))),
        Node::And(a, b) => Value::Bool(truthy(&eval(a, fields)) && truthy(&eval(b, fields))),
        Node::Or(a, b) => Value::Bool(truthy(&eval(a, fields)) || truthy(&eval(b, fields))),
        Node::Len(n) => match eval(n, fields) {
            Value::String(s) => Value::from(s.chars().count()),
            Value::Array(a) => Value::from(a.len()),
            Value::Object(o) => Value::from(o.len()),
            _ => Value::Null,
        },
        Node::Lower(n) => match eval(n, fields) {
            Value::String(s) => Value::String(s.to_lowercase()),
            other => other,
        },
        Node::Matches(n, re) => match eval(n, fields) {
            Value::String(s) => Value::Bool(re.is_match(&s)),
            Value::Number(num) => Value::Bool(re.is_match(&num.to_string())),
            _ => Value::Bool(false),
        },
        Node::Compare(a, op, b) => Value::Bool(compare(&eval(a, fields), *op, &eval(b, fields))),
    }
}

fn compare(left: &Value, op: CmpOp, right: &Value) -> bool {
    match op {
        CmpOp::Eq => loosely_equal(left, right),
        CmpOp::Ne => !left.is_null() && !loosely_equal(left, right),
        CmpOp::Contains => match (left, right) {
            (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
            (Value::Array(items), needle) => items.iter().any(|i| loosely_equal(i, needle)),
            (Value::Object(map), Value::String(key)) => map.contains_key(key),
            _ => false,
        },
        CmpOp::In => compare(right, CmpOp::Contains, left),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let Some(ord) = order(left, right) else {
                return false;
            };
            match op {
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }
        }
    }
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum TokKind {
    Number(f64, String),
    Str(String),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
}

impl fmt::Display for TokKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(_, text) => write!(f, "number {text}"),
            Self::Str(s) => write!(f, "string {s:?}"),
            Self::Ident(s) => write!(f, "'{s}'"),
            Self::Op(op) => write!(f, "'{op}'"),
            Self::LParen => f.write_str("'('"),
            Self::RParen => f.write_str("')'"),
            Self::LBracket => f.write_str("'['"),
            Self::RBracket => f.write_str("']'"),
            Self::Comma => f.write_str("','"),
            Self::Dot => f.write_str("'.'"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokKind,
    column: usize,
}

fn lex(source: &str) -> Result<Vec<Token>, CriteriaError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let err = |message: String| CriteriaError { column, message };
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let op2 = ["&&", "||", "==", "!=", "<=", ">=", "=~"]
            .into_iter()
            .find(|op| *op == two);
        if let Some(op) = op2 {
            tokens.push(Token {
                kind: TokKind::Op(op),
                column,
            });
            i += 2;
            continue;
        }
        let kind = match c {
            '(' => TokKind::LParen,
            ')' => TokKind::RParen,
            '[' => TokKind::LBracket,
            ']' => TokKind::RBracket,
            ',' => TokKind::Comma,
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => TokKind::Dot,
            '<' => TokKind::Op("<"),
            '>' => TokKind::Op(">"),
            '!' => TokKind::Op("!"),
            '=' => return Err(err("'=' is not an operator: use '==' to compare".to_owned())),
            '&' | '|' => return Err(err(format!("'{c}' must be doubled: '{c}{c}'"))),
            '"' | '\'' => {
                let quote = c;
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(err("string is not closed".to_owned())),
                        Some('\\') => {
                            match chars.get(j + 1) {
                                Some('n') => text.push('\n'),
                                Some('t') => text.push('\t'),
                                Some(other) => text.push(*other),
                                None => return Err(err("string is not closed".to_owned())),
                            }
                            j += 2;
                        }
                        Some(ch) if *ch == quote => break,
                        Some(ch) => {
                            text.push(*ch);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                tokens.push(Token {
                    kind: TokKind::Str(text),
                    column,
                });
                continue;
            }
            c if c.is_ascii_digit() || c == '.' || c == '-' => {
                let start = i;
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_digit()
                        || chars[j] == '.'
                        || chars[j] == 'e'
                        || chars[j] == 'E'
                        || ((chars[j] == '-' || chars[j] == '+')
                            && matches!(chars[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let text: String = chars[start..j].iter().collect();
                let value: f64 = text
                    .parse()
                    .map_err(|_| err(format!("{text:?} is not a number")))?;
                if !value.is_finite() {
                    return Err(err(format!("{text:?} is not a finite number")));
                }
                i = j;
                tokens.push(Token {
                    kind: TokKind::Number(value, text),
                    column,
                });
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                i = j;
                let word: String = chars[start..j].iter().collect();
                tokens.push(Token {
                    kind: TokKind::Ident(word),
                    column,
                });
                continue;
            }
            other => return Err(err(format!("unexpected character {other:?}"))),
        };
        tokens.push(Token { kind, column });
        i += 1;
    }
    Ok(tokens)
}

// ---------------------------------------------------------------- parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn end_column(&self) -> usize {
        self.tokens.last().map_or(1, |t| t.column + 1)
    }

    fn next(&mut self) -> Option<Token> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn eat_op(&mut self, ops: &[&str]) -> bool {
        let hit = match self.peek().map(|t| &t.kind) {
            Some(TokKind::Op(op)) => ops.contains(op),
            Some(TokKind::Ident(word)) => ops.contains(&word.as_str()),
            _ => false,
        };
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, want: &TokKind, what: &str) -> Result<(), CriteriaError> {
        match self.next() {
            Some(tok) if &tok.kind == want => Ok(()),
            Some(tok) => Err(CriteriaError {
                column: tok.column,
                message: format!("expected {what}, found {}", tok.kind),
            }),
            None => Err(CriteriaError {
                column: self.end_column(),
                message: format!("expected {what}, found the end"),
            }),
        }
    }

    fn enter(&mut self) -> Result<(), CriteriaError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CriteriaError {
                column: self.peek().map_or(1, |t| t.column),
                message: format!("expression nests deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Node, CriteriaError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.eat_op(&["||", "or"]) {
            let right = self.and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, CriteriaError> {
        let mut left = self.unary()?;
        while self.eat_op(&["&&", "and"]) {
            let right = self.unary()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, CriteriaError> {
        if self.eat_op(&["!", "not"]) {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Node, CriteriaError> {
        let left = self.value()?;
        let op = match self.peek().map(|t| &t.kind) {
            Some(TokKind::Op(op)) => match *op {
                "==" => Some(CmpOp::Eq),
                "!=" => Some(CmpOp::Ne),
                "<" => Some(CmpOp::Lt),
                "<=" => Some(CmpOp::Le),
                ">" => Some(CmpOp::Gt),
                ">=" => Some(CmpOp::Ge),
                "=~" => {
                    self.pos += 1;
                    return self.regex_match(left);
                }
                _ => None,
            },
            Some(TokKind::Ident(word)) if word == "contains" => Some(CmpOp::Contains),
            Some(TokKind::Ident(word)) if word == "in" => Some(CmpOp::In),
            _ => None,
        };
        let Some(op) = op else {
            return Ok(left);
        };
        self.pos += 1;
        let right = self.value()?;
        Ok(Node::Compare(Box::new(left), op, Box::new(right)))
    }

    fn regex_match(&mut self, left: Node) -> Result<Node, CriteriaError> {
        match self.next() {
            Some(Token {
                kind: TokKind::Str(pattern),
                column,
            }) => {
                let re = regex::RegexBuilder::new(&pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| CriteriaError {
                        column,
                        message: format!("invalid regex: {}", first_line(&e.to_string())),
                    })?;
                Ok(Node::Matches(Box::new(left), Box::new(re)))
            }
            Some(tok) => Err(CriteriaError {
                column: tok.column,
                message: format!("'=~' needs a quoted regex on its right, found {}", tok.kind),
            }),
            None => Err(CriteriaError {
                column: self.end_column(),
                message: "'=~' needs a quoted regex on its right".to_owned(),
            }),
        }
    }

    fn value(&mut self) -> Result<Node, CriteriaError> {
        let Some(tok) = self.next() else {
            return Err(CriteriaError {
                column: self.end_column(),
                message: "expected a value, found the end".to_owned(),
            });
        };
        match tok.kind {
            TokKind::Number(n, _) => Ok(Node::Literal(number(n))),
            TokKind::Str(s) => Ok(Node::Literal(Value::String(s))),
            TokKind::LParen => {
                let inner = self.expr()?;
                self.expect(&TokKind::RParen, "')'")?;
                Ok(inner)
            }
            TokKind::LBracket => {
                self.enter()?;
                let mut items = Vec::new();
                if self.peek().map(|t| &t.kind) != Some(&TokKind::RBracket) {
                    loop {
                        items.push(self.value()?);
                        if self.peek().map(|t| &t.kind) == Some(&TokKind::Comma) {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(&TokKind::RBracket, "']'")?;
                self.depth -= 1;
                Ok(Node::List(items))
            }
            TokKind::Ident(word) => match word.as_str() {
                "true" => Ok(Node::Literal(Value::Bool(true))),
                "false" => Ok(Node::Literal(Value::Bool(false))),
                "null" => Ok(Node::Literal(Value::Null)),
                "and" | "or" | "not" | "contains" | "in" => Err(CriteriaError {
                    column: tok.column,
                    message: format!("expected a value, found the keyword '{word}'"),
                }),
                _ if self.peek().map(|t| &t.kind) == Some(&TokKind::LParen) => {
                    self.function(&word, tok.column)
                }
                _ => Ok(Node::Field(self.path(word)?)),
            },
            other => Err(CriteriaError {
                column: tok.column,
                message: format!("expected a value, found {other}"),
            }),
        }
    }

    fn function(&mut self, name: &str, column: usize) -> Result<Node, CriteriaError> {
        self.pos += 1; // '('
        self.enter()?;
        let node = match name {
            "exists" => match self.next() {
                Some(Token {
                    kind: TokKind::Ident(word),
                    ..
                }) => Node::Exists(self.path(word)?),
                _ => {
                    return Err(CriteriaError {
                        column,
                        message: "exists() takes a field name".to_owned(),
                    });
                }
            },
            "len" => Node::Len(Box::new(self.value()?)),
            "lower" => Node::Lower(Box::new(self.value()?)),
            other => {
                return Err(CriteriaError {
                    column,
                    message: format!("unknown function '{other}' (known: exists, len, lower)"),
                });
            }
        };
        self.expect(&TokKind::RParen, "')'")?;
        self.depth -= 1;
        Ok(node)
    }

    fn path(&mut self, first: String) -> Result<Vec<PathPart>, CriteriaError> {
        let mut path = vec![PathPart::Key(first)];
        loop {
            match self.peek().map(|t| t.kind.clone()) {
                Some(TokKind::Dot) => {
                    self.pos += 1;
                    match self.next() {
                        Some(Token {
                            kind: TokKind::Ident(word),
                            ..
                        }) => path.push(PathPart::Key(word)),
                        Some(tok) => {
                            return Err(CriteriaError {
                                column: tok.column,
                                message: format!(
                                    "expected a field name after '.', found {}",
                                    tok.kind
                                ),
                            });
                        }
                        None => {
                            return Err(CriteriaError {
                                column: self.end_column(),
                                message: "expected a field name after '.'".to_owned(),
                            });
                        }
                    }
                }
                Some(TokKind::LBracket) => {
                    self.pos += 1;
                    match self.next() {
                        Some(Token {
                            kind: TokKind::Number(n, text),
                            column,
                        }) => {
                            if n < 0.0 || n.fract() != 0.0 || n > 1e9 {
                                return Err(CriteriaError {
                                    column,
                                    message: format!("index {text} is not a small whole number"),
                                });
                            }
                            #[expect(
                                clippy::cast_possible_truncation,
                                clippy::cast_sign_loss,
                                reason = "checked to be a small non-negative integer above"
                            )]
                            path.push(PathPart::Index(n as usize));
                        }
                        Some(Token {
                            kind: TokKind::Str(key),
                            ..
                        }) => path.push(PathPart::Key(key)),
                        _ => {
                            return Err(CriteriaError {
                                column: self.end_column(),
                                message: "expected an index or a quoted key inside '[ ]'"
                                    .to_owned(),
                            });
                        }
                    }
                    self.expect(&TokKind::RBracket, "']'")?;
                }
                _ => return Ok(path),
            }
        }
    }
}

fn number(n: f64) -> Value {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "only when n is integral and in range"
    )]
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn first_line(text: &str) -> String {
    text.lines().last().unwrap_or(text).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn check(expr: &str, f: &Value) -> bool {
        Expr::parse(expr).unwrap().is_true(&fields(f.clone()))
    }

    #[test]
    fn ping_style_criteria_give_ok_warn_and_fail() {
        let criteria = CriteriaSpec {
            ok: Some("loss_pct < 20 && rtt_avg_ms < 100".into()),
            warn: Some("loss_pct < 100".into()),
        }
        .compile()
        .unwrap();
        let ok = criteria.evaluate(&fields(json!({"loss_pct": 0, "rtt_avg_ms": 0.05})));
        assert_eq!(ok.verdict, Verdict::Ok);
        let warn = criteria.evaluate(&fields(json!({"loss_pct": 50.0, "rtt_avg_ms": 3})));
        assert_eq!(warn.verdict, Verdict::Warn);
        assert!(warn.reason.contains("loss_pct = 50"), "{}", warn.reason);
        let fail = criteria.evaluate(&fields(json!({"loss_pct": 100})));
        assert_eq!(fail.verdict, Verdict::Fail);
        assert!(
            fail.reason.contains("rtt_avg_ms missing"),
            "{}",
            fail.reason
        );
    }

    #[test]
    fn no_criteria_means_ok() {
        let e = Criteria::default().evaluate(&Map::new());
        assert_eq!(e.verdict, Verdict::Ok);
    }

    #[test]
    fn operators_cover_strings_lists_regex_and_functions() {
        let f = json!({
            "status": "UP", "code": 200, "tags": ["core", "edge"],
            "banner": "SSH-2.0-OpenSSH_9.2p1", "nested": {"a": [1, 2, 3]}
        });
        assert!(check("status == 'UP'", &f));
        assert!(check("code in [200, 204]", &f));
        assert!(!check("code in [500]", &f));
        assert!(check("tags contains \"core\"", &f));
        assert!(check("banner =~ 'OpenSSH_[0-9]'", &f));
        assert!(check("nested.a[2] == 3", &f));
        assert!(check("len(tags) == 2 and not exists(missing)", &f));
        assert!(check("lower(status) == 'up'", &f));
        assert!(check("!(code >= 400) || false", &f));
        assert!(check("code != 500", &f));
        assert!(
            !check("missing != 500", &f),
            "a missing field is never 'not equal'"
        );
        assert!(check("code == 200.0", &f));
        assert!(check("-1.5e1 < 0", &f));
    }

    #[test]
    fn precedence_binds_and_tighter_than_or() {
        let f = json!({"a": true, "b": false, "c": false});
        assert!(check("a || b && c", &f));
        assert!(!check("(a || b) && c", &f));
    }

    #[test]
    fn parse_errors_name_the_column() {
        let cases = [
            ("loss_pct < ", 11, "expected a value"),
            ("loss_pct = 5", 10, "'=='"),
            ("a & b", 3, "doubled"),
            ("(a < 1", 7, "')'"),
            ("a < 1 b", 7, "unexpected"),
            ("x =~ '('", 6, "invalid regex"),
            ("foo(1)", 1, "unknown function"),
            ("'open", 1, "not closed"),
            ("a < #", 5, "unexpected character"),
        ];
        for (src, column, needle) in cases {
            let err = Expr::parse(src).unwrap_err();
            assert_eq!(err.column, column, "{src}: {err}");
            assert!(err.message.contains(needle), "{src}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowing_the_stack() {
        let src = format!("{}a{}", "(".repeat(500), ")".repeat(500));
        let err = Expr::parse(&src).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{err}");
        let nots = format!("{}a", "!".repeat(500));
        assert!(Expr::parse(&nots).is_err());
    }

    #[test]
    fn fields_lists_what_the_expression_reads() {
        let e = Expr::parse("loss_pct < 20 && exists(rtt.avg) && loss_pct > 1").unwrap();
        assert_eq!(e.fields(), vec!["loss_pct", "rtt.avg"]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsing_arbitrary_text_never_panics(src in "\\PC{0,80}") {
                let _ = Expr::parse(&src);
            }

            #[test]
            fn numeric_comparison_matches_rust(a in -1e6f64..1e6, b in -1e6f64..1e6) {
                let f = json!({"a": a, "b": b});
                prop_assert_eq!(check("a < b", &f), a < b);
                prop_assert_eq!(check("a >= b", &f), a >= b);
                prop_assert_eq!(check("a == b || a != b", &f), true);
            }

            #[test]
            fn criteria_verdict_follows_thresholds(loss in 0u32..=100) {
                let c = CriteriaSpec { ok: Some("loss < 20".into()), warn: Some("loss < 100".into()) }
                    .compile().unwrap();
                let v = c.evaluate(&fields(json!({"loss": loss}))).verdict;
                let want = if loss < 20 { Verdict::Ok } else if loss < 100 { Verdict::Warn } else { Verdict::Fail };
                prop_assert_eq!(v, want);
            }
        }
    }
}
