//! Command templates: the human-readable form of an action shown in the Job Builder's live
//! preview (`ping -c 4 -s 56 10.0.0.1`).
//!
//! Templates are parsed when the library loads ([`CommandTemplate::parse`]), so a broken
//! template is a library error, not a surprise at preview time. Rendering uses strict
//! undefined behaviour (a misspelt param is an error, not an empty string), a fuel limit (a
//! template loop cannot spin forever), masks every secret param before the engine sees it,
//! and caps the output length.

use std::fmt;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, Value};
use serde_json::Map;

/// Longest rendered preview, in characters; longer output is cut and marked.
pub const MAX_RENDERED_CHARS: usize = 4096;
/// What a secret param shows as in a preview.
pub const SECRET_MASK: &str = "••••••";
/// Longest template source accepted.
const MAX_TEMPLATE_CHARS: usize = 16 * 1024;
/// Instructions a render may spend before it is stopped.
const RENDER_FUEL: u64 = 50_000;
const NAME: &str = "command";

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template syntax error{}: {message}", line.map(|l| format!(" on line {l}")).unwrap_or_default())]
pub struct TemplateParseError {
    /// 1-based line inside the template, when the engine knows it.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// A template that parsed but could not be rendered with the given values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template render error{}: {message}", line.map(|l| format!(" on line {l}")).unwrap_or_default())]
pub struct TemplateRenderError {
    /// 1-based line inside the template, when the engine knows it.
    pub line: Option<usize>,
    /// What is wrong, e.g. `undefined value` for a param the template names but nobody set.
    pub message: String,
}

/// A rendered preview.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rendered {
    /// The text, at most [`MAX_RENDERED_CHARS`] characters plus a truncation marker.
    pub text: String,
    /// True when the text was cut.
    pub truncated: bool,
}

/// A parsed command template, cheap to clone.
#[derive(Clone)]
pub struct CommandTemplate {
    source: Arc<str>,
    env: Arc<Environment<'static>>,
}

impl fmt::Debug for CommandTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CommandTemplate")
            .field(&self.source)
            .finish()
    }
}

impl CommandTemplate {
    /// Parses a template.
    pub fn parse(source: &str) -> Result<Self, TemplateParseError> {
        if source.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(TemplateParseError {
                line: None,
                message: format!("template is longer than {MAX_TEMPLATE_CHARS} characters"),
            });
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(RENDER_FUEL));
        env.set_recursion_limit(32);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| TemplateParseError {
                line: e.line(),
                message: describe(&e),
            })?;
        Ok(Self {
            source: source.into(),
            env: Arc::new(env),
        })
    }

    /// The template source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with `params` plus `target`; params named in `secret_params` are masked
    /// before rendering, so a secret can never reach the output.
    pub fn render(
        &self,
        params: &Map<String, serde_json::Value>,
        target: &str,
        secret_params: &[String],
    ) -> Result<Rendered, TemplateRenderError> {
        let mut context = params.clone();
        for name in secret_params {
            if context.contains_key(name) {
                context.insert(
                    name.clone(),
                    serde_json::Value::String(SECRET_MASK.to_owned()),
                );
            }
        }
        context.insert(
            "target".to_owned(),
            serde_json::Value::String(target.to_owned()),
        );
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TemplateRenderError {
                line: None,
                message: describe(&e),
            })?;
        let text = template
            .render(Value::from(minijinja::value::Serde(&context)))
            .map_err(|e| TemplateRenderError {
                line: e.line(),
                message: describe(&e),
            })?;
        Ok(cap(text))
    }
}

fn cap(text: String) -> Rendered {
    if text.chars().count() <= MAX_RENDERED_CHARS {
        return Rendered {
            text,
            truncated: false,
        };
    }
    let mut cut: String = text.chars().take(MAX_RENDERED_CHARS).collect();
    cut.push('…');
    Rendered {
        text: cut,
        truncated: true,
    }
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn renders_params_and_target() {
        let t = CommandTemplate::parse("ping -c {{ count }} -s {{ size }} {{ target }}").unwrap();
        let out = t
            .render(&params(json!({"count": 4, "size": 56})), "10.0.0.1", &[])
            .unwrap();
        assert_eq!(out.text, "ping -c 4 -s 56 10.0.0.1");
        assert!(!out.truncated);
    }

    #[test]
    fn secret_params_are_masked_before_rendering() {
        let t = CommandTemplate::parse("snmpget -c {{ community }} {{ target }}").unwrap();
        let out = t
            .render(
                &params(json!({"community": "s3cret"})),
                "h",
                &["community".into()],
            )
            .unwrap();
        assert!(!out.text.contains("s3cret"));
        assert!(out.text.contains(SECRET_MASK));
    }

    #[test]
    fn syntax_errors_are_parse_errors_with_a_line() {
        let err = CommandTemplate::parse("line one\n{{ count ").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.to_string().contains("syntax"), "{err}");
    }

    #[test]
    fn unknown_params_are_render_errors_not_empty_strings() {
        let t = CommandTemplate::parse("ping {{ cuont }} {{ target }}").unwrap();
        let err = t.render(&Map::new(), "h", &[]).unwrap_err();
        assert!(err.message.contains("undefined"), "{err}");
    }

    #[test]
    fn output_is_capped() {
        let t = CommandTemplate::parse("{% for i in range(3000) %}xy{% endfor %}").unwrap();
        match t.render(&Map::new(), "h", &[]) {
            Ok(out) => {
                assert!(out.truncated);
                assert_eq!(out.text.chars().count(), MAX_RENDERED_CHARS + 1);
            }
            Err(e) => assert!(e.message.contains("fuel"), "{e}"),
        }
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let t = CommandTemplate::parse(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        )
        .unwrap();
        let err = t.render(&Map::new(), "h", &[]).unwrap_err();
        assert!(err.message.contains("fuel"), "{err}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsing_and_rendering_arbitrary_text_never_panics(src in "\\PC{0,120}") {
                if let Ok(t) = CommandTemplate::parse(&src) {
                    let _ = t.render(&Map::new(), "10.0.0.1", &[]);
                }
            }

            #[test]
            fn plain_text_renders_unchanged(text in "[a-zA-Z0-9 ._/-]{0,200}") {
                let t = CommandTemplate::parse(&text).unwrap();
                prop_assert_eq!(t.render(&Map::new(), "x", &[]).unwrap().text, text);
            }

            #[test]
            fn secrets_never_appear_in_output(secret in "[a-zA-Z0-9]{8,24}") {
                let t = CommandTemplate::parse("x {{ pw }} {{ pw | upper }} {{ target }}").unwrap();
                let p = params(json!({"pw": secret.clone()}));
                let out = t.render(&p, "host", &["pw".to_owned()]).unwrap();
                prop_assert!(!out.text.contains(&secret));
            }
        }
    }
}
