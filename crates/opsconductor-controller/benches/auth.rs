//! What signing in and checking a caller cost on the controller's CPU:
//!
//! - `argon2id hash` / `argon2id verify`: a login (or a new password) — deliberately slow,
//!   19 MiB and 2 passes, run on the blocking pool so it never stalls the async workers;
//! - `jwt verify`: the signature, algorithm and claims check every request with an access
//!   token pays before the (cached) session lookup;
//! - `jwt issue`: signing a new access token (login, refresh).
//!
//! Run: `cargo bench -p opsconductor-controller --bench auth`. No services needed.

use chrono::Utc;
use criterion::{Criterion, criterion_main};
use opsconductor_controller::auth::{password, tokens::AccessTokens};
use opsconductor_core::access::Role;
use opsconductor_core::ids::{SessionId, UserId};

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let phc = runtime
        .block_on(password::hash("correct horse battery".to_owned()))
        .expect("hash");
    let mut group = c.benchmark_group("auth");
    group.sample_size(20);
    group.bench_function("argon2id hash", |b| {
        b.iter(|| runtime.block_on(password::hash("correct horse battery".to_owned())));
    });
    group.bench_function("argon2id verify", |b| {
        b.iter(|| {
            runtime.block_on(password::verify(
                "correct horse battery".to_owned(),
                Some(phc.clone()),
            ))
        });
    });
    group.finish();

    let tokens = AccessTokens::new(b"bench-key-0123456789abcdef0123456789", "opsconductor");
    let now = Utc::now();
    let issue = || {
        tokens
            .issue(
                UserId::new(),
                "alice",
                Role::Operator,
                SessionId::new(),
                now,
                now + chrono::Duration::minutes(5),
            )
            .expect("issue")
    };
    let token = issue();
    c.bench_function("auth/jwt issue", |b| b.iter(issue));
    c.bench_function("auth/jwt verify", |b| {
        b.iter(|| tokens.verify(std::hint::black_box(&token)).expect("valid"));
    });
    c.final_summary();
}

criterion_main!(benches);
