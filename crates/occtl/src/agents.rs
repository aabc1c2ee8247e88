//! `occtl agents list`.

use std::process::ExitCode;

use opsconductor_proto::v1;
use serde_json::Value;

use crate::client::{Ctx, call, print, print_json, println};
use crate::render::{self, Table};

/// Lists the agents with their liveness.
pub async fn list(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let agents = ctx
        .fleet()
        .list_agents(call(v1::ListAgentsRequest {}))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner()
        .agents;
    if ctx.json() {
        print_json(&Value::from(
            agents.iter().map(render::agent_json).collect::<Vec<_>>(),
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    if agents.is_empty() {
        println("no agents")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new([
        "ID",
        "NAME",
        "SEGMENT",
        "VERSION",
        "STATE",
        "LAST SEEN",
        "CAPABILITIES",
    ]);
    for a in &agents {
        table.row([
            a.id.clone(),
            render::cell(&a.name, 40),
            a.segment.clone(),
            render::cell(&a.version, 20),
            if a.online { "online" } else { "offline" }.to_owned(),
            render::time_human(a.last_seen_at.as_ref()),
            a.capabilities.join(","),
        ]);
    }
    print(&table.render())?;
    Ok(ExitCode::SUCCESS)
}
