//! The conversation list over REST as the SDK calls it: derived from memberships and timelines
//! (sending writes no per-member state), pins with their cap, marks, deletion, and the refusals.

use qun_store::QueueKey;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

async fn app_id(server: &TestServer) -> i64 {
    server.state.app("qun", "test").await.expect("app").expect("the test app").id
}

async fn send(server: &TestServer, path: &str, from: &str, to: &[&str], msg: &str) {
    let request = json!({"from": from, "to": to, "type": "txt", "body": {"msg": msg}});
    let (status, reply) = server.admin(Method::POST, path, Some(request)).await;
    assert_eq!(status, 200, "{reply}");
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

/// `(session_to, unread_num, is_top, last text)` of each conversation of a page, and its cursor.
fn summary(page: &Value) -> (Vec<(String, u64, bool, String)>, String) {
    let infos = page["data"]["channel_infos"].as_array().unwrap_or_else(|| panic!("a list: {page}"));
    let rows = infos
        .iter()
        .map(|info| {
            let payload: Value =
                serde_json::from_str(info["meta"]["payload"].as_str().expect("payload")).expect("json");
            (
                info["session_to"].as_str().expect("session_to").to_owned(),
                info["unread_num"].as_u64().expect("unread_num"),
                info["is_top"].as_bool().expect("is_top"),
                payload["bodies"][0]["msg"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (rows, page["data"]["cursor"].as_str().expect("cursor").to_owned())
}

#[tokio::test]
async fn the_list_is_derived_and_changes_are_per_user() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let group = server.group("ann", &["ben", "cat"], json!({})).await;
        send(&server, "/messages/users", "cat", &["ann"], "c1").await;
        send(&server, "/messages/chatgroups", "ben", &[&group], "g1").await;
        send(&server, "/messages/chatgroups", "ann", &[&group], "g2").await;
        send(&server, "/messages/users", "ben", &["ann"], "b1").await;
        let ann = server.login("ann").await;
        let list = |query: String| {
            let (server, ann) = (&server, &ann);
            async move {
                let (status, page) = server
                    .call(Method::GET, &format!("/sdk/user/ann/user_channels/list?{query}"), Some(ann), None)
                    .await;
                assert_eq!(status, 200, "{page}");
                summary(&page)
            }
        };

        // Newest first, others' messages unread (not ann's own g2), paged by cursor.
        let (first, cursor) = list("limit=2&cursor=&need_mark=true".to_owned()).await;
        assert_eq!(first, [("ben".to_owned(), 1, false, "b1".to_owned()), (group.clone(), 1, false, "g2".to_owned())]);
        let (rest, end) = list(format!("limit=2&cursor={cursor}")).await;
        assert_eq!((rest, end.as_str()), (vec![("cat".to_owned(), 1, false, "c1".to_owned())], ""));

        // Sending wrote no state for anyone: the list is derived.
        for user in ["ann", "ben", "cat"] {
            let user = qun_core::UserName::parse(user).unwrap();
            let states = server.state.store.conversation_states(app_id(&server).await, &user).await.expect("states");
            assert!(states.is_empty(), "{user}: {states:?}");
        }

        // Pin, mark, delete: ann's only.
        let (status, pinned) = server
            .call(
                Method::POST,
                "/sdk/user/ann/user_channel/top?resource=r",
                Some(&ann),
                Some(json!({"type":"chat","to":"cat"})),
            )
            .await;
        assert_eq!((status, &pinned["data"]["is_top"]), (200, &json!(true)), "{pinned}");
        let (pinned_list, _) = list("is_top=true".to_owned()).await;
        assert_eq!(pinned_list, [("cat".to_owned(), 1, true, "c1".to_owned())]);
        let (all, _) = list("limit=10".to_owned()).await;
        assert_eq!(all[0].0, "cat", "pinned first");
        let marks = json!({"mark": "mark_2", "targets": [{"to": group, "type": "groupchat"}, {"to": "nobody", "type": "chat"}]});
        let (status, marked) =
            server.call(Method::POST, "/sdk/user/ann/user_channels/mark", Some(&ann), Some(marks)).await;
        assert_eq!(status, 200, "{marked}");
        assert_eq!(marked["data"]["ignore"], json!([{"to": "nobody", "type": "chat"}]));
        let (status, page) =
            server.call(Method::GET, "/sdk/user/ann/user_channels/mark/search?mark=mark_2", Some(&ann), None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["data"]["channel_infos"][0]["marks"], json!(["mark_2"]));
        // The app deletes for a user (the REST API's path): gone until its next message.
        let (status, deleted) = server
            .admin(
                Method::DELETE,
                "/users/ann/user_channel",
                Some(json!({"channel": "ben", "type": "chat", "delete_roam": false})),
            )
            .await;
        assert_eq!((status, &deleted["data"]["result"]), (200, &json!("ok")), "{deleted}");
        let (all, _) = list("limit=10".to_owned()).await;
        assert!(all.iter().all(|row| row.0 != "ben"), "{all:?}");
        send(&server, "/messages/users", "ben", &["ann"], "b2").await;
        let (all, _) = list("limit=10".to_owned()).await;
        assert!(all.contains(&("ben".to_owned(), 1, false, "b2".to_owned())), "{all:?}");
        let ben = server.login("ben").await;
        let (status, page) = server.call(Method::GET, "/sdk/user/ben/user_channels/list", Some(&ben), None).await;
        assert_eq!(status, 200);
        assert!(summary(&page).0.iter().all(|row| !row.2), "ann's pin is hers");

        // Refused: another user's list, a mark out of range, a cursor not ours, pinning what is
        // not a conversation, an unknown conversation type.
        let refused = [
            (Method::GET, "/sdk/user/ben/user_channels/list", None, 403),
            (Method::GET, "/sdk/user/ann/user_channels/mark/search?mark=mark_20", None, 400),
            (Method::GET, "/sdk/user/ann/user_channels/list?cursor=abc", None, 400),
            (Method::POST, "/sdk/user/ann/user_channel/top", Some(json!({"type":"chat","to":"nobody"})), 404),
            (Method::DELETE, "/user/ann/user_channel", Some(json!({"channel":"ben","type":"thread"})), 400),
        ];
        for (method, path, body, expected) in refused {
            let (status, reply) = server.call(method, path, Some(&ann), body).await;
            assert_eq!(error_of(status, &reply).0, expected, "{path}: {reply}");
        }
    });
}

#[tokio::test]
async fn pins_are_capped() {
    on_every_backend!(|server: TestServer| async move {
        let peers: Vec<String> = (0..21).map(|n| format!("p{n}")).collect();
        let mut names: Vec<&str> = peers.iter().map(String::as_str).collect();
        names.push("ann");
        server.users(&names).await;
        send(&server, "/messages/users", "ann", &names[..21], "hello").await;
        let ann = server.login("ann").await;
        for (n, peer) in peers.iter().enumerate() {
            let (status, reply) = server
                .call(
                    Method::POST,
                    "/sdk/user/ann/user_channel/top",
                    Some(&ann),
                    Some(json!({"type":"chat","to":peer})),
                )
                .await;
            let expected = if n < 20 { 200 } else { 403 };
            assert_eq!(status, expected, "pin {n}: {reply}");
        }
        // Unpinning one makes room.
        let (status, _) =
            server.call(Method::DELETE, "/sdk/user/ann/user_channel/top?type=chat&to=p0", Some(&ann), None).await;
        assert_eq!(status, 200);
        let (status, _) = server
            .call(Method::POST, "/sdk/user/ann/user_channel/top", Some(&ann), Some(json!({"type":"chat","to":"p20"})))
            .await;
        assert_eq!(status, 200);
        let ann_name = qun_core::UserName::parse("ann").unwrap();
        let states = server.state.store.conversation_states(app_id(&server).await, &ann_name).await.expect("states");
        let pinned: Vec<&QueueKey> = states.iter().filter(|s| s.pinned_ms.is_some()).map(|s| &s.conversation).collect();
        assert_eq!(pinned.len(), 20);
    });
}
