//! `occtl groups list | members`.

use std::io::Write as _;
use std::process::ExitCode;

use opsconductor_proto::v1;
use serde_json::{Value, json};

use crate::cli::GroupsCommand;
use crate::client::{Ctx, call, print, print_json, println};
use crate::render::{self, Table};

/// Runs one `groups` subcommand.
pub async fn run(ctx: &Ctx, command: GroupsCommand) -> anyhow::Result<ExitCode> {
    match command {
        GroupsCommand::List => list(ctx).await,
        GroupsCommand::Members { name, limit } => members(ctx, name, limit).await,
    }
}

async fn list(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let groups = ctx
        .inventory()
        .list_groups(call(v1::ListGroupsRequest {}))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner()
        .groups;
    if ctx.json() {
        print_json(&Value::from(
            groups.iter().map(render::group_json).collect::<Vec<_>>(),
        ))?;
    } else if groups.is_empty() {
        println("no groups")?;
    } else {
        print(&table(&groups))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Groups as a table: a dynamic group's filter or a static group's members.
fn table(groups: &[v1::Group]) -> String {
    let mut table = Table::new(["NAME", "KIND", "MEMBERS", "DEFINITION", "DESCRIPTION"]);
    for g in groups {
        let definition = g.filter.clone().unwrap_or_else(|| g.members.join(", "));
        table.row([
            render::cell(&g.name, 40),
            render::group_kind(g.kind),
            g.member_count.to_string(),
            render::cell(&definition, 50),
            render::cell(&g.description, 40),
        ]);
    }
    table.render()
}

async fn members(ctx: &Ctx, name: String, limit: u32) -> anyhow::Result<ExitCode> {
    let resolved = ctx
        .inventory()
        .resolve_group(call(v1::ResolveGroupRequest {
            name: name.clone(),
            limit,
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        print_json(&json!({
            "name": name,
            "count": resolved.count,
            "members": resolved.members,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    // One target a line, so the output feeds other tools; the count goes to stderr.
    let mut text = String::new();
    for member in &resolved.members {
        text.push_str(member);
        text.push('\n');
    }
    print(&text)?;
    let listed = resolved.members.len() as u64;
    let note = if resolved.count > listed {
        format!(
            "{name}: {} targets, the first {listed} listed (raise --limit for more)",
            resolved.count
        )
    } else {
        format!("{name}: {} targets", resolved.count)
    };
    let _ = writeln!(std::io::stderr().lock(), "{note}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_show_their_filter_or_their_members() {
        let groups = [
            v1::Group {
                name: "lab".to_owned(),
                kind: v1::GroupKind::Dynamic.into(),
                filter: Some("tag = lab".to_owned()),
                member_count: 3,
                description: "lab gear".to_owned(),
                ..Default::default()
            },
            v1::Group {
                name: "pair".to_owned(),
                kind: v1::GroupKind::Static.into(),
                members: vec!["192.0.2.10".to_owned(), "192.0.2.0/30".to_owned()],
                member_count: 5,
                ..Default::default()
            },
        ];
        assert_eq!(
            table(&groups),
            "NAME  KIND     MEMBERS  DEFINITION                DESCRIPTION\n\
             lab   dynamic  3        tag = lab                 lab gear\n\
             pair  static   5        192.0.2.10, 192.0.2.0/30\n"
        );
    }
}
