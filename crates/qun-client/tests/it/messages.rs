//! Sending and receiving messages: acks, ids, ext, offline delivery, refusals, resends.

use qun_client::{ChatType, ConnectOptions, Error, Incoming, ReceiveMode, Target, ext, frames};
use qun_proto::msync::StatusCode;

use crate::harness::{TestServer, assert_quiet, next_message};

#[tokio::test]
async fn group_members_exchange_texts_with_ext_both_ways() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    let (alice, mut alice_incoming) = server.connect("alice", "dev-a").await;
    let (bob, mut bob_incoming) = server.connect("bob", "dev-b").await;

    let sent = alice
        .send_group_text(&group, "hello bob", vec![ext::string("k1", "v1"), ext::int("n", 42), ext::bool("flag", true)])
        .await
        .expect("alice sends");
    assert!(sent.server_id > 0 && sent.meta_id > 0 && sent.timestamp > 0, "{sent:?}");
    let Incoming::Message { id, from, to, chat_type, text, contents, ext: extension, timestamp } =
        next_message(&mut bob_incoming).await
    else {
        unreachable!()
    };
    assert_eq!(id, sent.server_id, "the receiver sees the id the sender's ack carried");
    assert_eq!((from.as_str(), to.as_str(), chat_type), ("alice", group.as_str(), ChatType::GroupChat));
    assert_eq!((text.as_str(), contents.len()), ("hello bob", 1));
    assert_eq!(ext::get_str(&extension, "k1"), Some("v1"));
    assert_eq!(ext::get_int(&extension, "n"), Some(42));
    assert_eq!(ext::get_int(&extension, "flag"), Some(1));
    assert!(timestamp > 0);

    let reply = bob
        .send_group_text(&group, "hi alice", vec![ext::json("obj", &serde_json::json!({"a": [1, 2]}))])
        .await
        .expect("bob replies");
    // Alice's next message is Bob's: her own message came back to her connection only as an
    // echo, which the client drops.
    let Incoming::Message { id, from, text, ext: extension, .. } = next_message(&mut alice_incoming).await else {
        unreachable!()
    };
    assert_eq!((id, from.as_str(), text.as_str()), (reply.server_id, "bob", "hi alice"));
    assert_eq!(ext::get_str(&extension, "obj"), Some(r#"{"a":[1,2]}"#));
    assert_ne!(reply.server_id, sent.server_id);
    // Nothing else but group events (the queues are pulled in arrival order, so the events of
    // the group's creation may come before or after the messages).
    let is_event = |item: &Incoming| matches!(item, Incoming::GroupEvent { .. });
    assert_quiet(&mut alice_incoming, is_event).await;
    assert_quiet(&mut bob_incoming, is_event).await;
}

#[tokio::test]
async fn one_to_one_texts_both_ways() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let (alice, mut alice_incoming) = server.connect("alice", "dev-a").await;
    let (bob, mut bob_incoming) = server.connect("bob", "dev-b").await;

    let sent = alice.send_user_text("bob", "psst", vec![ext::double("pi", 3.25)]).await.expect("send");
    let Incoming::Message { id, from, to, chat_type, text, .. } = next_message(&mut bob_incoming).await else {
        unreachable!()
    };
    assert_eq!(
        (id, from.as_str(), to.as_str(), chat_type, text.as_str()),
        (sent.server_id, "alice", "bob", ChatType::Chat, "psst")
    );

    let reply = bob.send_user_text("alice", "what?", Vec::new()).await.expect("reply");
    let Incoming::Message { id, from, text, .. } = next_message(&mut alice_incoming).await else { unreachable!() };
    assert_eq!((id, from.as_str(), text.as_str()), (reply.server_id, "bob", "what?"));
}

#[tokio::test]
async fn messages_sent_while_offline_arrive_at_the_next_login_in_order() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    // Bob has been online on this device before, then left.
    let (bob, _) = server.connect("bob", "bobs-phone").await;
    bob.close().await;

    let (alice, _alice_incoming) = server.connect("alice", "dev-a").await;
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(alice.send_group_text(&group, &format!("while you were out {i}"), Vec::new()).await.expect("send"));
    }
    sent.push(alice.send_user_text("bob", "call me", Vec::new()).await.expect("send 1:1"));

    let (_bob, mut bob_incoming) = server.connect("bob", "bobs-phone").await;
    let mut received = Vec::new();
    for _ in 0..sent.len() {
        let Incoming::Message { id, text, .. } = next_message(&mut bob_incoming).await else { unreachable!() };
        received.push((id, text));
    }
    let group_part: Vec<u64> = received.iter().filter(|(_, t)| t.starts_with("while")).map(|(id, _)| *id).collect();
    assert_eq!(group_part, sent[..3].iter().map(|s| s.server_id).collect::<Vec<_>>(), "group messages in order");
    assert!(received.iter().any(|(id, text)| *id == sent[3].server_id && text == "call me"));
    // (The group's directJoined event for Bob may come too: his first visit did not stay to pull it.)
    assert_quiet(&mut bob_incoming, |item| !matches!(item, Incoming::Message { .. })).await;

    // Acknowledged by key: the next login of the device gets nothing again.
    let (bob_again, mut again_incoming) = server.connect("bob", "bobs-phone").await;
    assert_quiet(&mut again_incoming, |item| !matches!(item, Incoming::Message { .. })).await;
    bob_again.close().await;
}

#[tokio::test]
async fn a_muted_member_is_refused_with_the_servers_reason() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob", "carol"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    server.admin.mute_members(&group, &["bob"], 60_000).await.expect("mute");
    let (bob, _bob_incoming) = server.connect("bob", "dev-b").await;

    let refused = bob.send_group_text(&group, "can I speak?", Vec::new()).await;
    let Err(error) = refused else { panic!("a muted member sent") };
    assert!(matches!(&error, Error::SendRefused { meta_id, .. } if *meta_id > 0), "{error}");
    assert_eq!((error.msync_status(), error.reason()), (Some(StatusCode::UserMuted), Some("user is mute")));

    // Not a member at all.
    let (carol, _carol_incoming) = server.connect("carol", "dev-c").await;
    let refused = carol.send_group_text(&group, "let me in", Vec::new()).await.expect_err("not a member");
    assert_eq!((refused.msync_status(), refused.reason()), (Some(StatusCode::Fail), Some("not in group or chatroom")));
    assert_eq!(qun_client::Counters::get(&carol.counters().acks_refused), 1);
}

#[tokio::test]
async fn a_resend_with_the_same_meta_id_is_one_message() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    let (alice, _alice_incoming) = server.connect("alice", "dev-a").await;
    let (_bob, mut bob_incoming) = server.connect("bob", "dev-b").await;

    let target = Target::Group(group.clone());
    let body = frames::text_body("alice", &target, "only once", Vec::new());
    let first = alice.send(&target, body.clone()).await.expect("send");
    let again = alice.resend_with_meta_id(first.meta_id, &target, body).await.expect("resend");
    assert_eq!((again.server_id, again.meta_id), (first.server_id, first.meta_id));

    let Incoming::Message { id, .. } = next_message(&mut bob_incoming).await else { unreachable!() };
    assert_eq!(id, first.server_id);
    assert_quiet(&mut bob_incoming, |item| !matches!(item, Incoming::Message { .. })).await;
}

#[tokio::test]
async fn ids_only_mode_hands_out_ids_and_timestamps() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    let (alice, _alice_incoming) = server.connect("alice", "dev-a").await;
    let options = ConnectOptions { receive_mode: ReceiveMode::IdsOnly, ..ConnectOptions::default() };
    let (bob, mut bob_incoming) = server.connect_with("bob", "dev-b", options).await;

    let sent = alice.send_group_text(&group, "count me", Vec::new()).await.expect("send");
    let Incoming::MessageId { id, timestamp } = next_message(&mut bob_incoming).await else {
        panic!("a full message in ids-only mode")
    };
    assert_eq!(id, sent.server_id);
    assert!(timestamp > 0);
    assert_eq!(qun_client::Counters::get(&bob.counters().messages), 1);
}

#[tokio::test]
async fn a_dropped_receiver_still_counts_and_acknowledges() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    let (alice, _alice_incoming) = server.connect("alice", "dev-a").await;
    let (bob, bob_incoming) = server.connect("bob", "bobs-bench").await;
    drop(bob_incoming);

    for i in 0..20 {
        alice.send_group_text(&group, &format!("m{i}"), Vec::new()).await.expect("send");
    }
    let deadline = tokio::time::Instant::now() + crate::harness::WAIT;
    while qun_client::Counters::get(&bob.counters().messages) < 20 {
        assert!(tokio::time::Instant::now() < deadline, "bob counted {:?}", bob.counters());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Group messages are pushed to a caught-up session, which is asked to acknowledge them
    // once they have been quiet for 250 ms (the gateway's `ACK_QUIET`); closing sooner would
    // get the last ones again at the next login (the SDK drops them by id).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    bob.close().await;
    // Everything was acknowledged: the device's next login has nothing waiting.
    let (_bob, mut again) = server.connect("bob", "bobs-bench").await;
    assert_quiet(&mut again, |item| !matches!(item, Incoming::Message { .. })).await;
}
