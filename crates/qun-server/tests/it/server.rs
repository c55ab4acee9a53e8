//! Server-wide behaviour: health, unknown routes and apps, authentication errors.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, error_of, on_every_backend};

#[tokio::test]
async fn health_and_unknown_routes() {
    on_every_backend!(|server: TestServer| async move {
        let health = server.client.get(server.url("//health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let body: serde_json::Value = health.json().await.unwrap();
        assert_eq!((body["status"].as_str(), body["backend"].as_str()), (Some("ok"), Some(server.backend)), "{body}");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

        let (status, body) = server.admin(Method::GET, "/no/such/thing", None).await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
        assert!(body["timestamp"].is_i64() && body["error_description"].is_string(), "{body}");

        let (status, body) = server.call(Method::GET, "//nope/app/users", Some(&server.app_token), None).await;
        assert_eq!(error_of(status, &body), (404, "organization_application_not_found".into()));
    });
}

#[tokio::test]
async fn tokens_are_checked() {
    on_every_backend!(|server: TestServer| async move {
        // Management calls need a token.
        let (status, body) = server.call(Method::GET, "/users", None, None).await;
        assert_eq!(error_of(status, &body), (401, "unauthorized".into()));
        let (status, body) = server.call(Method::GET, "/users", Some("not-a-token"), None).await;
        assert_eq!(error_of(status, &body), (401, "unauthorized".into()));
        // Wrong client secret.
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"client_credentials","client_id":"test-client","client_secret":"nope"})),
            )
            .await;
        assert_eq!(error_of(status, &body), (401, "unauthorized".into()));
        // Unknown grant type and malformed JSON.
        let (status, body) = server.call(Method::POST, "/token", None, Some(json!({"grant_type":"magic"}))).await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));
        let response = server
            .client
            .post(server.url("/token"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "json_parse");
    });
}

#[tokio::test]
async fn success_envelope_has_agoras_fields() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["alice"]).await;
        let (status, body) = server.admin(Method::GET, "/users/alice?_v=1", None).await;
        assert_eq!(status, 200, "{body}");
        for field in [
            "action",
            "application",
            "applicationName",
            "organization",
            "uri",
            "path",
            "entities",
            "timestamp",
            "duration",
        ] {
            assert!(body.get(field).is_some(), "missing {field}: {body}");
        }
        assert_eq!(body["action"], "get");
        assert_eq!(body["organization"], "qun");
        assert_eq!(body["applicationName"], "test");
        assert_eq!(body["path"], "/users/alice");
        assert_eq!(body["params"]["_v"], json!(["1"]));
        assert!(body["uri"].as_str().unwrap().ends_with("/qun/test/users/alice"));
    });
}
