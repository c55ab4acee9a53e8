//! Users and tokens (agora-chat-api.md §1).

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

#[tokio::test]
async fn register_login_and_read() {
    on_every_backend!(|server: TestServer| async move {
        // Open registration: no token needed; one object gives one entity.
        let (status, body) = server.admin(Method::PUT, "/settings/registration", Some(json!({"open": true}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server
            .call(Method::POST, "/users", None, Some(json!({"username":"Alice","password":"pw-alice","nickname":"Al"})))
            .await;
        assert_eq!(status, 200, "{body}");
        let entity = &body["entities"][0];
        assert_eq!(entity["username"], "alice", "user ids are folded to lower case");
        assert_eq!(entity["type"], "user");
        assert_eq!(entity["activated"], true);
        assert_eq!(entity["nickname"], "Al");
        assert_eq!(entity["uuid"].as_str().unwrap().len(), 36);

        // Registering the same name again is refused.
        let (status, body) =
            server.call(Method::POST, "/users", None, Some(json!({"username":"alice","password":"x"}))).await;
        assert_eq!(error_of(status, &body), (400, "duplicate_unique_property_exists".into()));

        // Password login gives a user token with the user.
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"alice","password":"pw-alice","timestamp":1})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["access_token"].as_str().unwrap().len() > 20);
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["user"]["username"], "alice");
        let token = body["access_token"].as_str().unwrap().to_owned();

        // The user reads themself, not others; the SDK's expiry call answers an absolute time.
        let (status, _) = server.call(Method::GET, "/users/alice", Some(&token), None).await;
        assert_eq!(status, 200);
        server.users(&["bob"]).await;
        let (status, body) = server.call(Method::GET, "/users/bob", Some(&token), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = server.call(Method::GET, "/sdk/users/alice/token/expires", Some(&token), None).await;
        assert_eq!(status, 200);
        // The SDK's renewToken reads `expire_timestamp` at the top level (absolute ms).
        let expires = body["data"]["expires_in"].as_i64().unwrap();
        assert!(expires > 1_700_000_000_000);
        assert_eq!(body["expire_timestamp"].as_i64(), Some(expires), "{body}");

        // Wrong password and unknown user, with the SDK's strings.
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"alice","password":"bad"})),
            )
            .await;
        assert_eq!((status, body["error_description"].as_str()), (400, Some("invalid password")));
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"nobody","password":"x"})),
            )
            .await;
        assert_eq!((status, body["error_description"].as_str()), (404, Some("user not found")));
    });
}

#[tokio::test]
async fn batch_registration_reports_each_failure() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["taken"]).await;
        let batch = json!([
            {"username":"u1","password":"p"},
            {"username":"taken","password":"p"},
            {"username":"bad name","password":"p"},
            {"username":"u2","password":""},
            {"username":"u3","password":"p"}
        ]);
        let (status, body) = server.admin(Method::POST, "/users", Some(batch)).await;
        assert_eq!(status, 200, "{body}");
        let created: Vec<&str> =
            body["entities"].as_array().unwrap().iter().map(|e| e["username"].as_str().unwrap()).collect();
        assert_eq!(created, ["u1", "u3"]);
        let failed: Vec<&str> =
            body["data"].as_array().unwrap().iter().map(|e| e["username"].as_str().unwrap()).collect();
        assert_eq!(failed.len(), 3, "{body}");
        assert!(failed.contains(&"taken") && failed.contains(&"bad name") && failed.contains(&"u2"));
        assert!(body["data"][0]["registerUserFailReason"].is_string());

        // More than 60 at once is refused whole.
        let too_many: Vec<Value> = (0..61).map(|i| json!({"username": format!("x{i}"), "password":"p"})).collect();
        let (status, body) = server.admin(Method::POST, "/users", Some(Value::Array(too_many))).await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));
        let (_, body) = server.admin(Method::GET, "/users/x0", None).await;
        assert_eq!(body["error"], "service_resource_not_found");
    });
}

#[tokio::test]
async fn password_change_and_deactivation_revoke_tokens() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["carol"]).await;
        let token = server.login("carol").await;
        let (status, _) = server.call(Method::GET, "/users/carol", Some(&token), None).await;
        assert_eq!(status, 200);

        let (status, body) = server
            .call(Method::PUT, "/users/carol/password", Some(&token), Some(json!({"newpassword":"new-pw"})))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, _) = server.call(Method::GET, "/users/carol", Some(&token), None).await;
        assert_eq!(status, 401, "the old token is revoked");
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"carol","password":"new-pw"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();

        let (status, body) = server.admin(Method::POST, "/users/carol/deactivate", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["entities"][0]["activated"], false);
        assert_eq!(body["action"], "Deactivate user");
        let (status, _) = server.call(Method::GET, "/users/carol", Some(&token), None).await;
        assert_eq!(status, 401, "deactivation revokes tokens");
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"carol","password":"new-pw"})),
            )
            .await;
        assert_eq!((status, body["error_description"].as_str()), (400, Some("user not activated")));

        let (status, _) = server.admin(Method::POST, "/users/carol/activate", None).await;
        assert_eq!(status, 200);
        let (status, _) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"carol","password":"new-pw"})),
            )
            .await;
        assert_eq!(status, 200);
    });
}

#[tokio::test]
async fn inherit_grant_and_user_admin_calls() {
    on_every_backend!(|server: TestServer| async move {
        // inherit needs the app token.
        let (status, _) =
            server.call(Method::POST, "/token", None, Some(json!({"grant_type":"inherit","username":"dave"}))).await;
        assert_eq!(status, 401);
        let (status, body) =
            server.admin(Method::POST, "/token", Some(json!({"grant_type":"inherit","username":"dave"}))).await;
        assert_eq!((status, body["error_description"].as_str()), (404, Some("user not found")));
        let (status, body) = server
            .admin(
                Method::POST,
                "/token",
                Some(json!({"grant_type":"inherit","username":"dave","autoCreateUser":true,"ttl":0})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expires_in"], 0, "ttl 0 never expires");
        let token = body["access_token"].as_str().unwrap().to_owned();
        let (status, _) = server.call(Method::GET, "/users/dave", Some(&token), None).await;
        assert_eq!(status, 200);
        // "Never" is told as a time far ahead (0 would make the SDK close at once).
        let (_, body) = server.call(Method::GET, "/sdk/users/dave/token/expires", Some(&token), None).await;
        assert!(body["expire_timestamp"].as_i64().unwrap() > 100 * 365 * 24 * 3_600_000, "{body}");

        // A user token cannot list or delete users.
        let (status, _) = server.call(Method::GET, "/users", Some(&token), None).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::DELETE, "/users/dave", Some(&token), None).await;
        assert_eq!(status, 403);

        // Nickname update.
        let (status, body) = server.call(Method::PUT, "/users/dave", Some(&token), Some(json!({"nickname":"D"}))).await;
        assert_eq!((status, body["entities"][0]["nickname"].as_str()), (200, Some("D")));

        // Delete revokes the token; a second delete is a 404.
        let (status, _) = server.admin(Method::DELETE, "/users/dave", None).await;
        assert_eq!(status, 200);
        let (status, _) = server.call(Method::GET, "/users/dave", Some(&token), None).await;
        assert_eq!(status, 401);
        let (status, body) = server.admin(Method::DELETE, "/users/dave", None).await;
        assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()));
    });
}

#[tokio::test]
async fn user_list_pages_with_a_cursor() {
    on_every_backend!(|server: TestServer| async move {
        let names: Vec<String> = (0..7).map(|i| format!("user{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        server.users(&refs).await;
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) = server.admin(Method::GET, &format!("/users?limit=3&cursor={cursor}"), None).await;
            assert_eq!(status, 200, "{body}");
            seen.extend(
                body["entities"].as_array().unwrap().iter().map(|e| e["username"].as_str().unwrap().to_owned()),
            );
            match body["cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, names);
        let (status, body) = server.admin(Method::GET, "/users?limit=0", None).await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));
    });
}

#[tokio::test]
async fn failed_logins_are_throttled_per_user() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["erin", "frank"]).await;
        for _ in 0..10 {
            let (status, _) = server
                .call(
                    Method::POST,
                    "/token",
                    None,
                    Some(json!({"grant_type":"password","username":"erin","password":"wrong"})),
                )
                .await;
            assert_eq!(status, 400);
        }
        // Even the right password is refused for the rest of the minute.
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"erin","password":"pw-erin"})),
            )
            .await;
        assert_eq!(error_of(status, &body), (429, "reach_limit".into()));
        // Other users are unaffected.
        server.login("frank").await;
    });
}

/// A password or inherit login of a user who does not exist: 404 `invalid_grant`, as the
/// catalogue says (the SDK stops retrying on "user not found").
#[tokio::test]
async fn unknown_users_are_an_invalid_grant_not_found() {
    on_every_backend!(|server: TestServer| async move {
        for body in [
            json!({"grant_type":"password","username":"nobody","password":"x"}),
            json!({"grant_type":"password","username":"Not A Name!","password":"x"}),
        ] {
            let (status, reply) = server.call(Method::POST, "/token", None, Some(body)).await;
            assert_eq!(error_of(status, &reply), (404, "invalid_grant".into()), "{reply}");
            assert_eq!(reply["error_description"], "user not found");
        }
        let (status, reply) =
            server.admin(Method::POST, "/token", Some(json!({"grant_type":"inherit","username":"nobody"}))).await;
        assert_eq!(error_of(status, &reply), (404, "invalid_grant".into()), "{reply}");
        assert_eq!(reply["error_description"], "user not found");
        // A wrong password keeps its own reply.
        server.users(&["known"]).await;
        let (status, reply) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":"known","password":"x"})),
            )
            .await;
        assert_eq!(error_of(status, &reply), (400, "invalid_grant".into()), "{reply}");
        assert_eq!(reply["error_description"], "invalid password");
    });
}

/// An unknown user's login takes about as long as a wrong password's (a dummy hash is
/// verified), so timing does not tell which user names exist. A ratio of medians, robust
/// on a loaded machine: without the dummy hash it is ~1/20.
#[tokio::test]
async fn unknown_user_logins_take_as_long_as_wrong_passwords() {
    on_every_backend!(|server: TestServer| async move {
        const N: usize = 15;
        let names: Vec<String> = (0..N).map(|i| format!("timed{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        server.users(&refs).await;
        let login = |name: String| {
            let server = &server;
            async move {
                let started = std::time::Instant::now();
                let (status, _) = server
                    .call(
                        Method::POST,
                        "/token",
                        None,
                        Some(json!({"grant_type":"password","username":name,"password":"wrong"})),
                    )
                    .await;
                (status, started.elapsed())
            }
        };
        // One login of each kind first, so neither median pays for warming up.
        login("warmup-ghost".into()).await;
        login(names[0].clone()).await;
        let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
        for (i, name) in names.iter().enumerate() {
            // Each user once, so the failed-login throttle never answers instead.
            let (status, elapsed) = login(name.clone()).await;
            assert_eq!(status, 400);
            wrong.push(elapsed);
            let (status, elapsed) = login(format!("ghost{i}")).await;
            assert_eq!(status, 404);
            unknown.push(elapsed);
        }
        unknown.sort();
        wrong.sort();
        let (unknown, wrong) = (unknown[N / 2], wrong[N / 2]);
        eprintln!("[{}] median login: unknown user {unknown:?}, wrong password {wrong:?}", server.backend);
        assert!(unknown * 2 >= wrong, "unknown user {unknown:?} vs wrong password {wrong:?}");
    });
}

/// NUL (U+0000) is refused in every JSON text and in paths and queries, on both backends
/// (PostgreSQL cannot store it), and a refused change changes nothing.
#[tokio::test]
async fn nul_in_text_is_refused_and_changes_nothing() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["olga", "max"]).await;
        let group = server.group("olga", &["max"], json!({})).await;
        let refused = |status: u16, body: &Value| {
            assert_eq!(error_of(status, body), (400, "illegal_argument".into()), "{body}");
            assert!(body["error_description"].as_str().unwrap().contains("NUL"), "{body}");
        };

        // A group name, at creation and in a change.
        let (status, body) = server
            .admin(Method::POST, "/chatgroups", Some(json!({"groupname":"a\u{0}b","public":true,"owner":"olga"})))
            .await;
        refused(status, &body);
        let (status, body) =
            server.admin(Method::PUT, &format!("/chatgroups/{group}"), Some(json!({"groupname":"a\u{0}b"}))).await;
        refused(status, &body);
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{group}"), None).await;
        assert_eq!(body["data"][0]["name"], "g", "{body}");

        // A nickname.
        let (status, body) = server.admin(Method::PUT, "/users/max", Some(json!({"nickname":"m\u{0}"}))).await;
        refused(status, &body);
        let (_, body) = server.admin(Method::GET, "/users/max", None).await;
        assert_eq!(body["entities"][0]["nickname"].as_str().unwrap_or(""), "", "{body}");

        // An announcement.
        let path = format!("/chatgroups/{group}/announcement");
        let (status, _) = server.admin(Method::POST, &path, Some(json!({"announcement":"before"}))).await;
        assert_eq!(status, 200);
        let (status, body) = server.admin(Method::POST, &path, Some(json!({"announcement":"after\u{0}"}))).await;
        refused(status, &body);
        let (_, body) = server.admin(Method::GET, &path, None).await;
        assert_eq!(body["data"]["announcement"], "before");

        // A member attribute (value and key).
        let path = format!("/metadata/chatgroup/{group}/user/max");
        let (status, _) = server.admin(Method::PUT, &path, Some(json!({"metaData":{"role":"dev"}}))).await;
        assert_eq!(status, 200);
        for metadata in [json!({"role":"d\u{0}v"}), json!({"ro\u{0}le":"x"})] {
            let (status, body) = server.admin(Method::PUT, &path, Some(json!({ "metaData": metadata }))).await;
            refused(status, &body);
        }
        let (_, body) = server.admin(Method::GET, &path, None).await;
        assert_eq!(body["data"], json!({"role":"dev"}), "{body}");

        // A literal backslash followed by "u0000" is text like any other.
        let (status, body) = server.admin(Method::PUT, "/users/max", Some(json!({"nickname":"a\\u0000b"}))).await;
        assert_eq!(status, 200, "{body}");
        let (_, body) = server.admin(Method::GET, "/users/max", None).await;
        assert_eq!(body["entities"][0]["nickname"], "a\\u0000b");

        // Raw text from the path or the query.
        let (status, body) = server.admin(Method::GET, &format!("/chatgroups/{group}/share_files/a%00b"), None).await;
        refused(status, &body);
        let (status, body) = server.admin(Method::GET, "/users?cursor=a%00b", None).await;
        refused(status, &body);
    });
}

/// The envelope's `uri` names the host the request used; every JSON reply ends with a newline.
#[tokio::test]
async fn replies_name_the_requests_host_and_end_with_a_newline() {
    on_every_backend!(|server: TestServer| async move {
        let get = |host: Option<&'static str>, proto: Option<&'static str>, path: &'static str| {
            let mut request = server.client.get(server.url(path)).bearer_auth(&server.app_token);
            if let Some(host) = host {
                request = request.header("Host", host);
            }
            if let Some(proto) = proto {
                request = request.header("X-Forwarded-Proto", proto);
            }
            async move {
                let reply = request.send().await.expect("request");
                let status = reply.status().as_u16();
                (status, reply.text().await.expect("body"))
            }
        };
        let (status, text) = get(None, None, "/users").await;
        assert_eq!(status, 200);
        assert!(text.ends_with("}\n"), "{text:?}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["uri"], format!("http://{}/qun/test/users", server.address));

        let (_, text) = get(Some("chat.example.com:8443"), Some("https"), "/users").await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["uri"], "https://chat.example.com:8443/qun/test/users");
        let (_, text) = get(Some("chat.example.com"), None, "/users").await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["uri"], "http://chat.example.com/qun/test/users");

        // Errors, and replies outside the envelope.
        let (status, text) = get(None, None, "/users/nobody").await;
        assert_eq!(status, 404);
        assert!(text.ends_with("}\n"), "{text:?}");
        let (status, text) = get(None, None, "//no/such/route/at/all").await;
        assert_eq!(status, 404);
        assert!(text.ends_with("}\n"), "{text:?}");
        let reply = server
            .client
            .post(server.url("/token"))
            .json(&json!({"grant_type":"client_credentials","client_id":"test-client","client_secret":"test-secret"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert!(reply.text().await.unwrap().ends_with("}\n"));
    });
}

/// The SDK's register call matches this text to tell a closed registration apart.
const REGISTRATION_CLOSED: &str = "Open registration doesn't allow";

#[tokio::test]
async fn closed_registration_needs_the_app_token() {
    on_every_backend!(|server: TestServer| async move {
        // A new app's open registration is off.
        let (status, body) = server.admin(Method::GET, "/settings/registration", None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"open": false})), "{body}");

        // Anonymous single and batch registrations are refused with Agora's error (a 400, so
        // the SDK passes the description on), and register nobody.
        let one = json!({"username":"anon","password":"pw"});
        let many = json!([{"username":"anon1","password":"pw"},{"username":"anon2","password":"pw"}]);
        for body in [one.clone(), many.clone()] {
            let (status, reply) = server.call(Method::POST, "/users", None, Some(body)).await;
            assert_eq!(error_of(status, &reply), (400, "unauthorized".into()), "{reply}");
            assert!(reply["error_description"].as_str().unwrap().contains(REGISTRATION_CLOSED), "{reply}");
        }
        // A user token is no better than none; nor may a user read or change the setting.
        server.users(&["member"]).await;
        let member = server.login("member").await;
        let (status, reply) = server.call(Method::POST, "/users", Some(&member), Some(one.clone())).await;
        assert_eq!(error_of(status, &reply), (400, "unauthorized".into()), "{reply}");
        assert!(reply["error_description"].as_str().unwrap().contains(REGISTRATION_CLOSED), "{reply}");
        let (status, _) =
            server.call(Method::PUT, "/settings/registration", Some(&member), Some(json!({"open": true}))).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::GET, "/settings/registration", None, None).await;
        assert_eq!(status, 401);
        for name in ["anon", "anon1", "anon2"] {
            let (status, _) = server.admin(Method::GET, &format!("/users/{name}"), None).await;
            assert_eq!(status, 404, "{name} was not registered");
        }

        // The app token always registers, single and batch.
        let (status, reply) = server.admin(Method::POST, "/users", Some(one.clone())).await;
        assert_eq!(status, 200, "{reply}");
        let (status, reply) = server.admin(Method::POST, "/users", Some(many)).await;
        assert_eq!((status, reply["entities"].as_array().map(Vec::len)), (200, Some(2)), "{reply}");

        // Opened over REST: anonymous and user-token registrations work.
        let (status, reply) = server.admin(Method::PUT, "/settings/registration", Some(json!({"open": true}))).await;
        assert_eq!((status, &reply["data"]), (200, &json!({"open": true})), "{reply}");
        let (status, reply) =
            server.call(Method::POST, "/users", None, Some(json!({"username":"walkin","password":"pw"}))).await;
        assert_eq!(status, 200, "{reply}");
        let batch = json!([{"username":"walkin1","password":"pw"}]);
        let (status, reply) = server.call(Method::POST, "/users", Some(&member), Some(batch)).await;
        assert_eq!(status, 200, "{reply}");
        let (status, reply) = server
            .call(Method::PUT, "/settings/registration", Some(&server.app_token), Some(json!({"open": "yes"})))
            .await;
        assert_eq!(status, 400, "{reply}");

        // The setting is kept in the store: a restarted state reads it back.
        let stored = server.state.store.app_by_key("qun", "test").await.unwrap().unwrap();
        assert!(stored.settings.open_registration);
        let restarted = qun_server::AppState::open((*server.state.config).clone()).await.unwrap();
        let app = restarted.app("qun", "test").await.unwrap().unwrap();
        assert!(app.settings.open_registration, "the setting survives a restart");
        assert_eq!(app.settings.plan, stored.settings.plan, "other settings are kept");

        // Closed again: refused again.
        let (status, _) = server.admin(Method::PUT, "/settings/registration", Some(json!({"open": false}))).await;
        assert_eq!(status, 200);
        let (status, reply) =
            server.call(Method::POST, "/users", None, Some(json!({"username":"late","password":"pw"}))).await;
        assert_eq!(error_of(status, &reply), (400, "unauthorized".into()), "{reply}");
    });
}

#[tokio::test]
async fn the_config_sets_the_default_apps_open_registration() {
    for backend in crate::harness::backends() {
        let server = TestServer::start_with(backend, |config| config.open_registration = Some(true)).await;
        let (status, reply) =
            server.call(Method::POST, "/users", None, Some(json!({"username":"walkin","password":"pw"}))).await;
        assert_eq!(status, 200, "{reply}");
        let (_, reply) = server.admin(Method::GET, "/settings/registration", None).await;
        assert_eq!(reply["data"], json!({"open": true}));

        // At a start, the configured value wins over the stored one; unset, the stored one stands.
        let mut config = (*server.state.config).clone();
        config.open_registration = Some(false);
        let restarted = qun_server::AppState::open(config.clone()).await.unwrap();
        assert!(!restarted.app("qun", "test").await.unwrap().unwrap().settings.open_registration);
        config.open_registration = None;
        let restarted = qun_server::AppState::open(config).await.unwrap();
        assert!(!restarted.app("qun", "test").await.unwrap().unwrap().settings.open_registration);
    }
}
