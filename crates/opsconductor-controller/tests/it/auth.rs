//! Signing in against a real controller: access tokens that must be refused (`alg:
//! none`, another algorithm, expired, another audience or issuer, a changed signature or
//! payload, a deleted user), refresh tokens that rotate and end their session when reused,
//! revocation that reaches a second replica within seconds, the login rate limit, API
//! tokens within their owner's role, the audit log, and the first-admin bootstrap.

use opsconductor_store::prelude::*;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN, ADMIN_PASSWORD, RunningController, TEST_AUTH_KEY, TestBroker, controller_config,
    wait_for,
};
use crate::rest::Http;
use opsconductor_store::testing::fresh_database;

const PASSWORD: &str = "a long test password";

/// Logs `username` in; the token response.
async fn login(
    controller: &RunningController,
    username: &str,
    password: &str,
) -> (StatusCode, Value) {
    Http::with_token(controller, None)
        .post(
            "/api/v1/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
}

/// Whether `token` is accepted (by `GET /api/v1/auth/me`).
async fn accepted(controller: &RunningController, token: &str) -> StatusCode {
    Http::with_token(controller, Some(token))
        .get("/api/v1/auth/me")
        .await
        .0
}

fn access_token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

/// The claims of a real token, decoded without checking (to re-sign them altered).
fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn sign(claims: &Value, algorithm: Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn access_tokens_that_are_not_exactly_ours_are_refused() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let (status, body) = login(&controller, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(!body.to_string().contains(ADMIN_PASSWORD));
    let token = access_token(&body);
    assert_eq!(accepted(&controller, &token).await, StatusCode::OK);
    let claims = claims_of(&token);
    assert_eq!(claims["aud"], "opsconductor-api");
    assert_eq!(claims["iss"], "opsconductor");
    let key = TEST_AUTH_KEY.as_bytes();

    // The same claims re-signed correctly are fine: the refusals below are each for the
    // one thing changed.
    assert_eq!(
        accepted(&controller, &sign(&claims, Algorithm::HS256, key)).await,
        StatusCode::OK
    );
    let unsigned = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(claims.to_string())
        )
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(Utc::now().timestamp() - 120);
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("another-api");
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("someone-else");
    let mut no_expiry = claims.clone();
    no_expiry.as_object_mut().unwrap().remove("exp");
    let mut tampered_signature = token.clone();
    let last = tampered_signature.pop().unwrap();
    tampered_signature.push(if last == 'A' { 'B' } else { 'A' });
    let tampered_payload = {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims.clone();
        forged["sub"] = json!(uuid::Uuid::now_v7().to_string());
        use base64::Engine as _;
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        parts.join(".")
    };
    let refused = [
        ("alg none", unsigned),
        ("HS512", sign(&claims, Algorithm::HS512, key)),
        ("HS384", sign(&claims, Algorithm::HS384, key)),
        ("expired", sign(&expired, Algorithm::HS256, key)),
        (
            "wrong audience",
            sign(&other_audience, Algorithm::HS256, key),
        ),
        ("wrong issuer", sign(&other_issuer, Algorithm::HS256, key)),
        ("no exp", sign(&no_expiry, Algorithm::HS256, key)),
        (
            "other key",
            sign(
                &claims,
                Algorithm::HS256,
                b"another key, another key, another key",
            ),
        ),
        ("tampered signature", tampered_signature),
        ("tampered payload", tampered_payload),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, bad) in refused {
        let (status, headers, body) = Http::with_token(&controller, Some(&bad))
            .call(reqwest::Method::GET, "/api/v1/jobs", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{what}"
        );
        assert!(headers.contains_key("www-authenticate"), "{what}");
    }

    // A deleted user's token dies with them.
    let admin = Http::new(&controller);
    let (status, user) = admin
        .post(
            "/api/v1/users",
            json!({"username": "dora", "role": "operator", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (_, dora) = login(&controller, "dora", PASSWORD).await;
    let dora = access_token(&dora);
    assert_eq!(accepted(&controller, &dora).await, StatusCode::OK);
    let (status, _, _) = admin
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{}", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(accepted(&controller, &dora).await, StatusCode::UNAUTHORIZED);
    controller.stop().await;
}

#[tokio::test]
async fn a_refresh_token_works_once_and_reusing_it_ends_the_session() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let anonymous = Http::with_token(&controller, None);
    let (_, first) = login(&controller, ADMIN, ADMIN_PASSWORD).await;
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, second) = anonymous
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": first_refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_access = access_token(&second);
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh, "refresh tokens rotate");
    assert_eq!(accepted(&controller, &second_access).await, StatusCode::OK);
    assert_eq!(
        accepted(&controller, &access_token(&first)).await,
        StatusCode::OK,
        "the old access token lives on until it expires or the session ends"
    );

    // The first refresh token again: someone else has it. The session ends.
    let (status, body) = anonymous
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": first_refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    assert_eq!(
        accepted(&controller, &second_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        accepted(&controller, &access_token(&first)).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = anonymous
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the newest refresh token died too"
    );
    let (status, _) = anonymous
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": "ocr_made_up"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The audit log says what happened.
    let (_, audit) = Http::new(&controller)
        .get("/api/v1/audit?action=auth.refresh_reused")
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    controller.stop().await;
}

#[tokio::test]
async fn logout_password_change_disabling_and_role_changes_reach_another_replica_within_seconds() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let one = RunningController::start(controller_config(&db, &broker)).await;
    let two = RunningController::start(controller_config(&db, &broker)).await;
    let admin = Http::new(&one);
    let (status, user) = admin
        .post(
            "/api/v1/users",
            json!({"username": "vic", "role": "viewer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let user_path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let within = Duration::from_secs(5);

    // Logout on replica one; replica two (which has the token cached) follows.
    let (_, session) = login(&one, "vic", PASSWORD).await;
    let token = access_token(&session);
    assert_eq!(accepted(&two, &token).await, StatusCode::OK);
    let (status, _) = Http::with_token(&one, Some(&token))
        .post("/api/v1/auth/logout", json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        accepted(&one, &token).await,
        StatusCode::UNAUTHORIZED,
        "at once here"
    );
    wait_for(
        "replica two to refuse the logged-out token",
        within,
        || async { accepted(&two, &token).await == StatusCode::UNAUTHORIZED },
    )
    .await;

    // A role change applies to live sessions.
    let (_, session) = login(&one, "vic", PASSWORD).await;
    let token = access_token(&session);
    let vic_on_two = Http::with_token(&two, Some(&token));
    let job = json!({"name": "vic's job", "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
        "actions": [{"command": "ping.icmp"}]});
    let (status, _) = vic_on_two.post("/api/v1/jobs", job.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &user_path,
            Some(json!({"role": "operator"})),
        )
        .await
        .into_first_and_last();
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for("replica two to see the new role", within, || async {
        vic_on_two
            .post("/api/v1/jobs/validate", job.clone())
            .await
            .0
            == StatusCode::OK
            && vic_on_two.get("/api/v1/auth/me").await.1["role"] == "operator"
    })
    .await;

    // Disabling ends the session everywhere, and the user cannot log in.
    let (status, _) = admin
        .call(
            reqwest::Method::PUT,
            &user_path,
            Some(json!({"disabled": true})),
        )
        .await
        .into_first_and_last();
    assert_eq!(status, StatusCode::OK);
    wait_for("replica two to refuse a disabled user", within, || async {
        accepted(&two, &token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(
        login(&one, "vic", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = admin
        .call(
            reqwest::Method::PUT,
            &user_path,
            Some(json!({"disabled": false})),
        )
        .await
        .into_first_and_last();
    assert_eq!(status, StatusCode::OK);

    // A password change ends every session of the user.
    let (_, session) = login(&one, "vic", PASSWORD).await;
    let token = access_token(&session);
    let (status, body) = Http::with_token(&one, Some(&token))
        .post(
            "/api/v1/auth/password",
            json!({"current_password": "wrong", "new_password": "a brand new password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "current_password");
    let (status, body) = Http::with_token(&one, Some(&token))
        .post(
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert!(!body.to_string().contains("short\""), "{body}");
    let (status, _) = Http::with_token(&one, Some(&token))
        .post(
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD, "new_password": "a brand new password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_for(
        "replica two to refuse a session from before the change",
        within,
        || async { accepted(&two, &token).await == StatusCode::UNAUTHORIZED },
    )
    .await;
    assert_eq!(
        login(&two, "vic", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&two, "vic", "a brand new password").await.0,
        StatusCode::OK
    );

    // The last admin stays an admin.
    let (_, me) = admin.get("/api/v1/auth/me").await;
    let admin_path = format!("/api/v1/users/{}", me["user"]["id"].as_str().unwrap());
    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &admin_path,
            Some(json!({"role": "viewer"})),
        )
        .await
        .into_first_and_last();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _, _) = admin.call(reqwest::Method::DELETE, &admin_path, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    one.stop().await;
    two.stop().await;
}

/// `(status, body)` of a [`Http::call`] answer.
trait FirstAndLast {
    fn into_first_and_last(self) -> (StatusCode, Value);
}

impl FirstAndLast for (StatusCode, reqwest::header::HeaderMap, Value) {
    fn into_first_and_last(self) -> (StatusCode, Value) {
        (self.0, self.2)
    }
}

#[tokio::test]
async fn failed_logins_lock_the_account_and_then_the_address_until_the_window_passes() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let mut config = controller_config(&db, &broker);
    config.login_max_failures_per_account = 3;
    config.login_max_failures_per_address = 8;
    config.login_failure_window = Duration::from_secs(600);
    let controller = RunningController::start(config).await;
    let admin = Http::new(&controller);
    for name in ["ann", "ben"] {
        let (status, body) = admin
            .post(
                "/api/v1/users",
                json!({"username": name, "role": "viewer", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // A name or password no account can have is refused by field, and not counted.
    let (status, body) = login(&controller, &"x".repeat(65), "whatever").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "username");
    let (status, body) = login(&controller, "ann", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "password");

    // A success forgets the account's failures.
    for _ in 0..2 {
        assert_eq!(
            login(&controller, "ann", "wrong").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&controller, "ANN", PASSWORD).await.0,
        StatusCode::OK,
        "any case"
    );
    for _ in 0..2 {
        assert_eq!(
            login(&controller, "ann", "wrong").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(login(&controller, "ann", PASSWORD).await.0, StatusCode::OK);

    // Three failures in a row lock the account, even for the right password.
    for _ in 0..3 {
        let (status, body) = login(&controller, "ann", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["detail"], "unauthorized: wrong user name or password");
    }
    let (status, headers, body) = Http::with_token(&controller, None)
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            Some(json!({"username": "ann", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    assert!(
        body["detail"].as_str().unwrap().contains("this account"),
        "{body}"
    );
    // An unknown name counts like a known one (nothing tells them apart).
    assert_eq!(
        login(&controller, "nobody", "wrong").await.0,
        StatusCode::UNAUTHORIZED
    );

    // The address counts every failure (a success forgets only the account's): 2 + 2 +
    // 3 for ann and 1 for nobody make 8, its limit, so ben is refused from here too.
    let (status, body) = login(&controller, "ben", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("this address"),
        "{body}"
    );

    // Failed logins are audited with the name tried, never the password.
    let (_, audit) = admin.get("/api/v1/audit?action=auth.login_failed").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 8, "{audit}");
    assert!(items.iter().any(|e| e["actor_name"] == "nobody"));
    assert!(!audit.to_string().contains("wrong\""));
    controller.stop().await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_stay_within_their_owners_role_and_can_be_revoked() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let admin = Http::new(&controller);
    let (status, body) = admin
        .post(
            "/api/v1/users",
            json!({"username": "olga", "role": "operator", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, session) = login(&controller, "olga", PASSWORD).await;
    let olga = Http::with_token(&controller, Some(&access_token(&session)));

    // Not above the owner's role.
    let (status, body) = olga
        .post("/api/v1/api-tokens", json!({"name": "ci", "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "role");

    let (status, created) = olga
        .post(
            "/api/v1/api-tokens",
            json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("oct_"));
    let (status, _) = olga.post("/api/v1/api-tokens", json!({"name": "ci"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique per owner");
    let (_, listed) = olga.get("/api/v1/api-tokens").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&token), "shown once: {listed}");

    // The viewer-scoped token reads but does not write.
    let ci = Http::with_token(&controller, Some(&token));
    assert_eq!(ci.get("/api/v1/jobs").await.0, StatusCode::OK);
    let (_, me) = ci.get("/api/v1/auth/me").await;
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["credential"], "api_token");
    let (status, _) = ci
        .post("/api/v1/jobs/bulk", json!({"action": "disable", "ids": []}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = olga.get("/api/v1/api-tokens?all=true").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only admins list everyone's tokens"
    );
    let (_, all) = admin.get("/api/v1/api-tokens?all=true").await;
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["username"] == "olga")
    );

    // Someone else's token is not theirs to revoke; the owner's is.
    let (status, other) = admin
        .post("/api/v1/api-tokens", json!({"name": "admin's"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let other_path = format!("/api/v1/api-tokens/{}", other["id"].as_str().unwrap());
    let (status, _, _) = olga.call(reqwest::Method::DELETE, &other_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let path = format!("/api/v1/api-tokens/{}", created["id"].as_str().unwrap());
    let (status, _, _) = olga.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(ci.get("/api/v1/jobs").await.0, StatusCode::UNAUTHORIZED);
    controller.stop().await;
}

#[tokio::test]
async fn changes_are_in_the_audit_log_with_who_what_and_versions_and_never_a_password() {
    let (_store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    let admin = Http::new(&controller);
    let (status, user) = admin
        .post(
            "/api/v1/users",
            json!({"username": "opal", "display_name": "Opal", "role": "operator", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert!(
        !user.to_string().contains("argon2"),
        "no hash in views: {user}"
    );
    let user_path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let (status, _, _) = admin
        .call(
            reqwest::Method::PUT,
            &user_path,
            Some(json!({"role": "viewer", "password": "another long password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = admin
        .call(
            reqwest::Method::PUT,
            &user_path,
            Some(json!({"role": "operator"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A stale If-Match changes nothing.
    let stale = admin
        .client()
        .put(format!("{}{user_path}", admin.base()))
        .header("if-match", "\"1\"")
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    let stale = (stale.status(), stale.text().await.unwrap());
    assert_eq!(stale.0, StatusCode::PRECONDITION_FAILED, "{}", stale.1);
    let (_, now) = admin.get(&user_path).await;
    assert_eq!(
        (now["role"].as_str(), now["version"].as_i64()),
        (Some("operator"), Some(3))
    );

    let (_, session) = login(&controller, "opal", "another long password").await;
    let opal = Http::with_token(&controller, Some(&access_token(&session)));
    let (status, job) = opal
        .post(
            "/api/v1/jobs",
            json!({"name": "audited", "schedule": {"type": "manual"},
                "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
                "actions": [{"command": "ping.icmp"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_id = job["id"].as_str().unwrap();
    let job_path = format!("/api/v1/jobs/{job_id}");
    let (status, _) = opal.post(&format!("{job_path}/disable"), json!({})).await;
    assert!(status.is_success());

    // Viewers and operators do not read the audit log.
    assert_eq!(opal.get("/api/v1/audit").await.0, StatusCode::FORBIDDEN);
    let (status, audit) = admin
        .get(&format!("/api/v1/audit?target_id={job_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["POST /api/v1/jobs/{id}/disable", "POST /api/v1/jobs"],
        "{audit}"
    );
    assert_eq!(items[0]["actor_name"], "opal");
    assert_eq!(items[0]["actor_kind"], "user");
    assert_eq!(items[0]["target_kind"], "jobs");
    assert_eq!(items[0]["summary"]["version_after"], 2, "{audit}");
    assert_eq!(items[0]["address"], "127.0.0.1");

    let (_, users) = admin.get("/api/v1/audit?action=user.").await;
    let users = users["items"].as_array().unwrap().clone();
    let update = users
        .iter()
        .find(|e| e["action"] == "user.update" && e["summary"]["password_changed"] == true)
        .unwrap();
    assert_eq!(update["summary"]["before"]["role"], "operator");
    assert_eq!(update["summary"]["after"]["role"], "viewer");
    assert_eq!(update["actor_name"], ADMIN);
    assert!(users.iter().any(|e| e["action"] == "user.bootstrap"));
    let (_, everything) = admin.get("/api/v1/audit?limit=1000").await;
    let text = everything.to_string();
    for secret in [PASSWORD, "another long password", ADMIN_PASSWORD, "argon2"] {
        assert!(!text.contains(secret), "{secret:?} in the audit log");
    }

    // Pages are newest first and the cursor walks back.
    let (_, first) = admin.get("/api/v1/audit?limit=2").await;
    let before = first["next_before"].as_i64().unwrap();
    let (_, second) = admin
        .get(&format!("/api/v1/audit?limit=2&before={before}"))
        .await;
    assert!(second["items"][0]["id"].as_i64().unwrap() < before);
    let (status, body) = admin.get("/api/v1/audit?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "limit");
    controller.stop().await;
}

#[tokio::test]
async fn the_first_admin_is_bootstrapped_once_and_never_overwritten() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let mut config = controller_config(&db, &broker);
    config.bootstrap_admin = Some("root".to_owned());
    let controller = RunningController::start(config.clone()).await;
    assert_eq!(store.count_users().await.unwrap(), 1);
    let (status, session) = login(&controller, "root", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["user"]["role"], "admin");
    let root = Http::with_token(&controller, Some(&access_token(&session)));
    let (status, _) = root
        .post(
            "/api/v1/auth/password",
            json!({"current_password": ADMIN_PASSWORD, "new_password": "root's own password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    controller.stop().await;

    // A restart with the same settings leaves the changed password alone.
    let controller = RunningController::start(config).await;
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert_eq!(
        login(&controller, "root", ADMIN_PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&controller, "root", "root's own password").await.0,
        StatusCode::OK
    );
    controller.stop().await;

    // A bootstrap password that breaks the policy stops the start with a clear error.
    let (_store, db) = fresh_database().await;
    let mut config = controller_config(&db, &broker);
    config.bootstrap_admin_password = Some(opsconductor_controller::vault::InlineKey::new("short"));
    let err = opsconductor_controller::Controller::build(config)
        .await
        .err()
        .expect("refused");
    let err = format!("{err:#}");
    assert!(
        err.contains("bootstrap_admin") && err.contains("password"),
        "{err}"
    );
    assert!(!err.contains("short\""), "{err}");
}
