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

/// The value of the sample `series` (name and labels, as written) in a `/metrics` text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_group_and_one_to_one_messages_logins_and_rest_calls() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob"]).await;
        let group = server.group("ann", &["bob"], json!({})).await;
        let ann = crate::harness::Device::connect(&server, "ann").await;
        let mut bob = crate::harness::Device::connect(&server, "bob").await;
        for i in 0..5 {
            ann.connection.send_group_text(&group, &format!("g{i}"), Vec::new()).await.expect("send");
        }
        ann.connection.send_user_text("bob", "hello", Vec::new()).await.expect("send");
        assert_eq!(bob.texts(6).await.len(), 6);
        let (status, _) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type": "password", "username": "ann", "password": "wrong"})),
            )
            .await;
        assert_eq!(status, 400);

        let response = server.client.get(server.url("//metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let get = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
        assert_eq!(get("qun_messages_accepted_total{kind=\"group\"}"), 5.0);
        assert_eq!(get("qun_messages_accepted_total{kind=\"chat\"}"), 1.0);
        assert_eq!(get("qun_messages_delivered_total{kind=\"group\"}"), 5.0, "to bob (ann sent them)");
        assert_eq!(get("qun_messages_delivered_total{kind=\"chat\"}"), 1.0);
        assert!(get("qun_delivery_latency_seconds_count{kind=\"group\"}") >= 1.0);
        assert!(get("qun_pulls_total") >= 2.0);
        assert!(get("qun_message_commit_seconds_count") >= 1.0);
        assert_eq!(get("qun_message_ack_seconds_count{kind=\"group\"}"), 5.0, "each of ann's sends");
        assert_eq!(get("qun_message_ack_seconds_count{kind=\"chat\"}"), 1.0);
        assert_eq!(get("qun_message_ack_seconds_count{kind=\"room\"}"), 0.0);
        assert_eq!(get("qun_message_writer_queue"), 0.0);
        assert_eq!(get("qun_sessions_online"), 2.0);
        assert!(get("qun_logins_total{via=\"rest\",result=\"ok\"}") >= 2.0);
        assert_eq!(get("qun_logins_total{via=\"rest\",result=\"refused\"}"), 1.0);
        assert_eq!(get("qun_logins_total{via=\"msync\",result=\"ok\"}"), 2.0);
        let route = "method=\"POST\",route=\"/{org}/{app}/chatgroups\",status=\"200\"";
        assert_eq!(get(&format!("qun_http_requests_total{{{route}}}")), 1.0);
        assert!(text.contains("qun_http_request_duration_seconds_bucket{method=\"POST\",route=\"/{org}/{app}/token\""));
        assert!(text.contains(&format!(
            "qun_build_info{{version=\"{}\",backend=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            server.backend
        )));
    });
}
