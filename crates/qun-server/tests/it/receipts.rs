//! Receipts end to end: group read receipts for `allowGroupAck` messages (the sender's
//! receipt, the readers list over REST, Agora's refusals) and conversation acks read on every
//! device of the reader. 1:1 read and delivery receipts: `gateway.rs`.

use std::time::Duration;

use qun_client::pb::message_body::{Content, MessageConfig, Type, content};
use qun_client::{Error as ClientError, Incoming, MessageBody, Sent, Target};
use reqwest::Method;
use serde_json::json;

use crate::harness::{Device, TestServer, error_of, on_every_backend, texts_in};

const QUIET: Duration = Duration::from_millis(400);

fn refusal(result: Result<Sent, ClientError>) -> (i32, String) {
    match result {
        Err(ClientError::SendRefused { code, reason, .. }) => (code, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn ack(kind: Type, message_id: Option<u64>) -> MessageBody {
    MessageBody { r#type: Some(kind as i32), ack_message_id: message_id, ..Default::default() }
}

/// Sends a group text from `device`, asking for read receipts or not.
async fn group_text(device: &Device, group: &str, text: &str, allow_group_ack: bool) -> u64 {
    let body = MessageBody {
        contents: vec![Content {
            r#type: Some(content::Type::Text as i32),
            text: Some(text.to_owned()),
            ..Default::default()
        }],
        msg_config: allow_group_ack.then_some(MessageConfig { allow_group_ack: Some(true) }),
        ..Default::default()
    };
    device.connection.send(&Target::Group(group.to_owned()), body).await.expect("send").server_id
}

fn receipts_in(items: &[Incoming]) -> Vec<(i32, String, String, Option<u64>)> {
    items
        .iter()
        .filter_map(|item| match item {
            Incoming::Receipt { kind, from, to, message_id, .. } => {
                Some((*kind, from.clone(), to.clone(), *message_id))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn group_read_receipts_reach_the_sender_once_per_reader_and_list_the_readers() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let group = server.group("ann", &["ben", "cat"], json!({})).await;
        let mut ann = Device::connect(&server, "ann").await;
        let mut ben = Device::connect(&server, "ben").await;
        let mut cat = Device::connect(&server, "cat").await;
        let asked = group_text(&ann, &group, "who read this?", true).await;
        let to_group = Target::Group(group.clone());
        assert_eq!(ben.texts(1).await, ["who read this?"]);
        assert_eq!(cat.texts(1).await, ["who read this?"]);
        ann.drain(QUIET).await;

        read_of(&ben, &to_group, asked).await.expect("ben's receipt");
        read_of(&cat, &to_group, asked).await.expect("cat's receipt");
        read_of(&ben, &to_group, asked).await.expect("a second receipt is accepted");
        let receipts = receipts_in(&ann.drain(QUIET).await);
        let read_ack = Type::ReadAck as i32;
        assert_eq!(
            receipts,
            [
                (read_ack, "ben".into(), group.clone(), Some(asked)),
                (read_ack, "cat".into(), group.clone(), Some(asked))
            ],
            "one per reader, to the sender, naming the group"
        );
        for reader in [&mut ben, &mut cat] {
            assert!(receipts_in(&reader.drain(QUIET).await).is_empty(), "members are not told");
        }

        // The readers, in reading order, paged; for the sender and the app only.
        let path = format!("/chatgroups/{group}/acks/{asked}");
        let ann_token = server.login("ann").await;
        let (status, page) = server.call(Method::GET, &format!("{path}?limit=500"), Some(&ann_token), None).await;
        assert_eq!(status, 200, "{page}");
        let data = &page["data"];
        assert_eq!(data["ackmid"], asked.to_string());
        assert_eq!((data["total"].as_u64(), data["is_last"].as_bool()), (Some(2), Some(true)));
        assert_eq!(data["userlist"], json!(["ben", "cat"]));
        let (_, first) = server.admin(Method::GET, &format!("{path}?limit=1"), None).await;
        assert_eq!(
            (first["data"]["userlist"].clone(), first["data"]["is_last"].as_bool()),
            (json!(["ben"]), Some(false))
        );
        let key = first["data"]["next_key"].as_str().expect("next_key").to_owned();
        let (_, rest) = server.admin(Method::GET, &format!("{path}?limit=1&key={key}"), None).await;
        assert_eq!((rest["data"]["userlist"].clone(), rest["data"]["is_last"].as_bool()), (json!(["cat"]), Some(true)));
        let ben_token = server.login("ben").await;
        let (status, body) = server.call(Method::GET, &path, Some(&ben_token), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        server.users(&["dan"]).await;
        let dan_token = server.login("dan").await;
        let (status, body) = server.call(Method::GET, &path, Some(&dan_token), None).await;
        assert_eq!(status, 403, "not a member: {body}");

        // Refused with the SDK's statuses, and nobody told: a message that did not ask, one that
        // is not the group's, no message named, one's own message, a delivery receipt.
        let plain = group_text(&ann, &group, "no receipts", false).await;
        let not_found = (1, "group ack msg not found".to_owned());
        assert_eq!(refusal(read_of(&ben, &to_group, plain).await), not_found);
        assert_eq!(refusal(read_of(&ben, &to_group, 12_345).await), not_found);
        assert_eq!(refusal(ben.connection.send(&to_group, ack(Type::ReadAck, None)).await).0, 4);
        assert_eq!(refusal(read_of(&ann, &to_group, asked).await).0, 4);
        let delivery = ben.connection.send(&to_group, ack(Type::DeliverAck, Some(asked))).await;
        assert_eq!(refusal(delivery), (1, "not supported".to_owned()));
        let (status, body) = server.admin(Method::GET, &format!("/chatgroups/{group}/acks/{plain}"), None).await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
        assert!(receipts_in(&ann.drain(QUIET).await).is_empty());

        // The sender's receipts wait for them while they are offline.
        ann.connection.close().await;
        let later = group_text(&ben, &group, "read me later", true).await;
        read_of(&ann_device(&server).await, &to_group, later).await.expect("ann reads ben's message");
        let mut ben_again = Device::connect_as(&server, "ben", "ben-tablet").await;
        let receipts = receipts_in(&ben_again.drain(QUIET).await);
        assert!(receipts.contains(&(read_ack, "ann".into(), group.clone(), Some(later))), "{receipts:?}");
    });
}

async fn read_of(device: &Device, to_group: &Target, message_id: u64) -> Result<Sent, ClientError> {
    device.connection.send(to_group, ack(Type::ReadAck, Some(message_id))).await
}

async fn ann_device(server: &TestServer) -> Device {
    Device::connect_as(server, "ann", "ann-laptop").await
}

#[tokio::test]
async fn a_conversation_ack_reads_the_conversation_on_every_device_of_the_reader() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let group = server.group("ben", &["ann"], json!({})).await;
        let mut phone = Device::connect_as(&server, "ann", "phone").await;
        let mut pad = Device::connect_as(&server, "ann", "pad").await;
        let ben = Device::connect(&server, "ben").await;
        ben.connection.send_user_text("ann", "first", Vec::new()).await.expect("send");
        group_text(&ben, &group, "group first", false).await;
        assert_eq!(pad.texts(2).await.len(), 2);
        assert_eq!(phone.texts(2).await.len(), 2);
        tokio::time::sleep(QUIET).await;
        // The pad acknowledged what it read; leaving saves its positions.
        pad.connection.close().await;

        for text in ["two", "three"] {
            ben.connection.send_user_text("ann", text, Vec::new()).await.expect("send");
            group_text(&ben, &group, text, false).await;
        }
        assert_eq!(phone.texts(4).await.len(), 4);
        let channel = Type::ChannelAck as i32;
        phone.connection.send(&Target::User("ben".into()), ack(Type::ChannelAck, None)).await.expect("1:1 channel ack");
        phone
            .connection
            .send(&Target::Group(group.clone()), ack(Type::ChannelAck, None))
            .await
            .expect("group channel ack");
        assert!(receipts_in(&phone.drain(QUIET).await).is_empty(), "the sending device does not get its acks back");

        // The pad, back: nothing read elsewhere again, and both acks as the phone sent them.
        let mut pad = Device::connect_as(&server, "ann", "pad").await;
        let items = pad.drain(QUIET).await;
        assert_eq!(texts_in(&items), Vec::<String>::new());
        assert_eq!(
            receipts_in(&items),
            [(channel, "ann".into(), "ben".into(), None), (channel, "ann".into(), group.clone(), None)]
        );
        // A device that never read anything is not one the server knows: it reads as before.
        let mut laptop = Device::connect_as(&server, "ann", "laptop").await;
        assert_eq!(texts_in(&laptop.drain(QUIET).await).len(), 6);
    });
}
