//! History over REST as the SDK calls it: both directions, the search filters, removals from
//! the caller's own history, and a chat room's recent messages.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qun_proto::msync::{Message, MessageBody, Meta};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

/// One history entry: its id, time, sender and text (or custom event).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: u64,
    time: i64,
    from: String,
    text: String,
}

fn entries(page: &Value) -> Vec<Entry> {
    let msgs = page["data"]["msgs"].as_array().unwrap_or_else(|| panic!("a history page: {page}"));
    msgs.iter()
        .map(|m| {
            let bytes = STANDARD.decode(m["msg"].as_str().expect("msg")).expect("base64");
            let meta = Meta::decode(bytes.as_slice()).expect("meta");
            let body: MessageBody = meta.decode_payload().expect("body");
            let content = &body.contents[0];
            Entry {
                id: meta.id(),
                time: meta.timestamp() as i64,
                from: body.from.as_ref().map(|j| j.name().to_owned()).unwrap_or_default(),
                text: content.text.clone().or(content.custom_event.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

fn texts(page: &Value) -> Vec<String> {
    entries(page).into_iter().map(|e| e.text).collect()
}

async fn history(server: &TestServer, token: &str, user: &str, request: Value) -> Value {
    let (status, page) =
        server.call(Method::POST, &format!("/users/{user}/messageroaming"), Some(token), Some(request)).await;
    assert_eq!(status, 200, "{page}");
    page
}

async fn send(server: &TestServer, path: &str, from: &str, to: &str, kind: &str, body: Value) {
    let request = json!({"from": from, "to": [to], "type": kind, "body": body});
    let (status, reply) = server.admin(Method::POST, path, Some(request)).await;
    assert_eq!(status, 200, "{reply}");
    // Separate milliseconds, so times tell the messages apart.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

#[tokio::test]
async fn history_reads_both_ways_and_filters() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let group = server.group("ann", &["ben"], json!({})).await;
        send(&server, "/messages/users", "ann", "ben", "txt", json!({"msg": "t1"})).await;
        send(&server, "/messages/users", "ben", "ann", "custom", json!({"customEvent": "c2"})).await;
        send(&server, "/messages/users", "ann", "ben", "txt", json!({"msg": "t3"})).await;
        for (n, from) in [(1, "ann"), (2, "ben"), (3, "ann")] {
            send(&server, "/messages/chatgroups", from, &group, "txt", json!({"msg": format!("g{n}")})).await;
        }
        let token = server.login("ann").await;
        let chat = |extra: Value| {
            let mut request = json!({"queue": "ben@easemob.com", "start": -1, "pull_number": 10});
            request.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            request
        };

        let up = history(&server, &token, "ann", chat(json!({}))).await;
        assert_eq!(texts(&up), ["t3", "c2", "t1"]);
        let down = history(&server, &token, "ann", chat(json!({"is_positive": true, "pull_number": 2}))).await;
        assert_eq!((texts(&down), &down["data"]["is_last"]), (vec!["t1".to_owned(), "c2".to_owned()], &json!(false)));
        let next = down["data"]["next_key"].as_str().expect("next_key").to_owned();
        let rest = history(&server, &token, "ann", chat(json!({"is_positive": true, "start": next}))).await;
        assert_eq!(
            (texts(&rest), &rest["data"]["is_last"], &rest["data"]["next_key"]),
            (vec!["t3".to_owned()], &json!(true), &json!(""))
        );

        // Types, as the SDK joins them; an unknown one is refused.
        let customs = history(&server, &token, "ann", chat(json!({"msgType": "custom"}))).await;
        assert_eq!(texts(&customs), ["c2"]);
        let both = history(&server, &token, "ann", chat(json!({"msgType": "txt,custom", "end": -1}))).await;
        assert_eq!(texts(&both), ["t3", "c2", "t1"]);
        let (status, body) = server
            .call(Method::POST, "/users/ann/messageroaming", Some(&token), Some(chat(json!({"msgType": "gif"}))))
            .await;
        assert_eq!(error_of(status, &body).0, 400);

        // A time range, both ends included; null is unbounded.
        let all = entries(&up);
        let window = chat(json!({"startTime": all[1].time, "endTime": all[1].time, "is_positive": true}));
        assert_eq!(texts(&history(&server, &token, "ann", window).await), ["c2"]);
        let from_c2 = chat(json!({"startTime": all[1].time, "endTime": null}));
        assert_eq!(texts(&history(&server, &token, "ann", from_c2).await), ["t3", "c2"]);

        // A group's sender.
        let queue = format!("{group}@conference.easemob.com");
        let by_ann = json!({"queue": queue, "pull_number": 10, "userId": "ann", "is_positive": true});
        let page = history(&server, &token, "ann", by_ann).await;
        assert_eq!(texts(&page), ["g1", "g3"]);
        assert!(entries(&page).iter().all(|e| e.from == "ann"));
        // A filter that keeps one of many reads on until the page ends.
        let only_g2 = json!({"queue": queue, "pull_number": 1, "userId": "ben"});
        let page = history(&server, &token, "ann", only_g2).await;
        assert_eq!((texts(&page), &page["data"]["is_last"]), (vec!["g2".to_owned()], &json!(false)));

        // Not a member: refused as before.
        let cat = server.login("cat").await;
        let (status, body) =
            server.call(Method::POST, "/users/cat/messageroaming", Some(&cat), Some(json!({"queue": queue}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".to_owned()));
    });
}

#[tokio::test]
async fn removals_are_the_callers_own() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let group = server.group("ann", &["ben"], json!({})).await;
        for n in 1..=4 {
            send(&server, "/messages/users", "ann", "ben", "txt", json!({"msg": format!("m{n}")})).await;
            send(&server, "/messages/chatgroups", "ben", &group, "txt", json!({"msg": format!("g{n}")})).await;
        }
        let (ann, ben) = (server.login("ann").await, server.login("ben").await);
        let chat = json!({"queue": "ben@easemob.com", "pull_number": 10});
        let before = entries(&history(&server, &ann, "ann", chat.clone()).await);

        // By ids (the SDK's msgIdList), then by time.
        let path = format!("/sdk/message/roaming/chat/user/ann?userId=ben&msgIdList={},{}", before[0].id, before[2].id);
        let (status, body) = server.call(Method::DELETE, &path, Some(&ann), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(texts(&history(&server, &ann, "ann", chat.clone()).await), ["m3", "m1"]);
        let path =
            format!("/sdk/message/roaming/chat/user/ann/time?userId=ben&delTime={}&&resource=web", before[2].time);
        let (status, body) = server.call(Method::DELETE, &path, Some(&ann), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(texts(&history(&server, &ann, "ann", chat).await), ["m3"]);
        let peer = json!({"queue": "ann@easemob.com", "pull_number": 10});
        assert_eq!(texts(&history(&server, &ben, "ben", peer).await), ["m4", "m3", "m2", "m1"], "the peer keeps all");

        // A group, by time.
        let queue = json!({"queue": format!("{group}@conference.easemob.com"), "pull_number": 10});
        let group_entries = entries(&history(&server, &ann, "ann", queue.clone()).await);
        let path =
            format!("/sdk/message/roaming/group/user/ann/time?groupId={group}&delTime={}", group_entries[1].time);
        let (status, body) = server.call(Method::DELETE, &path, Some(&ann), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(texts(&history(&server, &ann, "ann", queue.clone()).await), ["g4", "g3"]);
        assert_eq!(texts(&history(&server, &ben, "ben", queue).await), ["g4", "g3", "g2", "g1"]);

        // Refused: too many ids at once, someone else's history, a group one is not in, no such
        // user, an unknown conversation type.
        let ids: Vec<String> = (1..=21).map(|n| n.to_string()).collect();
        let cat = server.login("cat").await;
        let refused = [
            (format!("/sdk/message/roaming/chat/user/ann?userId=ben&msgIdList={}", ids.join(",")), &ann, 400),
            ("/sdk/message/roaming/chat/user/ben?userId=ann&msgIdList=1".to_owned(), &ann, 403),
            (format!("/sdk/message/roaming/group/user/cat/time?groupId={group}&delTime=1"), &cat, 403),
            ("/sdk/message/roaming/chat/user/ann?userId=nobody&msgIdList=1".to_owned(), &ann, 404),
            ("/sdk/message/roaming/thread/user/ann/time?userId=ben&delTime=1".to_owned(), &ann, 400),
            ("/sdk/message/roaming/chat/user/ann/time?userId=ben&delTime=soon".to_owned(), &ann, 400),
        ];
        for (path, token, expected) in refused {
            let (status, body) = server.call(Method::DELETE, &path, Some(token), None).await;
            assert_eq!(status, expected, "{path}: {body}");
        }
    });
}

#[tokio::test]
async fn a_rooms_history_is_its_ring() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let (status, created) = server
            .admin(
                Method::POST,
                "/chatrooms",
                Some(json!({"name": "r", "description": "d", "owner": "ann", "members": ["ben"]})),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let room = created["data"]["id"].as_str().expect("room id").to_owned();
        for n in 1..=3 {
            send(&server, "/messages/chatrooms", "ann", &room, "txt", json!({"msg": format!("r{n}")})).await;
        }
        let ben = server.login("ben").await;
        let queue = format!("{room}@conference.easemob.com");
        let up = history(&server, &ben, "ben", json!({"queue": queue, "pull_number": 2})).await;
        assert_eq!((texts(&up), &up["data"]["is_last"]), (vec!["r3".to_owned(), "r2".to_owned()], &json!(false)));
        let next = up["data"]["next_key"].as_str().expect("next_key").to_owned();
        let rest = history(&server, &ben, "ben", json!({"queue": queue, "start": next})).await;
        assert_eq!((texts(&rest), &rest["data"]["is_last"]), (vec!["r1".to_owned()], &json!(true)));
        let down = history(&server, &ben, "ben", json!({"queue": queue, "is_positive": true})).await;
        assert_eq!(texts(&down), ["r1", "r2", "r3"]);
        // Not in the room.
        let cat = server.login("cat").await;
        let (status, _) =
            server.call(Method::POST, "/users/cat/messageroaming", Some(&cat), Some(json!({"queue": queue}))).await;
        assert_eq!(status, 403);
        // Neither a group nor a room.
        let (status, body) = server
            .call(
                Method::POST,
                "/users/cat/messageroaming",
                Some(&cat),
                Some(json!({"queue": "12345@conference.easemob.com"})),
            )
            .await;
        assert_eq!(error_of(status, &body).0, 404);
    });
}
