//! The authorization matrix: every REST route (from the router's own list,
//! `qun_server::rest::route_templates`, so a new route cannot be left out) and every method it
//! serves, called with no token, a garbage one, an expired one and another app's token, must
//! answer 401 — but the few routes that are public by design, listed here with the reason.
//! And a user's token may not act on another user's account.

use reqwest::Method;
use serde_json::json;

use crate::harness::TestServer;

/// The (method, route) pairs that answer without a token, and why.
const PUBLIC: &[(&str, &str, &str)] = &[
    ("POST", "/token", "the login itself"),
    ("POST", "/users", "registration: open registration decides (off: 400, the SDK's text)"),
    ("GET", "/chatfiles/{file}", "attachments load in <img src> without a token; the uuid and share secret open them"),
];

/// Routes whose refusals are all 400, and why.
const REFUSED_AS_400: &[(&str, &str, &str)] = &[(
    "POST",
    "/chatgroups/{group}/share_files",
    "the SDK's group file upload takes every answer but 400 for a success (sdk-behaviour.md)",
)];

/// Routes naming a user that another user's token may read, and why.
const OTHER_USERS_READABLE: &[(&str, &str, &str)] = &[];

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

fn fill(template: &str, group: &str, room: &str) -> String {
    template
        .replace("{group}", group)
        .replace("{room}", room)
        .replace("{users}", "alice")
        .replace("{user}", "alice")
        .replace("{file}", "0123456789abcdef")
}

/// One call, with an empty JSON body for the methods that take one.
async fn call(server: &TestServer, method: &Method, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let body = matches!(*method, Method::POST | Method::PUT).then(|| json!({}));
    server.call(method.clone(), path, token, body).await
}

#[tokio::test]
async fn every_route_refuses_callers_without_a_valid_token_of_this_app() {
    let server = TestServer::start(crate::harness::backends()[0]).await;
    server.users(&["alice", "bob", "carol"]).await;
    let group = server.group("alice", &["bob"], json!({})).await;
    let (status, body) = server
        .admin(Method::POST, "/chatrooms", Some(json!({"name": "r", "description": "d", "owner": "alice"})))
        .await;
    assert_eq!(status, 200, "{body}");
    let room = body["data"]["id"].as_str().expect("room id").to_owned();

    // An expired token: a real one, one second long.
    let (status, body) = server
        .call(
            Method::POST,
            "/token",
            None,
            Some(json!({"grant_type": "password", "username": "bob", "password": "pw-bob", "ttl": 1})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let expired = body["access_token"].as_str().expect("token").to_owned();
    // Another app's administrator.
    let other_secret = "the-other-apps-secret";
    server
        .state
        .store
        .ensure_app(&qun_store::NewApp {
            uuid: "other-app-uuid".into(),
            org: "qun".into(),
            name: "other".into(),
            client_id: "other-client".into(),
            client_secret_hash: qun_server::auth::token_hash(other_secret),
            settings: qun_store::AppSettings::default(),
            created_ms: 0,
        })
        .await
        .expect("another app");
    let (status, body) = server
        .call(
            Method::POST,
            "//qun/other/token",
            None,
            Some(
                json!({"grant_type": "client_credentials", "client_id": "other-client", "client_secret": other_secret}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let other_app = body["access_token"].as_str().expect("token").to_owned();
    let carol = server.login("carol").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    let templates = qun_server::rest::route_templates();
    assert!(templates.len() > 60, "the router lists its routes: {templates:?}");
    let mut checked = 0;
    let mut failures = Vec::new();
    for template in &templates {
        let path = fill(template, &group, &room);
        for method in METHODS {
            let method: Method = method.parse().expect("method");
            let (status, _) = call(&server, &method, &path, None).await;
            if status == 405 {
                continue; // not a method of this route
            }
            checked += 1;
            let listed =
                |list: &[(&str, &str, &str)]| list.iter().any(|(m, t, _)| *m == method.as_str() && t == template);
            let public = listed(PUBLIC);
            let refusal = if listed(REFUSED_AS_400) { 400 } else { 401 };
            for (who, token) in [
                ("no token", None),
                ("garbage", Some("not-a-token")),
                ("expired", Some(&expired[..])),
                ("other app", Some(&other_app[..])),
            ] {
                let (status, body) = call(&server, &method, &path, token).await;
                if status >= 500 || (!public && status != refusal) {
                    failures.push(format!("{method} {template} with {who}: {status} {body}"));
                }
            }
            // Another user's account: carol acting on alice's.
            let on_a_user = template.starts_with("/users/{user}") || template.starts_with("/sdk/users/{user}");
            let readable = listed(OTHER_USERS_READABLE);
            if on_a_user && !readable {
                let (status, body) = call(&server, &method, &path, Some(&carol)).await;
                if (200..300).contains(&status) || status >= 500 {
                    failures.push(format!("{method} {template} with another user's token: {status} {body}"));
                }
            }
            // The app administrator is never unauthorized (reads only: writes would change the
            // fixtures the other routes use).
            if method == Method::GET {
                let (status, body) = call(&server, &method, &path, Some(&server.app_token)).await;
                if status == 401 || status >= 500 {
                    failures.push(format!("{method} {template} with the app token: {status} {body}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} route methods:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 90, "only {checked} route methods were checked");
}
