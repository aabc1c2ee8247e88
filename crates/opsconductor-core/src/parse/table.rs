//! The `table` extractor: whitespace-separated or fixed-width columns.

use serde_json::Value;

use super::def::{KeyCase, TableExtract};
use super::{DefProblem, Limits, ParseError, Raw, Record};

/// A compiled `table` extractor.
#[derive(Debug, Clone)]
pub(crate) struct TableExtractor {
    columns: Option<Vec<String>>,
    header: bool,
    skip_lines: usize,
    widths: Option<Vec<usize>>,
    keys: KeyCase,
}

impl TableExtractor {
    pub(crate) fn compile(def: &TableExtract, problems: &mut Vec<DefProblem>) -> Option<Self> {
        let before = problems.len();
        match &def.columns {
            None if !def.header => problems.push(DefProblem::new(
                "extract.columns",
                "give the column names or set `header: true` to read them from the output",
            )),
            Some(columns) => {
                if columns.is_empty() {
                    problems.push(DefProblem::new(
                        "extract.columns",
                        "must name at least one column",
                    ));
                }
                for (i, name) in columns.iter().enumerate() {
                    if name.trim().is_empty() {
                        problems.push(DefProblem::new(
                            format!("extract.columns[{i}]"),
                            "must not be blank",
                        ));
                    } else if columns[..i].contains(name) {
                        problems.push(DefProblem::new(
                            format!("extract.columns[{i}]"),
                            format!("column `{name}` is named twice"),
                        ));
                    }
                }
            }
            None => {}
        }
        if let Some(widths) = &def.widths {
            if widths.is_empty() {
                problems.push(DefProblem::new(
                    "extract.widths",
                    "must give at least one width",
                ));
            }
            if let Some(i) = widths.iter().position(|w| *w == 0) {
                problems.push(DefProblem::new(
                    format!("extract.widths[{i}]"),
                    "must be at least 1",
                ));
            }
            if let Some(columns) = &def.columns
                && columns.len() != widths.len()
            {
                problems.push(DefProblem::new(
                    "extract.widths",
                    format!("{} widths for {} columns", widths.len(), columns.len()),
                ));
            }
        }
        (problems.len() == before).then(|| Self {
            columns: def.columns.clone(),
            header: def.header,
            skip_lines: def.skip_lines,
            widths: def.widths.clone(),
            keys: def.keys,
        })
    }

    /// Column names when fixed by the definition.
    pub(crate) fn names(&self) -> Option<Vec<String>> {
        self.columns.clone()
    }

    pub(crate) fn extract(&self, input: &str, limits: &Limits, raw: &mut Raw) {
        let mut lines = input
            .lines()
            .skip(self.skip_lines)
            .filter(|l| !is_blank_or_ruler(l));
        let columns: Vec<String> = match (&self.columns, self.header) {
            (Some(columns), header) => {
                if header {
                    lines.next();
                }
                columns.clone()
            }
            (None, _) => {
                let Some(header) = lines.next() else {
                    raw.errors
                        .push(ParseError::NoMatch("no header line".into()));
                    return;
                };
                let names: Vec<String> = self
                    .split(header, usize::MAX)
                    .into_iter()
                    .map(|cell| self.keys.apply(cell))
                    .collect();
                dedupe(names)
            }
        };
        let mut any = false;
        for line in lines {
            any = true;
            let mut record = Record::new();
            for (name, cell) in columns.iter().zip(self.split(line, columns.len())) {
                let cell = cell.trim();
                if !cell.is_empty() && !name.is_empty() {
                    record.insert(name.clone(), Value::String(cell.to_owned()));
                }
            }
            if !raw.push_row(record, limits) {
                return;
            }
        }
        if !any {
            raw.errors
                .push(ParseError::NoMatch("the table has no data rows".into()));
        }
    }

    /// Cuts `line` into at most `max` cells.
    fn split<'a>(&self, line: &'a str, max: usize) -> Vec<&'a str> {
        match &self.widths {
            Some(widths) => split_widths(line, widths),
            None => split_whitespace(line, max),
        }
    }
}

/// Blank lines and rulers (`------ -----`, `====`, `+---+`) carry no cells.
fn is_blank_or_ruler(line: &str) -> bool {
    line.chars()
        .all(|c| matches!(c, '-' | '=' | '+' | ' ' | '\t' | '\r'))
}

/// Whitespace split into at most `max` cells; the last takes the rest of the line.
fn split_whitespace(line: &str, max: usize) -> Vec<&str> {
    let mut cells = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if cells.len() + 1 == max {
            cells.push(rest);
            break;
        }
        match rest.find(char::is_whitespace) {
            Some(end) => {
                cells.push(&rest[..end]);
                rest = rest[end..].trim_start();
            }
            None => {
                cells.push(rest);
                break;
            }
        }
    }
    cells
}

/// Fixed widths in characters; the last column takes the rest of the line.
fn split_widths<'a>(line: &'a str, widths: &[usize]) -> Vec<&'a str> {
    let mut cells = Vec::with_capacity(widths.len());
    let mut rest = line;
    for (i, width) in widths.iter().enumerate() {
        if i + 1 == widths.len() {
            cells.push(rest);
            break;
        }
        let end = rest
            .char_indices()
            .nth(*width)
            .map_or(rest.len(), |(at, _)| at);
        cells.push(&rest[..end]);
        rest = &rest[end..];
    }
    cells
}

/// Header names must be distinct keys: a repeat gets `_2`, `_3`, ...
fn dedupe(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let mut candidate = name.clone();
        let mut n = 2;
        while out.contains(&candidate) {
            candidate = format!("{name}_{n}");
            n += 1;
        }
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_split_gives_the_rest_to_the_last_cell() {
        assert_eq!(
            split_whitespace("  1 root  sshd: /usr/sbin/sshd -D ", 3),
            ["1", "root", "sshd: /usr/sbin/sshd -D"]
        );
        assert_eq!(split_whitespace("a b", 5), ["a", "b"]);
        assert!(split_whitespace("   ", 3).is_empty());
    }

    #[test]
    fn fixed_widths_count_characters_not_bytes() {
        assert_eq!(split_widths("ééabc", &[2, 1, 9]), ["éé", "a", "bc"]);
        assert_eq!(split_widths("ab", &[4, 4]), ["ab", ""]);
    }

    #[test]
    fn rulers_and_blank_lines_are_skipped() {
        assert!(is_blank_or_ruler("------ ----- -----"));
        assert!(is_blank_or_ruler("+----+====+"));
        assert!(is_blank_or_ruler("  \r"));
        assert!(!is_blank_or_ruler("-1 foo"));
    }

    #[test]
    fn repeated_header_names_get_suffixes() {
        assert_eq!(
            dedupe(vec!["a".into(), "a".into(), "b".into(), "a".into()]),
            ["a", "a_2", "b", "a_3"]
        );
    }
}
