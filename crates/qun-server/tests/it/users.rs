//! Users and tokens (agora-chat-api.md §1).

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

#[tokio::test]
async fn register_login_and_read() {
    on_every_backend!(|server: TestServer| async move {
        // Open registration: no token needed; one object gives one entity.
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
