//! Recall and edit end to end: over msync by the sender (refusals with the reasons the SDK
//! maps), over REST by the app administrator, and what a reader who was offline, history and
//! the recall time limit setting see afterwards.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qun_client::pb::message_body::{EditScope, Type, content};
use qun_client::{Error as ClientError, Incoming, MessageBody, Target, pb};
use qun_proto::msync::{Message, Meta};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Device, TestServer, error_of, on_every_backend};

fn text(text: &str) -> pb::message_body::Content {
    pb::message_body::Content {
        r#type: Some(content::Type::Text as i32),
        text: Some(text.to_owned()),
        ..Default::default()
    }
}

fn recall_of(message_id: u64) -> MessageBody {
    MessageBody { r#type: Some(Type::Recall as i32), ack_message_id: Some(message_id), ..Default::default() }
}

fn edit_of(message_id: u64, new_text: &str) -> MessageBody {
    MessageBody {
        r#type: Some(Type::Edit as i32),
        edit_message_id: Some(message_id),
        edit_scope: Some(EditScope::Body as i32),
        contents: vec![text(new_text)],
        ..Default::default()
    }
}

fn refusal(result: Result<qun_client::Sent, ClientError>) -> (i32, String) {
    match result {
        Err(ClientError::SendRefused { code, reason, .. }) => (code, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// `user`'s history of the conversation `queue`, newest first: (text, `MessageBody.meta`).
async fn history(server: &TestServer, user: &str, queue: &str) -> Vec<(String, String)> {
    let token = server.login(user).await;
    let path = format!("/users/{user}/messageroaming");
    let body = json!({"queue": queue, "start": -1, "pull_number": 20});
    let (status, page) = server.call(Method::POST, &path, Some(&token), Some(body)).await;
    assert_eq!(status, 200, "{page}");
    let msgs = page["data"]["msgs"].as_array().cloned().unwrap_or_default();
    msgs.iter()
        .map(|entry| {
            let bytes = STANDARD.decode(entry["msg"].as_str().expect("msg")).expect("base64");
            let meta = Meta::decode(bytes.as_slice()).expect("a Meta");
            let body: MessageBody = meta.decode_payload().expect("a MessageBody");
            (body.contents[0].text().to_owned(), body.meta.unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
async fn the_sender_recalls_and_edits_and_an_offline_reader_sees_only_the_outcome() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let group = server.group("ann", &["ben"], json!({})).await;
        let ann = Device::connect(&server, "ann").await;
        let (to_ben, to_group) = (Target::User("ben".into()), Target::Group(group.clone()));
        let said = |words: &str| MessageBody { contents: vec![text(words)], ..Default::default() };
        let one = ann.connection.send(&to_ben, said("one")).await.expect("send");
        let two = ann.connection.send(&to_ben, said("two")).await.expect("send");
        let in_group = ann.connection.send(&to_group, said("in the group")).await.expect("send");

        let edited = ann.connection.send(&to_ben, edit_of(one.server_id, "uno")).await.expect("edit");
        assert_eq!(edited.server_id, one.server_id, "an edit's ack names the message");
        ann.connection.send(&to_ben, recall_of(two.server_id)).await.expect("recall");
        ann.connection.send(&to_group, recall_of(in_group.server_id)).await.expect("group recall");

        // Ben had pulled nothing: the edited message, nothing recalled (the notices are not
        // messages).
        let mut ben = Device::connect(&server, "ben").await;
        assert_eq!(ben.texts(1).await, ["uno"]);
        let rest = ben.drain(Duration::from_millis(500)).await;
        assert!(!rest.iter().any(|item| matches!(item, Incoming::Message { .. })), "{rest:?}");
        let shown = history(&server, "ben", "ann@easemob.com").await;
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(shown[0].0, "uno");
        let edit_info: Value = serde_json::from_str(&shown[0].1).expect("meta JSON");
        assert_eq!(
            (edit_info["edit_msg"]["count"].as_u64(), edit_info["edit_msg"]["operator"].as_str()),
            (Some(1), Some("ann"))
        );
        assert!(history(&server, "ben", &format!("{group}@conference.easemob.com")).await.is_empty());

        // Refusals, with the reasons the SDK maps.
        let cases = [
            (
                ben.connection.send(&Target::User("ann".into()), recall_of(one.server_id)).await,
                "Sorry, You do not have permission",
            ),
            (
                ben.connection.send(&Target::User("ann".into()), edit_of(one.server_id, "mine")).await,
                "Sorry, You do not have permission",
            ),
            (ann.connection.send(&to_ben, recall_of(two.server_id)).await, "Sorry, message does not exist"),
            (ann.connection.send(&to_group, recall_of(one.server_id)).await, "Sorry, message does not exist"),
            (ann.connection.send(&to_ben, edit_of(two.server_id, "back")).await, "Sorry, message does not exist"),
            (
                ann.connection.send(&to_ben, MessageBody { contents: vec![], ..edit_of(one.server_id, "") }).await,
                "Sorry, format is incorrect",
            ),
        ];
        for (result, reason) in cases {
            assert_eq!(refusal(result), (1, reason.to_owned()));
        }
        for n in 2..=10 {
            ann.connection.send(&to_ben, edit_of(one.server_id, &format!("edit {n}"))).await.expect("edit");
        }
        let eleventh = ann.connection.send(&to_ben, edit_of(one.server_id, "edit 11")).await;
        assert_eq!(refusal(eleventh), (1, "Sorry, edit limit reached".to_owned()));
        assert_eq!(history(&server, "ben", "ann@easemob.com").await[0].0, "edit 10");

        // The recall time limit is the app's.
        let (status, _) = server.admin(Method::PUT, "/settings/recall", Some(json!({"time_limit_secs": 1}))).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let late = ann.connection.send(&to_ben, recall_of(one.server_id)).await;
        assert_eq!(refusal(late), (1, "exceed recall time limit".to_owned()));
    });
}

#[tokio::test]
async fn the_app_administrator_recalls_over_rest() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let group = server.group("ann", &["ben"], json!({})).await;
        let ann = Device::connect(&server, "ann").await;
        let body = MessageBody { contents: vec![text("hello")], ..Default::default() };
        let chat = ann.connection.send(&Target::User("ben".into()), body.clone()).await.expect("send");
        let in_group = ann.connection.send(&Target::Group(group.clone()), body).await.expect("send");
        let recall = |msg_id: String, to: &str, chat_type: &str| {
            let body = json!({"msg_id": msg_id, "to": to, "chat_type": chat_type});
            server.admin(Method::POST, "/messages/msg_recall", Some(body))
        };
        let (chat_id, group_id) = (chat.server_id.to_string(), in_group.server_id.to_string());

        let (status, wrong_to) = recall(chat_id.clone(), "cat", "chat").await;
        assert_eq!(
            (status, &wrong_to["data"]),
            (200, &json!({"msgs": [{"msg_id": chat_id, "recalled": "can't find msg to"}]}))
        );
        let (status, done) = recall(chat_id.clone(), "ann", "chat").await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(
            done["data"],
            json!({"recalled": "yes", "chattype": "chat", "from": "admin", "to": "ann", "msg_id": chat_id})
        );
        let (_, again) = recall(chat_id.clone(), "ann", "chat").await;
        assert_eq!(again["data"], json!({"msgs": [{"msg_id": chat_id, "recalled": "not_found msg"}]}));
        let (status, _) = recall(group_id.clone(), &group, "groupchat").await;
        assert_eq!(status, 200);
        assert!(history(&server, "ben", "ann@easemob.com").await.is_empty());
        assert!(history(&server, "ben", &format!("{group}@conference.easemob.com")).await.is_empty());

        // Only the app administrator; a chat_type it knows; a limit within 7 days.
        let token = server.login("ann").await;
        let by_user = json!({"msg_id": group_id, "to": group, "chat_type": "groupchat"});
        let (status, refused) = server.call(Method::POST, "/messages/msg_recall", Some(&token), Some(by_user)).await;
        assert!(status == 401 || status == 403, "{status} {refused}");
        let (status, bad) = recall(group_id, &group, "letter").await;
        assert_eq!(error_of(status, &bad), (400, "invalid_parameter".to_owned()));
        for secs in [0, 7 * 24 * 3600 + 1] {
            let (status, bad) =
                server.admin(Method::PUT, "/settings/recall", Some(json!({"time_limit_secs": secs}))).await;
            assert_eq!(error_of(status, &bad), (400, "invalid_parameter".to_owned()));
        }
        let (status, setting) = server.admin(Method::GET, "/settings/recall", None).await;
        assert_eq!((status, &setting["data"]), (200, &json!({"time_limit_secs": 120})));
    });
}
