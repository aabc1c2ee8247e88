//! `occtl library validate | preview | parse`: the controller's libraries, so the answer
//! is the one the controller will give when the job is saved or run.

use std::process::ExitCode;

use anyhow::Context as _;
use opsconductor_proto::v1;
use serde_json::{Map, Value, json};

use crate::cli::LibraryCommand;
use crate::client::{Ctx, call, print, print_json, println, read_input};
use crate::render::{self, Table};

/// Runs one `library` subcommand.
pub async fn run(ctx: &Ctx, command: LibraryCommand) -> anyhow::Result<ExitCode> {
    match command {
        LibraryCommand::Validate { file } => {
            let text = read_input(&file)?;
            validate(ctx, &file.display().to_string(), text).await
        }
        LibraryCommand::Preview {
            command,
            params,
            target,
        } => preview(ctx, command, &params, target).await,
        LibraryCommand::Parse {
            parser_id,
            definition,
            sample,
        } => {
            let parser = match (parser_id, definition) {
                (Some(id), _) => v1::test_parser_request::Parser::ParserId(id),
                (None, Some(path)) => {
                    v1::test_parser_request::Parser::DefinitionJson(read_input(&path)?)
                }
                (None, None) => anyhow::bail!("give a parser id or --definition FILE"),
            };
            parse(ctx, parser, read_input(&sample)?).await
        }
    }
}

async fn validate(ctx: &Ctx, name: &str, spec_json: String) -> anyhow::Result<ExitCode> {
    let answer = ctx
        .library()
        .validate_job(call(v1::ValidateJobRequest { spec_json }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        let errors: Vec<Value> = answer
            .errors
            .iter()
            .map(|e| json!({"field": e.field, "message": e.message}))
            .collect();
        print_json(&json!({"valid": answer.valid, "errors": errors}))?;
    } else if answer.valid {
        println(&format!("{name}: valid"))?;
    } else {
        let mut text = format!(
            "{name}: {} problem{}\n",
            answer.errors.len(),
            if answer.errors.len() == 1 { "" } else { "s" }
        );
        for e in &answer.errors {
            let field = if e.field.is_empty() {
                "(job)"
            } else {
                &e.field
            };
            text.push_str(&format!("  {field}: {}\n", e.message));
        }
        print(&text)?;
    }
    Ok(if answer.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `name=value` pairs as a params object; values that are JSON stay typed.
fn params_object(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut params = Map::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--param {pair:?}: expected NAME=VALUE"))?;
        let name = name.trim();
        if name.is_empty() {
            anyhow::bail!("--param {pair:?}: the name is empty");
        }
        let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| Value::from(value));
        params.insert(name.to_owned(), value);
    }
    Ok(params)
}

async fn preview(
    ctx: &Ctx,
    command: String,
    params: &[String],
    target: Option<String>,
) -> anyhow::Result<ExitCode> {
    let params = params_object(params)?;
    let preview = ctx
        .library()
        .preview_command(call(v1::PreviewCommandRequest {
            command,
            params_json: Value::Object(params).to_string(),
            target,
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        print_json(&json!({
            "command": preview.command,
            "kind": preview.kind,
            "params": render::inline_json(&preview.params_json),
            "text": preview.text,
            "truncated": preview.truncated,
        }))?;
    } else {
        println(&preview.text)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn parse(
    ctx: &Ctx,
    parser: v1::test_parser_request::Parser,
    sample: String,
) -> anyhow::Result<ExitCode> {
    let parsed = ctx
        .library()
        .test_parser(call(v1::TestParserRequest {
            parser: Some(parser),
            sample,
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    let fields = render::inline_json(&parsed.fields_json);
    let rows = render::inline_json(&parsed.rows_json);
    if ctx.json() {
        print_json(&json!({"fields": fields, "rows": rows, "errors": parsed.errors}))?;
    } else {
        print(&parsed_human(&fields, &rows, &parsed.errors))?;
    }
    Ok(if parsed.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Fields as `name  value` lines, rows as a table with every column any row has, then the
/// problems.
fn parsed_human(fields: &Value, rows: &Value, errors: &[String]) -> String {
    let mut text = String::new();
    if let Some(fields) = fields.as_object().filter(|f| !f.is_empty()) {
        text.push_str("fields:\n");
        let mut table = Table::new(["  NAME", "VALUE"]);
        for (name, value) in fields {
            table.row([format!("  {name}"), render::value_cell(value)]);
        }
        text.push_str(&table.render());
    }
    if let Some(rows) = rows.as_array().filter(|r| !r.is_empty()) {
        let mut columns: Vec<String> = Vec::new();
        for row in rows.iter().filter_map(Value::as_object) {
            for key in row.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
        text.push_str(&format!("rows ({}):\n", rows.len()));
        let mut table = Table::new(columns.iter().map(|c| c.to_uppercase()));
        for row in rows.iter().filter_map(Value::as_object) {
            table.row(columns.iter().map(|c| {
                render::cell(&row.get(c).map(render::value_cell).unwrap_or_default(), 60)
            }));
        }
        text.push_str(&table.render());
    }
    if text.is_empty() {
        text.push_str("nothing extracted\n");
    }
    if !errors.is_empty() {
        text.push_str("problems:\n");
        for e in errors {
            text.push_str(&format!("  {e}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_json_types_and_fall_back_to_text() {
        let params = params_object(&[
            "count=5".to_owned(),
            "family=ipv4".to_owned(),
            "verbose=true".to_owned(),
            "community=a=b".to_owned(),
        ])
        .expect("parses");
        assert_eq!(params["count"], 5);
        assert_eq!(params["family"], "ipv4");
        assert_eq!(params["verbose"], true);
        assert_eq!(params["community"], "a=b");
        assert!(params_object(&["novalue".to_owned()]).is_err());
        assert!(params_object(&["=1".to_owned()]).is_err());
    }

    #[test]
    fn parsed_output_lists_fields_rows_and_problems() {
        let text = parsed_human(
            &json!({"sent": 3}),
            &json!([{"if": "eth0", "up": true}, {"if": "eth1", "speed": 1000}]),
            &["line 3: no match".to_owned()],
        );
        assert!(text.contains("  sent  3"), "{text}");
        assert!(text.contains("IF    UP    SPEED"), "{text}");
        assert!(text.contains("eth1        1000"), "{text}");
        assert!(text.contains("problems:\n  line 3: no match"), "{text}");
    }
}
