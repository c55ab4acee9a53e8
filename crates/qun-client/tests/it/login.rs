//! Logging in and out, kicks and the connection's life cycle.

use qun_client::pb::statistics_body::Operation as StatisticsOperation;
use qun_client::{Connection, Error, Incoming};
use qun_proto::msync::StatusCode;
use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, next, next_message};

#[tokio::test]
async fn a_bad_token_is_refused_with_the_sdks_reason() {
    let server = TestServer::start().await;
    server.users(&["alice"]).await;
    let refused = Connection::connect(&server.ws_url, "qun#test", "alice", "not-a-token", "dev-a").await;
    let Err(error) = refused else { panic!("a bogus token logged in") };
    assert!(matches!(&error, Error::LoginRefused { reason, .. } if reason == "Sorry, token expired"), "{error}");
    assert_eq!(error.msync_status(), Some(StatusCode::Unauthorized));

    // Another user's token is no better.
    server.users(&["bob"]).await;
    let bobs = server.login("bob").await;
    let refused = Connection::connect(&server.ws_url, "qun#test", "alice", &bobs, "dev-a").await;
    assert_eq!(refused.err().and_then(|e| e.reason().map(str::to_owned)).as_deref(), Some("Sorry, token expired"));

    // An unknown app.
    let token = server.login("alice").await;
    let refused = Connection::connect(&server.ws_url, "qun#nope", "alice", &token, "dev-a").await;
    assert!(matches!(refused, Err(Error::LoginRefused { .. })));
    server.wait_for_sessions(0).await;
}

#[tokio::test]
async fn close_logs_out_and_ends_the_channel() {
    let server = TestServer::start().await;
    server.users(&["alice"]).await;
    let (alice, mut incoming) = server.connect("alice", "dev-a").await;
    server.wait_for_sessions(1).await;
    assert!(!alice.resource().is_empty());
    alice.heartbeat().await.expect("heartbeat");

    alice.close().await;
    assert!(alice.is_closed());
    assert_eq!(next(&mut incoming).await, Incoming::Closed);
    server.wait_for_sessions(0).await;
    // After the close, calls fail at once instead of waiting for a timeout.
    assert!(matches!(alice.send_user_text("alice", "x", Vec::new()).await, Err(Error::Closed)));
    assert!(matches!(alice.heartbeat().await, Err(Error::Closed)));
    alice.close().await;
}

#[tokio::test]
async fn dropping_every_handle_logs_out() {
    let server = TestServer::start().await;
    server.users(&["alice"]).await;
    let (alice, mut incoming) = server.connect("alice", "dev-a").await;
    server.wait_for_sessions(1).await;
    drop(alice);
    assert_eq!(next(&mut incoming).await, Incoming::Closed);
    server.wait_for_sessions(0).await;
}

#[tokio::test]
async fn a_password_change_kicks_the_connection() {
    let server = TestServer::start().await;
    server.users(&["alice"]).await;
    let (_alice, mut incoming) = server.connect("alice", "dev-a").await;
    server.wait_for_sessions(1).await;
    server
        .admin
        .call_ok(Method::PUT, "/users/alice/password", Some(json!({"newpassword": "another"})))
        .await
        .expect("password change");
    assert_eq!(
        next(&mut incoming).await,
        Incoming::Kicked { operation: StatisticsOperation::UserKickedByChangePassword as i32 }
    );
    assert_eq!(next(&mut incoming).await, Incoming::Closed);
}

#[tokio::test]
async fn the_same_device_logging_in_again_replaces_its_old_connection() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let (_old, mut old_incoming) = server.connect("alice", "dev-a").await;
    server.wait_for_sessions(1).await;
    let (_new, mut new_incoming) = server.connect("alice", "dev-a").await;
    assert_eq!(
        next(&mut old_incoming).await,
        Incoming::Kicked { operation: StatisticsOperation::UserLoginAnotherDevice as i32 }
    );
    assert_eq!(next(&mut old_incoming).await, Incoming::Closed);
    server.wait_for_sessions(1).await;

    // The new connection works.
    let (bob, _bob_incoming) = server.connect("bob", "dev-b").await;
    let sent = bob.send_user_text("alice", "still there?", Vec::new()).await.expect("send");
    let Incoming::Message { id, .. } = next_message(&mut new_incoming).await else { unreachable!() };
    assert_eq!(id, sent.server_id);
}

#[tokio::test]
async fn close_does_not_wait_for_an_application_that_stopped_reading() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    let (alice, _alice_incoming) = server.connect("alice", "dev-a").await;
    let options = qun_client::ConnectOptions { incoming_capacity: 1, ..Default::default() };
    let (bob, _never_read) = server.connect_with("bob", "dev-b", options).await;
    for i in 0..5 {
        alice.send_group_text(&group, &format!("m{i}"), Vec::new()).await.expect("send");
    }
    // Bob's task is stuck handing out the second item; close still completes.
    tokio::time::timeout(crate::harness::WAIT, bob.close()).await.expect("close completes");
    assert!(bob.is_closed());
}

#[tokio::test]
async fn a_silent_connection_sends_heartbeats_and_stays_up() {
    let server = TestServer::start().await;
    server.users(&["alice"]).await;
    let options =
        qun_client::ConnectOptions { heartbeat_interval: std::time::Duration::from_millis(100), ..Default::default() };
    let (alice, _incoming) = server.connect_with("alice", "dev-a", options).await;
    let frames_in = |c: &Connection| qun_client::Counters::get(&c.counters().frames_in);
    let before = frames_in(&alice);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // Each heartbeat (UNREAD) is answered with the unread summary.
    assert!(frames_in(&alice) >= before + 3, "{:?}", alice.counters());
    assert!(!alice.is_closed());
    server.wait_for_sessions(1).await;
}
