//! Uploaded target files: decoding bytes, `lines` and `csv` layouts, per-line problems.

use super::entry::{CidrMode, Entry, parse_entry, split_list};
use super::spec::{CsvColumn, FileFormat, FileSelector};
use super::target::{quote, truncate_chars};

/// Decodes an uploaded file into text without ever failing.
///
/// A UTF-8 byte-order mark is dropped; a UTF-16 one (spreadsheet "Unicode text" exports)
/// selects UTF-16. Anything that is not valid text becomes `U+FFFD`, which expansion then
/// reports on its line, so one stray byte costs one line, not the whole file.
pub fn decode_file_bytes(bytes: &[u8]) -> String {
    let utf16 = |bytes: &[u8], from: fn([u8; 2]) -> u16| {
        let units = bytes.chunks(2).map(|pair| match *pair {
            [a, b] => from([a, b]),
            _ => 0xFFFD,
        });
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A problem with the file selector as a whole: the field (`column`, `delimiter`) and what
/// is wrong with it.
pub(crate) type FileError = (&'static str, String);

/// Reads a file selector's content, handing each usable entry and each bad line (1-based
/// line number, the line's text, the reason) to the callbacks in line order.
pub(crate) fn read_file(
    file: &FileSelector,
    on_entry: &mut dyn FnMut(Entry),
    on_invalid: &mut dyn FnMut(usize, &str, String),
) -> Result<(), FileError> {
    match file.format {
        FileFormat::Lines => {
            if file.column.is_some() {
                return Err(("column", "column applies only to csv files".to_owned()));
            }
            if file.delimiter.is_some() {
                return Err((
                    "delimiter",
                    "delimiter applies only to csv files".to_owned(),
                ));
            }
            read_lines(file, on_entry, on_invalid);
            Ok(())
        }
        FileFormat::Csv => read_csv(file, on_entry, on_invalid),
    }
}

/// The physical lines of `content`, numbered from 1, without line ends or a leading BOM.
fn numbered_lines(content: &str) -> impl Iterator<Item = (usize, &str)> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    content
        .split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
}

/// Why a line cannot hold text targets at all, before any parsing.
fn not_text(line: &str) -> Option<String> {
    if line.contains('\0') {
        return Some("binary data (NUL bytes); is this a text file?".to_owned());
    }
    if line.contains(char::REPLACEMENT_CHARACTER) {
        return Some("not valid UTF-8 text".to_owned());
    }
    if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
        return Some(format!("control character {c:?}; is this a text file?"));
    }
    None
}

/// Parses the one entry a line or cell must hold.
fn one_entry(text: &str) -> Result<Entry, String> {
    let tokens = split_list(text);
    match tokens.as_slice() {
        [one] => parse_entry(one, CidrMode::Hosts),
        [] => Err("empty".to_owned()),
        many => Err(format!(
            "expected one entry, found {} ({})",
            many.len(),
            truncate_chars(&many.join(", "), 60)
        )),
    }
}

fn read_lines(
    file: &FileSelector,
    on_entry: &mut dyn FnMut(Entry),
    on_invalid: &mut dyn FnMut(usize, &str, String),
) {
    let mut skip_header = file.header();
    for (number, line) in numbered_lines(&file.content) {
        let text = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if text.is_empty() {
            continue;
        }
        if skip_header {
            skip_header = false;
            continue;
        }
        if let Some(reason) = not_text(text) {
            on_invalid(number, line, reason);
            continue;
        }
        match one_entry(text) {
            Ok(entry) => on_entry(entry),
            Err(reason) => on_invalid(number, line, reason),
        }
    }
}

fn read_csv(
    file: &FileSelector,
    on_entry: &mut dyn FnMut(Entry),
    on_invalid: &mut dyn FnMut(usize, &str, String),
) -> Result<(), FileError> {
    let delimiter = match file.delimiter {
        None => ',',
        Some(d)
            if d.is_ascii() && !matches!(d, '"' | '\n' | '\r') && !d.is_ascii_alphanumeric() =>
        {
            d
        }
        Some(d) => {
            return Err((
                "delimiter",
                format!(
                    "delimiter {d:?} must be one ASCII punctuation, space or tab character other than '\"'"
                ),
            ));
        }
    };
    let mut column: Option<usize> = None;
    let mut column_label = String::new();
    if !file.header() {
        let index = column_without_header(file.column.as_ref())?;
        column_label = format!("column {}", index + 1);
        column = Some(index);
    }
    for (number, line) in numbered_lines(&file.content) {
        if line.trim().is_empty() {
            continue;
        }
        let fields = match csv_fields(line, delimiter) {
            Ok(fields) => fields,
            Err(reason) if column.is_some() => {
                on_invalid(number, line, not_text(line).unwrap_or(reason));
                continue;
            }
            Err(reason) => {
                return Err((
                    "content",
                    format!("header line {number} is not valid CSV: {reason}"),
                ));
            }
        };
        let Some(index) = column else {
            let (index, label) = column_in_header(file, &fields)?;
            column_label = label;
            column = Some(index);
            continue;
        };
        if let Some(reason) = not_text(line) {
            on_invalid(number, line, reason);
            continue;
        }
        let Some(cell) = fields.get(index) else {
            let n = fields.len();
            let plural = if n == 1 { "" } else { "s" };
            on_invalid(
                number,
                line,
                format!("{column_label} is missing: the line has {n} field{plural}"),
            );
            continue;
        };
        match one_entry(cell) {
            Ok(entry) => on_entry(entry),
            Err(reason) if cell.trim().is_empty() => {
                debug_assert_eq!(reason, "empty");
                on_invalid(number, line, format!("{column_label} is empty"));
            }
            Err(reason) => on_invalid(number, line, format!("{column_label}: {reason}")),
        }
    }
    Ok(())
}

/// 0-based column index when the file has no header.
fn column_without_header(column: Option<&CsvColumn>) -> Result<usize, FileError> {
    match column {
        None => Ok(0),
        Some(CsvColumn::Index(i)) => index_from_one(*i),
        Some(CsvColumn::Name(name)) => match name.trim().parse::<usize>() {
            Ok(i) => index_from_one(i),
            Err(_) => Err((
                "column",
                format!(
                    "column {} is a name, but the file has no header line (has_header is false); give a column number",
                    quote(name)
                ),
            )),
        },
    }
}

fn index_from_one(i: usize) -> Result<usize, FileError> {
    i.checked_sub(1)
        .ok_or(("column", "columns are numbered from 1".to_owned()))
}

/// 0-based column index found in the header line, and how messages name the column.
fn column_in_header(file: &FileSelector, header: &[String]) -> Result<(usize, String), FileError> {
    let names = || {
        let shown: Vec<String> = header.iter().take(20).map(|h| quote(h.trim())).collect();
        let more = if header.len() > 20 { ", …" } else { "" };
        format!("{}{more}", shown.join(", "))
    };
    let file_name = if file.name.is_empty() {
        "the file".to_owned()
    } else {
        quote(&file.name)
    };
    let index = match &file.column {
        None => 0,
        Some(CsvColumn::Index(i)) => index_from_one(*i)?,
        Some(CsvColumn::Name(name)) => {
            let wanted = name.trim();
            match header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(wanted))
            {
                Some(i) => return Ok((i, format!("column {}", quote(wanted)))),
                None => match wanted.parse::<usize>() {
                    Ok(i) => index_from_one(i)?,
                    Err(_) => {
                        return Err((
                            "column",
                            format!(
                                "no column named {} in the header of {file_name} (columns: {})",
                                quote(name),
                                names()
                            ),
                        ));
                    }
                },
            }
        }
    };
    if index >= header.len() {
        let n = header.len();
        return Err((
            "column",
            format!(
                "column {} is past the last column of {file_name}: its header has {n} ({})",
                index + 1,
                names()
            ),
        ));
    }
    Ok((index, format!("column {}", index + 1)))
}

/// Splits one CSV line into fields: `"quoted"` fields may hold the delimiter and `""`.
fn csv_fields(line: &str, delimiter: char) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        while chars.peek().is_some_and(|c| *c == ' ' && delimiter != ' ') {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed".to_owned()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars
                .peek()
                .is_some_and(|c| c.is_whitespace() && *c != delimiter)
            {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(c) if c == delimiter => fields.push(field),
                Some(c) => {
                    return Err(format!("unexpected {c:?} after a closing quote"));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(c) if c == delimiter => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_handle_quotes_and_delimiters() {
        assert_eq!(csv_fields("a,b,,c", ',').unwrap(), vec!["a", "b", "", "c"]);
        assert_eq!(
            csv_fields(r#""x,1", "say ""hi""" ,z"#, ',').unwrap(),
            vec!["x,1", r#"say "hi""#, "z"]
        );
        assert_eq!(csv_fields("a;b", ';').unwrap(), vec!["a", "b"]);
        assert_eq!(csv_fields("a\tb", '\t').unwrap(), vec!["a", "b"]);
        assert_eq!(csv_fields("a,", ',').unwrap(), vec!["a", ""]);
        assert!(
            csv_fields(r#""open"#, ',')
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            csv_fields(r#""a"b"#, ',')
                .unwrap_err()
                .contains("after a closing quote")
        );
    }

    #[test]
    fn byte_order_marks_select_the_encoding() {
        assert_eq!(decode_file_bytes(b"\xEF\xBB\xBF10.0.0.1"), "10.0.0.1");
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("ip\n10.0.0.1".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_file_bytes(&utf16le), "ip\n10.0.0.1");
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("a".encode_utf16().flat_map(u16::to_be_bytes))
            .chain([0x00])
            .collect();
        assert_eq!(decode_file_bytes(&utf16be), "a\u{FFFD}");
        assert_eq!(decode_file_bytes(b"a\xFFb"), "a\u{FFFD}b");
    }
}
