//! The msync gateway end to end, through the Rust client: ordering, exactly-once across
//! reconnects, the 200 cap, every send-permission rule, live events, devices.

use std::time::Duration;

use qun_client::{Connection, Error as ClientError, Incoming, ext};
use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc;

use crate::harness::{TestServer, on_every_backend, refusal, texts_in};

/// How long a test waits for something that should arrive at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// One logged-in device of a user, with what it received.
struct Device {
    connection: Connection,
    incoming: mpsc::Receiver<Incoming>,
}

impl Device {
    async fn connect(server: &TestServer, user: &str, device: &str) -> Device {
        let token = server.login(user).await;
        Device::connect_with_token(server, user, &token, device).await.expect("login")
    }

    async fn connect_with_token(
        server: &TestServer,
        user: &str,
        token: &str,
        device: &str,
    ) -> Result<Device, ClientError> {
        let url = format!("ws://{}/websocket", server.address);
        let (connection, incoming) = Connection::connect(&url, "qun#test", user, token, device).await?;
        Ok(Device { connection, incoming })
    }

    /// The next `n` messages' texts, in arrival order (events are skipped).
    async fn texts(&mut self, n: usize) -> Vec<String> {
        let mut texts = Vec::new();
        while texts.len() < n {
            match tokio::time::timeout(PATIENCE, self.incoming.recv()).await {
                Ok(Some(Incoming::Message { text, .. })) => texts.push(text),
                Ok(Some(Incoming::Closed)) | Ok(None) => {
                    panic!("closed after {} of {n} messages: {texts:?}", texts.len())
                }
                Ok(Some(_)) => {}
                Err(_) => panic!("only {} of {n} messages arrived: {texts:?}", texts.len()),
            }
        }
        texts
    }

    /// Everything that arrives within `quiet` of the last item.
    async fn drain(&mut self, quiet: Duration) -> Vec<Incoming> {
        let mut items = Vec::new();
        while let Ok(Some(item)) = tokio::time::timeout(quiet, self.incoming.recv()).await {
            items.push(item);
        }
        items
    }

    /// The next group event with this SDK operation name.
    async fn event(&mut self, operation: &str) -> Incoming {
        loop {
            match tokio::time::timeout(PATIENCE, self.incoming.recv()).await {
                Ok(Some(item @ Incoming::GroupEvent { operation: op, .. }))
                    if qun_client::operation_name(op) == operation =>
                {
                    return item;
                }
                Ok(Some(Incoming::Closed)) | Ok(None) | Err(_) => panic!("no {operation} event"),
                Ok(Some(_)) => {}
            }
        }
    }
}

#[tokio::test]
async fn group_messages_arrive_in_order_with_ext_and_the_senders_id() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let group = server.group("ann", &["ben", "cat"], json!({})).await;
        let ann = Device::connect(&server, "ann", "ann-phone").await;
        let mut ben = Device::connect(&server, "ben", "ben-phone").await;
        let mut ids = Vec::new();
        for i in 0..30 {
            let sent = ann
                .connection
                .send_group_text(&group, &format!("m{i}"), vec![ext::string("k", "v"), ext::int("n", i)])
                .await
                .expect("send");
            ids.push(sent.server_id);
        }
        let mut received = Vec::new();
        while received.len() < 30 {
            if let Incoming::Message { id, from, to, text, ext, .. } =
                tokio::time::timeout(PATIENCE, ben.incoming.recv()).await.expect("in time").expect("open")
            {
                assert_eq!((from.as_str(), to.as_str()), ("ann", group.as_str()));
                assert_eq!(ext::get_str(&ext, "k"), Some("v"));
                received.push((id, text));
            }
        }
        let expected: Vec<(u64, String)> = ids.iter().enumerate().map(|(i, id)| (*id, format!("m{i}"))).collect();
        assert_eq!(received, expected, "same ids as the acks, in send order");
        // The sender's own connection gets no echo; a third member who was offline gets all.
        let mut cat = Device::connect(&server, "cat", "cat-phone").await;
        assert_eq!(cat.texts(30).await, (0..30).map(|i| format!("m{i}")).collect::<Vec<_>>());
        let mut ann = ann;
        assert!(texts_in(&ann.drain(Duration::from_millis(300)).await).is_empty());
    });
}

#[tokio::test]
async fn offline_members_get_the_newest_200_exactly_once_across_reconnects() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["sender", "reader"]).await;
        let group = server.group("sender", &["reader"], json!({})).await;
        let sender = Device::connect(&server, "sender", "s").await;
        for i in 0..250 {
            sender.connection.send_group_text(&group, &format!("m{i:03}"), Vec::new()).await.expect("send");
        }
        let mut reader = Device::connect(&server, "reader", "r").await;
        let texts = reader.texts(200).await;
        assert_eq!(texts, (50..250).map(|i| format!("m{i:03}")).collect::<Vec<_>>(), "the newest 200, in order");
        assert!(texts_in(&reader.drain(Duration::from_millis(300)).await).is_empty(), "nothing twice");
        reader.connection.close().await;

        // More while away; the same device gets exactly the new ones.
        for i in 250..260 {
            sender.connection.send_group_text(&group, &format!("m{i:03}"), Vec::new()).await.expect("send");
        }
        let mut reader = Device::connect(&server, "reader", "r").await;
        assert_eq!(reader.texts(10).await, (250..260).map(|i| format!("m{i:03}")).collect::<Vec<_>>());
        assert!(texts_in(&reader.drain(Duration::from_millis(300)).await).is_empty());
    });
}

#[tokio::test]
async fn a_resend_with_the_same_meta_id_is_stored_once() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let group = server.group("ann", &["ben"], json!({})).await;
        let ann = Device::connect(&server, "ann", "a").await;
        let target = qun_client::Target::Group(group.clone());
        let body = qun_client::frames::text_body("ann", &target, "once", Vec::new());
        let first = ann.connection.send(&target, body.clone()).await.expect("send");
        let again = ann.connection.resend_with_meta_id(first.meta_id, &target, body).await.expect("resend");
        assert_eq!(again.server_id, first.server_id);
        let mut ben = Device::connect(&server, "ben", "b").await;
        assert_eq!(ben.texts(1).await, ["once"]);
        assert!(texts_in(&ben.drain(Duration::from_millis(300)).await).is_empty());
    });
}

#[tokio::test]
async fn every_send_permission_rule_is_enforced() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "adm", "mem", "muted", "allowed", "outsider"]).await;
        let group = server.group("own", &["adm", "mem", "muted", "allowed"], json!({})).await;
        server.admin(Method::POST, &format!("/chatgroups/{group}/admin"), Some(json!({"newadmin":"adm"}))).await;
        server
            .admin(
                Method::POST,
                &format!("/chatgroups/{group}/mute"),
                Some(json!({"usernames":["muted"],"mute_duration":-1})),
            )
            .await;
        let send = |device: &Device, text: &str| {
            let connection = device.connection.clone();
            let (group, text) = (group.clone(), text.to_owned());
            async move { connection.send_group_text(&group, &text, Vec::new()).await }
        };
        let own = Device::connect(&server, "own", "o").await;
        let adm = Device::connect(&server, "adm", "a").await;
        let mem = Device::connect(&server, "mem", "m").await;
        let muted = Device::connect(&server, "muted", "mu").await;
        let allowed = Device::connect(&server, "allowed", "al").await;
        let outsider = Device::connect(&server, "outsider", "out").await;

        assert_eq!(refusal(send(&outsider, "x").await), (1, "not in group or chatroom".into()));
        assert_eq!(refusal(send(&muted, "x").await), (15, "user is mute".into()));
        send(&mem, "plain member").await.expect("members send");

        // Mute-all: only owner, admins and allowlisted members.
        server.admin(Method::POST, &format!("/chatgroups/{group}/ban"), None).await;
        server
            .admin(
                Method::POST,
                &format!("/chatgroups/{group}/white/users"),
                Some(json!({"usernames":["allowed","muted"]})),
            )
            .await;
        send(&own, "owner").await.expect("owner sends during mute-all");
        send(&adm, "admin").await.expect("admins send during mute-all");
        send(&allowed, "allowlisted").await.expect("allowlisted members send during mute-all");
        assert_eq!(refusal(send(&mem, "x").await), (15, "user is mute".into()));
        assert_eq!(
            refusal(send(&muted, "x").await),
            (15, "user is mute".into()),
            "a muted member stays muted when allowlisted"
        );
        server.admin(Method::DELETE, &format!("/chatgroups/{group}/ban"), None).await;

        // A disabled group takes no messages at all.
        server.admin(Method::POST, &format!("/chatgroups/{group}/disable"), None).await;
        assert_eq!(refusal(send(&own, "x").await), (1, "group is disabled".into()));
        server.admin(Method::POST, &format!("/chatgroups/{group}/enable"), None).await;

        // Removed and blocklisted users can send nothing and receive nothing after removal.
        server.admin(Method::POST, &format!("/chatgroups/{group}/blocks/users/mem"), None).await;
        assert_eq!(refusal(send(&mem, "x").await), (1, "blocked".into()));
        let mut mem = mem;
        mem.drain(Duration::from_millis(300)).await;
        send(&own, "after the block").await.expect("send");
        assert!(!texts_in(&mem.drain(Duration::from_millis(500)).await).contains(&"after the block".to_owned()));

        // An unknown group.
        let result = own.connection.send_group_text("123", "x", Vec::new()).await;
        assert_eq!(refusal(result), (1, "group not found".into()));
    });
}

#[tokio::test]
async fn group_events_reach_online_members_live() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "ann", "ben", "newbie"]).await;
        let group = server.group("own", &["ann", "ben"], json!({})).await;
        let mut ann = Device::connect(&server, "ann", "a").await;
        let mut ben = Device::connect(&server, "ben", "b").await;
        server.admin(Method::POST, &format!("/chatgroups/{group}/admin"), Some(json!({"newadmin":"ann"}))).await;
        match ann.event("setAdmin").await {
            Incoming::GroupEvent { group: g, to, .. } => assert_eq!((g, to), (group.clone(), vec!["ann".to_owned()])),
            _ => unreachable!(),
        }
        // A new member: the others hear memberPresence; the newcomer gets messages from now on.
        let mut newbie = Device::connect(&server, "newbie", "n").await;
        server.admin(Method::POST, &format!("/chatgroups/{group}/users/newbie"), None).await;
        ben.event("memberPresence").await;
        newbie.event("directJoined").await;
        let own = Device::connect(&server, "own", "o").await;
        own.connection.send_group_text(&group, "welcome", Vec::new()).await.expect("send");
        assert_eq!(newbie.texts(1).await, ["welcome"]);
        // An announcement reaches everyone with its text.
        server
            .admin(
                Method::POST,
                &format!("/chatgroups/{group}/announcement"),
                Some(json!({"announcement":"hello all"})),
            )
            .await;
        match ben.event("updateAnnouncement").await {
            Incoming::GroupEvent { reason, .. } => assert_eq!(reason.as_deref(), Some("hello all")),
            _ => unreachable!(),
        }
        // Kicked: the removed member is told; nothing more arrives for them.
        server.admin(Method::DELETE, &format!("/chatgroups/{group}/users/ben"), None).await;
        ben.event("removeMember").await;
        own.connection.send_group_text(&group, "after the kick", Vec::new()).await.expect("send");
        assert!(!texts_in(&ben.drain(Duration::from_millis(500)).await).contains(&"after the kick".to_owned()));
        // Dissolved: everyone is told.
        server.admin(Method::DELETE, &format!("/chatgroups/{group}"), None).await;
        newbie.event("destroy").await;
    });
}

#[tokio::test]
async fn devices_each_receive_everything_and_the_oldest_is_replaced_beyond_the_limit() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let group = server.group("ann", &["ben"], json!({})).await;
        let phone = Device::connect(&server, "ann", "phone").await;
        let mut laptop = Device::connect(&server, "ann", "laptop").await;
        let mut ben = Device::connect(&server, "ben", "b").await;
        phone.connection.send_group_text(&group, "from the phone", Vec::new()).await.expect("send");
        assert_eq!(ben.texts(1).await, ["from the phone"]);
        assert_eq!(laptop.texts(1).await, ["from the phone"], "the sender's other device gets it too");
        // 1:1 both ways, and to the sender's other device.
        ben.connection.send_user_text("ann", "hi ann", Vec::new()).await.expect("send");
        assert_eq!(laptop.texts(1).await, ["hi ann"]);

        // The limit is 4 devices: a fifth login replaces the oldest (the phone).
        let mut phone = phone;
        let _tablet = Device::connect(&server, "ann", "tablet").await;
        let _desktop = Device::connect(&server, "ann", "desktop").await;
        let _watch = Device::connect(&server, "ann", "watch").await;
        let items = phone.drain(Duration::from_millis(800)).await;
        assert!(items.iter().any(|i| matches!(i, Incoming::Kicked { operation: 2 })), "{items:?}");
        assert!(items.iter().any(|i| matches!(i, Incoming::Closed)), "{items:?}");
    });
}

#[tokio::test]
async fn logins_are_checked_and_password_changes_disconnect() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let result = Device::connect_with_token(&server, "ann", "bogus", "d").await;
        assert!(
            matches!(result, Err(ClientError::LoginRefused { ref reason, .. }) if reason == "Sorry, token expired")
        );
        // A valid token for another user is refused too.
        let ben_token = server.login("ben").await;
        let result = Device::connect_with_token(&server, "ann", &ben_token, "d").await;
        assert!(matches!(result, Err(ClientError::LoginRefused { .. })));
        // A password change kicks the user's connections.
        let mut ann = Device::connect(&server, "ann", "d").await;
        server.admin(Method::PUT, "/users/ann/password", Some(json!({"newpassword":"changed"}))).await;
        let items = ann.drain(Duration::from_millis(800)).await;
        assert!(items.iter().any(|i| matches!(i, Incoming::Kicked { operation: 3 })), "{items:?}");
    });
}

#[tokio::test]
async fn shielded_members_receive_no_messages() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let group = server.group("ann", &["ben", "cat"], json!({})).await;
        let ben_token = server.login("ben").await;
        let (status, _) =
            server.call(Method::POST, &format!("/chatgroups/{group}/shield"), Some(&ben_token), None).await;
        assert_eq!(status, 200);
        let ann = Device::connect(&server, "ann", "a").await;
        let mut ben = Device::connect_with_token(&server, "ben", &ben_token, "b").await.expect("login");
        let mut cat = Device::connect(&server, "cat", "c").await;
        ann.connection.send_group_text(&group, "quiet please", Vec::new()).await.expect("send");
        assert_eq!(cat.texts(1).await, ["quiet please"]);
        assert!(texts_in(&ben.drain(Duration::from_millis(500)).await).is_empty());
    });
}

#[tokio::test]
async fn receipts_reach_the_peer_live_and_at_login_and_are_not_messages() {
    use qun_client::pb::message_body::Type;
    use qun_client::{MessageBody, Target};
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let mut ann = Device::connect(&server, "ann", "phone").await;
        let mut ben = Device::connect(&server, "ben", "phone").await;
        let sent = ann.connection.send_user_text("ben", "read me", Vec::new()).await.expect("send");
        assert_eq!(ben.texts(1).await, ["read me"]);
        let receipt = |kind: Type, acked: Option<u64>| MessageBody {
            r#type: Some(kind as i32),
            ack_message_id: acked,
            ..Default::default()
        };
        let to_ann = Target::User("ann".into());

        // Live: the peer gets the receipt, not a message; the reader gets nothing back.
        let read = ben.connection.send(&to_ann, receipt(Type::ReadAck, Some(sent.server_id))).await.expect("read");
        let items = ann.drain(Duration::from_millis(500)).await;
        assert_eq!(
            items,
            [Incoming::Receipt {
                id: read.server_id,
                kind: Type::ReadAck as i32,
                from: "ben".into(),
                to: "ann".into(),
                message_id: Some(sent.server_id),
            }]
        );
        assert!(ben.drain(Duration::from_millis(200)).await.is_empty());

        // Offline: kept for the peer and delivered at their next login, in order.
        ann.connection.close().await;
        ben.connection.send(&to_ann, receipt(Type::DeliverAck, Some(sent.server_id))).await.expect("delivery");
        ben.connection.send(&to_ann, receipt(Type::ChannelAck, None)).await.expect("channel");
        let mut ann = Device::connect(&server, "ann", "phone").await;
        let kinds: Vec<(i32, Option<u64>)> = ann
            .drain(Duration::from_millis(500))
            .await
            .into_iter()
            .map(|item| match item {
                Incoming::Receipt { kind, message_id, .. } => (kind, message_id),
                other => panic!("only receipts were due, got {other:?}"),
            })
            .collect();
        assert_eq!(kinds, [(Type::DeliverAck as i32, Some(sent.server_id)), (Type::ChannelAck as i32, None)]);

        // History and the offline store hold the message only.
        let token = server.login("ben").await;
        let (_, page) = server
            .call(
                Method::POST,
                "/users/ben/messageroaming",
                Some(&token),
                Some(json!({"queue":"ann@easemob.com","start":-1,"pull_number":10})),
            )
            .await;
        assert_eq!(page["data"]["msgs"].as_array().map(Vec::len), Some(1), "{page}");

        // Refused, each with the status and reason the SDK maps, and nothing delivered.
        let cases = [
            (receipt(Type::ReadAck, None), (4, "wrong parameter")),
            // Recall and edit are served (tests/it/recall.rs): ben did not send ann's message,
            // and an edit names its message in editMessageId, not ackMessageId.
            (receipt(Type::Recall, Some(sent.server_id)), (1, "Sorry, You do not have permission")),
            (receipt(Type::Edit, Some(sent.server_id)), (1, "Sorry, message does not exist")),
            (receipt(Type::Normal, None), (1, "not supported")),
        ];
        for (body, expected) in cases {
            let refused = refusal(ben.connection.send(&to_ann, body).await);
            assert_eq!((refused.0, refused.1.as_str()), expected);
        }
        let to_self = refusal(ben.connection.send(&Target::User("ben".into()), receipt(Type::ReadAck, Some(1))).await);
        assert_eq!(to_self.0, 4);
        let group = server.group("ann", &["ben"], json!({})).await;
        let group_ack = ben.connection.send(&Target::Group(group), receipt(Type::ReadAck, Some(sent.server_id))).await;
        // A group read receipt for a message that is not the group's (see tests/it/receipts.rs).
        assert_eq!(refusal(group_ack), (1, "group ack msg not found".to_owned()));
        let late: Vec<Incoming> = ann.drain(Duration::from_millis(300)).await;
        assert!(late.iter().all(|item| matches!(item, Incoming::GroupEvent { .. })), "{late:?}");
    });
}

#[tokio::test]
async fn rest_sends_and_history() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let group = server.group("ann", &["ben"], json!({})).await;
        let mut ben = Device::connect(&server, "ben", "b").await;
        for i in 0..5 {
            let (status, body) = server
                .admin(Method::POST, "/messages/chatgroups", Some(json!({"from":"ann","to":[group],"type":"txt","body":{"msg":format!("rest {i}")},"ext":{"n":i}})))
                .await;
            assert_eq!(status, 200, "{body}");
            assert!(body["data"][&group].as_str().unwrap().parse::<u64>().is_ok());
        }
        assert_eq!(ben.texts(5).await, (0..5).map(|i| format!("rest {i}")).collect::<Vec<_>>());
        // Too large, and too many targets.
        let (status, body) = server
            .admin(
                Method::POST,
                "/messages/chatgroups",
                Some(json!({"from":"ann","to":[group],"type":"txt","body":{"msg":"x".repeat(6000)}})),
            )
            .await;
        assert_eq!((status, body["error"].as_str()), (400, Some("message_send_error")));
        let (status, _) = server
            .admin(
                Method::POST,
                "/messages/chatgroups",
                Some(json!({"to":["1","2","3","4"],"type":"txt","body":{"msg":"x"}})),
            )
            .await;
        assert_eq!(status, 400);

        // History, newest first, two pages.
        let token = server.login("ben").await;
        let queue = format!("{group}@conference.easemob.com");
        let (status, page) = server
            .call(
                Method::POST,
                "/users/ben/messageroaming",
                Some(&token),
                Some(json!({"queue":queue,"start":-1,"pull_number":3})),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["data"]["msgs"].as_array().unwrap().len(), 3);
        assert_eq!(page["data"]["is_last"], false);
        let next = page["data"]["next_key"].as_str().unwrap().to_owned();
        let (_, page) = server
            .call(
                Method::POST,
                "/users/ben/messageroaming",
                Some(&token),
                Some(json!({"queue":queue,"start":next,"pull_number":3})),
            )
            .await;
        assert_eq!(page["data"]["msgs"].as_array().unwrap().len(), 2);
        assert_eq!(page["data"]["is_last"], true);
    });
}

#[tokio::test]
async fn a_malformed_frame_closes_only_that_connection() {
    on_every_backend!(|server: TestServer| async move {
        use futures_util::{SinkExt, StreamExt};
        let url = format!("ws://{}/websocket", server.address);
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
        socket
            .send(tokio_tungstenite::tungstenite::Message::Binary(vec![0xff, 0xff, 0xff].into()))
            .await
            .expect("send");
        let closed = tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(message)) = socket.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server closes a connection that sends garbage");
        // The server is fine.
        server.users(&["ann"]).await;
        let _ann = Device::connect(&server, "ann", "a").await;
    });
}

#[tokio::test]
async fn a_nul_in_the_device_id_is_refused_at_login() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann"]).await;
        let token = server.login("ann").await;
        let result = Device::connect_with_token(&server, "ann", &token, "phone\u{0}1").await;
        assert!(
            matches!(result, Err(ClientError::LoginRefused { code: 4, ref reason }) if reason == "wrong parameter"),
            "{:?}",
            result.as_ref().err()
        );
        // The same login with a clean device id goes through.
        Device::connect_with_token(&server, "ann", &token, "phone1").await.expect("login");
    });
}
