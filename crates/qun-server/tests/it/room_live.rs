//! Chat rooms live, end to end through the Rust client: joining and leaving over msync (with
//! the ack's chatroomInfo and the events the others hear), leaveOtherRooms, the grace period of
//! absent members (a short one), the recent-message ring on join, every send permission rule,
//! blocklist kicks, the room's size limit, and the exact accounting of drops on `/metrics`.

use std::collections::BTreeMap;
use std::time::Duration;

use qun_client::{Error as ClientError, Incoming};
use qun_proto::msync::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Device, PATIENCE, TestServer, on_every_backend, texts_in};

/// msync MUCBody operations the tests look for.
const PRESENCE: i32 = 17;
const ABSENCE: i32 = 18;
const KICK: i32 = 10;
const MUTE_ALL: i32 = 31;

fn events_in(items: &[Incoming]) -> Vec<(i32, String)> {
    items
        .iter()
        .filter_map(|item| match item {
            Incoming::GroupEvent { operation, from, .. } => Some((*operation, from.clone())),
            _ => None,
        })
        .collect()
}

/// Creates a room owned by `owner` (app token) with `extra` settings; returns its id.
async fn room(server: &TestServer, owner: &str, extra: Value) -> String {
    let mut body = json!({"name": "live", "description": "room", "owner": owner});
    if let (Some(target), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            target.insert(key.clone(), value.clone());
        }
    }
    let (status, reply) = server.admin(Method::POST, "/chatrooms", Some(body)).await;
    assert_eq!(status, 200, "create room: {reply}");
    reply["data"]["id"].as_str().expect("id").to_owned()
}

/// Who is in the room, per REST, sorted.
async fn members(server: &TestServer, room: &str) -> Vec<String> {
    let (status, reply) =
        server.admin(Method::GET, &format!("/chatrooms/{room}/users?pagenum=1&pagesize=1000"), None).await;
    assert_eq!(status, 200, "members: {reply}");
    let mut names: Vec<String> = reply["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["member"].as_str().or(a["owner"].as_str()).unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn admin_ok(server: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, reply) = server.admin(method.clone(), path, body).await;
    assert_eq!(status, 200, "{method} {path}: {reply}");
    reply
}

fn refused(result: Result<impl std::fmt::Debug, ClientError>) -> (Option<StatusCode>, String) {
    let error = result.expect_err("refused");
    (error.msync_status(), error.reason().unwrap_or("").to_owned())
}

/// The room's samples on `/metrics`, by metric name and its labels after `room="…"`.
async fn room_metrics(server: &TestServer, room: &str) -> BTreeMap<String, u64> {
    let response = server.client.get(server.url("//metrics")).send().await.expect("metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.expect("text");
    let needle = format!("room=\"{room}\"");
    text.lines()
        .filter(|line| !line.starts_with('#') && line.contains(&needle))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            let priority = series.split("priority=\"").nth(1).map(|p| p.trim_end_matches("\"}").to_owned());
            let key = match priority {
                Some(priority) => format!("{name}/{priority}"),
                None => name.to_owned(),
            };
            (key, value.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn joining_and_leaving_over_msync() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob", "carol"]).await;
        let room = room(&server, "ann", json!({})).await;
        let mut ann = Device::connect(&server, "ann").await;
        let mut bob = Device::connect(&server, "bob").await;
        let carol = Device::connect(&server, "carol").await;

        // The ack says what the SDK's joinChatRoom resolves with.
        let info = bob.connection.join_room(&room, false).await.expect("join");
        assert_eq!(info["member_count"], 2, "{info}");
        assert_eq!((info["is_all_mute"].as_bool(), info["is_in_white_list"].as_bool()), (Some(false), Some(false)));
        assert_eq!(info["mute_duration"], 0);
        assert!(info["create_timestamp"].as_i64().unwrap() > 0);
        let Incoming::GroupEvent { group, from, ext, .. } = ann.event(PRESENCE).await else { unreachable!() };
        assert_eq!((group.as_str(), from.as_str(), ext), (room.as_str(), "bob", None));
        assert_eq!(members(&server, &room).await, ["ann", "bob"]);

        // Joining again changes nothing and tells nobody.
        let again = bob.connection.join_room(&room, false).await.expect("join again");
        assert_eq!(again["member_count"], 2);
        bob.connection.leave_room(&room).await.expect("leave");
        let Incoming::GroupEvent { from, .. } = ann.event(ABSENCE).await else { unreachable!() };
        assert_eq!(from, "bob");
        let seen = ann.drain(Duration::from_millis(200)).await;
        assert!(events_in(&seen).is_empty(), "{seen:?}");
        assert_eq!(members(&server, &room).await, ["ann"]);
        // A member hears nobody's presence but the others'.
        assert!(!events_in(&bob.drain(Duration::from_millis(100)).await).iter().any(|(_, f)| f == "bob"));

        // Leaving a room one is not in, joining one that does not exist.
        let (code, reason) = refused(carol.connection.leave_room(&room).await);
        assert_eq!((code, reason.as_str()), (Some(StatusCode::Fail), "not in group or chatroom"));
        let (code, reason) = refused(carol.connection.join_room("123456789", false).await);
        assert_eq!((code, reason.as_str()), (Some(StatusCode::Fail), "group not found"));
        let (code, _) = refused(carol.connection.join_room("not-a-room", false).await);
        assert_eq!(code, Some(StatusCode::Fail));
        let (code, reason) = refused(carol.connection.send_room_text("123456789", "x", None).await);
        assert_eq!((code, reason.as_str()), (Some(StatusCode::Fail), "group not found"));
        // Nothing of a room that does not exist stays in memory.
        let app = server.state.app("qun", "test").await.expect("store").expect("app");
        assert!(server.state.rooms.room_stats(app.id, qun_core::RoomId(123456789)).is_none());

        // A joiner's ext reaches the others with its memberPresence (the SDK shows it);
        // one too long is refused and changes nothing.
        let (code, reason) = refused(carol.connection.join_room_with_ext(&room, false, &"x".repeat(1025)).await);
        assert_eq!(code, Some(StatusCode::WrongParameter), "{reason}");
        assert_eq!(members(&server, &room).await, ["ann"]);
        carol.connection.join_room_with_ext(&room, false, r#"{"seat":"A7"}"#).await.expect("join with ext");
        let Incoming::GroupEvent { from, ext, .. } = ann.event(PRESENCE).await else { unreachable!() };
        assert_eq!((from.as_str(), ext.as_deref()), ("carol", Some(r#"{"seat":"A7"}"#)));
        carol.connection.leave_room(&room).await.expect("leave");

        // leaveOtherRooms: joining a second room with it leaves the first.
        let second = self::room(&server, "ann", json!({})).await;
        carol.connection.join_room(&room, false).await.expect("join first");
        carol.connection.join_room(&second, true).await.expect("join second");
        assert_eq!(members(&server, &room).await, ["ann"]);
        assert_eq!(members(&server, &second).await, ["ann", "carol"]);
    });
}

#[tokio::test]
async fn a_room_fills_up_to_its_size_and_the_plan() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob", "carol"]).await;
        let room = room(&server, "ann", json!({"maxusers": 2})).await;
        let bob = Device::connect(&server, "bob").await;
        let carol = Device::connect(&server, "carol").await;
        bob.connection.join_room(&room, false).await.expect("the second member fits");
        let (code, _) = refused(carol.connection.join_room(&room, false).await);
        assert_eq!(code, Some(StatusCode::PermissionDenied), "full");
        bob.connection.leave_room(&room).await.expect("leave");
        carol.connection.join_room(&room, false).await.expect("room again");
    });
}

#[tokio::test]
async fn absent_members_leave_after_the_grace_period_unless_allowlisted() {
    for backend in crate::harness::backends() {
        let server = TestServer::start_with(backend, |config| config.room_grace = Duration::from_millis(600)).await;
        server.users(&["ann", "bob", "carol", "dave", "erin"]).await;
        let mut ann = Device::connect(&server, "ann").await;
        let bob = Device::connect(&server, "bob").await;
        let carol = Device::connect(&server, "carol").await;
        let dave = Device::connect(&server, "dave").await;
        // The owner is online when the room is made: she is in it and not away.
        let room = room(&server, "ann", json!({})).await;
        for device in [&bob, &carol, &dave] {
            device.connection.join_room(&room, false).await.expect("join");
        }
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/white/users/carol"), None).await;
        ann.drain(Duration::from_millis(200)).await;

        // bob and carol go; dave goes and comes back within the grace period.
        bob.connection.close().await;
        carol.connection.close().await;
        dave.connection.close().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let dave = Device::connect(&server, "dave").await;
        assert_eq!(members(&server, &room).await, ["ann", "bob", "carol", "dave"], "within the grace period");
        let Incoming::GroupEvent { from, .. } = ann.event(ABSENCE).await else { unreachable!() };
        assert_eq!(from, "bob");
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(members(&server, &room).await, ["ann", "carol", "dave"], "bob left; carol is allowlisted");

        // The one who came back still receives the room.
        ann.connection.send_room_text(&room, "still here?", None).await.expect("send");
        let mut dave = dave;
        assert_eq!(dave.texts(1).await, ["still here?"]);

        // Put in over REST while offline: away from the start.
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/users/erin"), None).await;
        assert!(members(&server, &room).await.contains(&"erin".to_owned()));
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert!(!members(&server, &room).await.contains(&"erin".to_owned()));
        // The owner is not allowlisted: ann leaves too once she is away (she stays the owner).
        ann.connection.close().await;
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert_eq!(members(&server, &room).await, ["carol", "dave"]);
    }
}

#[tokio::test]
async fn members_in_the_room_at_start_leave_unless_they_come_back() {
    for backend in crate::harness::backends() {
        let server = TestServer::start_with(backend, |config| config.room_grace = Duration::from_millis(500)).await;
        server.users(&["ann", "bob"]).await;
        let room = room(&server, "ann", json!({"members": ["bob"]})).await;
        // Nobody connected: both are away from the creation on.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(members(&server, &room).await, Vec::<String>::new());
        // The runtime rebuilt from the store (as after a restart) starts everyone's absence.
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/users/bob"), None).await;
        let state = &server.state;
        let fresh = qun_server::services::room_delivery::RoomRuntime::new(
            state.delivery.clone(),
            Duration::from_millis(500),
            Duration::from_millis(100),
            Duration::from_secs(600),
        );
        assert_eq!(fresh.absent_count(), 0);
        fresh.start(state).await;
        assert_eq!(fresh.absent_count(), 1, "bob, in the room, nobody online");
    }
}

/// A login reads the user's rooms only if they may be in one: in a room at start or put in one
/// since, until a login of theirs finds none. Anyone else costs no read, and is still attached
/// when put in a room while online.
#[tokio::test]
async fn a_login_reads_rooms_only_for_users_who_may_be_in_one() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob", "carol"]).await;
        let room = room(&server, "ann", json!({"members": ["bob"]})).await;
        let app_id = server.state.app("qun", "test").await.expect("store").expect("app").id;
        let name = |user: &str| qun_core::UserName::parse(user).expect("user name");
        let may_be_member = |user: &str| server.state.rooms.may_be_member(app_id, &name(user));
        assert_eq!([may_be_member("ann"), may_be_member("bob"), may_be_member("carol")], [true, true, false]);

        // bob leaves while offline: he may still be in a room until a login of his reads none.
        admin_ok(&server, Method::DELETE, &format!("/chatrooms/{room}/users/bob"), None).await;
        assert!(may_be_member("bob"));
        let _bob = Device::connect(&server, "bob").await;
        assert!(!may_be_member("bob"), "bob's login read no room");

        // carol logs in without a read, then is put in the room while online: she hears it.
        let mut carol = Device::connect(&server, "carol").await;
        let ann = Device::connect(&server, "ann").await;
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/users/carol"), None).await;
        assert!(may_be_member("carol"));
        ann.connection.send_room_text(&room, "hello carol", None).await.expect("send");
        assert_eq!(carol.texts(1).await, ["hello carol"]);

        // After a restart, whoever is in a room is read at login; bob, in none, is not.
        let fresh = qun_server::services::room_delivery::RoomRuntime::new(
            server.state.delivery.clone(),
            Duration::from_secs(60),
            Duration::from_millis(100),
            Duration::from_secs(600),
        );
        assert!(fresh.may_be_member(app_id, &name("bob")), "every login reads until the start has read");
        fresh.start(&server.state).await;
        let fresh_may_be_member = |user: &str| fresh.may_be_member(app_id, &name(user));
        assert_eq!(
            [fresh_may_be_member("ann"), fresh_may_be_member("bob"), fresh_may_be_member("carol")],
            [true, false, true]
        );
    });
}

#[tokio::test]
async fn joiners_get_the_recent_messages() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob", "carol", "dave", "erin"]).await;
        let room = room(&server, "ann", json!({})).await;
        let ann = Device::connect(&server, "ann").await;
        for i in 0..12 {
            ann.connection.send_room_text(&room, &format!("m{i}"), None).await.expect("send");
        }
        // The newest 10 by default, oldest first, after the ack.
        let mut bob = Device::connect(&server, "bob").await;
        bob.connection.join_room(&room, false).await.expect("join");
        let expected: Vec<String> = (2..12).map(|i| format!("m{i}")).collect();
        assert_eq!(bob.texts(10).await, expected);
        assert!(texts_in(&bob.drain(Duration::from_millis(200)).await).is_empty());
        // Rejoining gets them again (the SDK drops ids it has seen).
        bob.connection.join_room(&room, false).await.expect("rejoin");
        assert_eq!(bob.texts(10).await, expected);

        // Per room: 3; then off.
        let reply =
            admin_ok(&server, Method::PUT, &format!("/chatrooms/{room}/delivery"), Some(json!({"history_size": 3})))
                .await;
        assert_eq!(
            (reply["data"]["history_size"].as_u64(), reply["data"]["rate_limit"].as_u64()),
            (Some(3), Some(100))
        );
        let mut carol = Device::connect(&server, "carol").await;
        carol.connection.join_room(&room, false).await.expect("join");
        assert_eq!(carol.texts(3).await, ["m9", "m10", "m11"]);
        admin_ok(
            &server,
            Method::PUT,
            &format!("/chatrooms/{room}/delivery"),
            Some(json!({"history_size": 3, "history_enabled": false})),
        )
        .await;
        let mut dave = Device::connect(&server, "dave").await;
        dave.connection.join_room(&room, false).await.expect("join");
        assert!(texts_in(&dave.drain(Duration::from_millis(300)).await).is_empty(), "history off");

        // Per app: the room's own setting removed, the app's 200 apply; the app can switch off.
        admin_ok(&server, Method::PUT, &format!("/chatrooms/{room}/delivery"), Some(json!({}))).await;
        let defaults = admin_ok(&server, Method::PUT, "/chatrooms/delivery", Some(json!({"history_size": 200}))).await;
        assert_eq!(defaults["data"]["history_size"], 200);
        for i in 12..15 {
            ann.connection.send_room_text(&room, &format!("m{i}"), None).await.expect("send");
        }
        let mut erin = Device::connect(&server, "erin").await;
        erin.connection.join_room(&room, false).await.expect("join");
        assert_eq!(erin.texts(3).await, ["m12", "m13", "m14"], "the ring restarted when history went off");
        admin_ok(&server, Method::PUT, "/chatrooms/delivery", Some(json!({"history_enabled": false}))).await;
        erin.connection.join_room(&room, false).await.expect("rejoin");
        assert!(texts_in(&erin.drain(Duration::from_millis(300)).await).is_empty(), "history off for the app");
        let (status, reply) =
            server.admin(Method::PUT, "/chatrooms/delivery", Some(json!({"history_size": 201}))).await;
        assert_eq!(status, 400, "{reply}");
        let (status, _) =
            server.admin(Method::PUT, &format!("/chatrooms/{room}/delivery"), Some(json!({"rate_limit": 0}))).await;
        assert_eq!(status, 400);
        // Members may not change it.
        let bob_token = server.login("bob").await;
        let (status, _) =
            server.call(Method::PUT, &format!("/chatrooms/{room}/delivery"), Some(&bob_token), Some(json!({}))).await;
        assert_eq!(status, 403);
    });
}

#[tokio::test]
async fn every_send_rule_of_a_room() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "adam", "bob", "carol", "vip", "out"]).await;
        let room = room(&server, "ann", json!({})).await;
        let ann = Device::connect(&server, "ann").await;
        let adam = Device::connect(&server, "adam").await;
        adam.connection.join_room(&room, false).await.expect("join");
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/admin"), Some(json!({"newadmin": "adam"}))).await;
        // The owner and the admin leave: they keep their roles.
        adam.connection.leave_room(&room).await.expect("leave");
        ann.connection.leave_room(&room).await.expect("leave");
        let mut bob = Device::connect(&server, "bob").await;
        let mut carol = Device::connect(&server, "carol").await;
        let vip = Device::connect(&server, "vip").await;
        let out = Device::connect(&server, "out").await;
        for device in [&bob, &carol, &vip] {
            device.connection.join_room(&room, false).await.expect("join");
        }
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/white/users/vip"), None).await;

        // A member sends to everyone in the room but their own connection.
        let sent = bob.connection.send_room_text(&room, "hello", None).await.expect("member sends");
        let message = loop {
            if let message @ Incoming::Message { .. } = carol.incoming.recv().await.expect("message") {
                break message;
            }
        };
        let Incoming::Message { id, from, to, chat_type, .. } = message else { unreachable!() };
        assert_eq!(
            (id, from.as_str(), to.as_str(), chat_type),
            (sent.server_id, "bob", room.as_str(), qun_client::ChatType::ChatRoom)
        );
        assert!(texts_in(&bob.drain(Duration::from_millis(200)).await).is_empty(), "no echo");

        // Outsiders may not send; the owner and admins may, in the room or not.
        let (code, reason) = refused(out.connection.send_room_text(&room, "x", None).await);
        assert_eq!((code, reason.as_str()), (Some(StatusCode::Fail), "not in group or chatroom"));
        ann.connection.send_room_text(&room, "from the owner", None).await.expect("owner, absent");
        adam.connection.send_room_text(&room, "from an admin", None).await.expect("admin, absent");

        // A muted member may not; unmuted, they may.
        admin_ok(
            &server,
            Method::POST,
            &format!("/chatrooms/{room}/mute"),
            Some(json!({"usernames": ["bob"], "mute_duration": -1})),
        )
        .await;
        let (code, reason) = refused(bob.connection.send_room_text(&room, "x", None).await);
        assert_eq!((code, reason.as_str()), (Some(StatusCode::UserMuted), "user is mute"));
        admin_ok(&server, Method::DELETE, &format!("/chatrooms/{room}/mute/bob"), None).await;
        bob.connection.send_room_text(&room, "unmuted", None).await.expect("unmuted");

        // Mute-all: members are silenced; the owner, admins and the allowlisted are not.
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/ban"), None).await;
        carol.event(MUTE_ALL).await;
        let (code, _) = refused(carol.connection.send_room_text(&room, "x", None).await);
        assert_eq!(code, Some(StatusCode::UserMuted));
        ann.connection.send_room_text(&room, "owner during mute-all", None).await.expect("owner");
        adam.connection.send_room_text(&room, "admin during mute-all", None).await.expect("admin");
        vip.connection.send_room_text(&room, "vip during mute-all", None).await.expect("allowlisted");
        admin_ok(&server, Method::DELETE, &format!("/chatrooms/{room}/ban"), None).await;
        carol.connection.send_room_text(&room, "after mute-all", None).await.expect("member again");

        // Blocklisted: kicked (removeMember to them, memberAbsence to the others), and out.
        carol.drain(Duration::from_millis(200)).await;
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/blocks/users/bob"), None).await;
        let Incoming::GroupEvent { group, .. } = bob.event(KICK).await else { unreachable!() };
        assert_eq!(group, room);
        let Incoming::GroupEvent { from, .. } = carol.event(ABSENCE).await else { unreachable!() };
        assert_eq!(from, "bob");
        let (code, _) = refused(bob.connection.send_room_text(&room, "x", None).await);
        assert_eq!(code, Some(StatusCode::Fail));
        let (code, reason) = refused(bob.connection.join_room(&room, false).await);
        assert_eq!((code, reason.as_str()), (Some(StatusCode::Fail), "blocked"), "cannot rejoin");
        carol.connection.send_room_text(&room, "bob is gone", None).await.expect("send");
        assert!(texts_in(&bob.drain(Duration::from_millis(300)).await).is_empty(), "a kicked member hears nothing");
        assert!(!members(&server, &room).await.contains(&"bob".to_owned()));
    });
}

#[tokio::test]
async fn drops_above_the_rate_are_counted_exactly() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob", "carol"]).await;
        let room = room(&server, "ann", json!({})).await;
        admin_ok(&server, Method::PUT, &format!("/chatrooms/{room}/delivery"), Some(json!({"rate_limit": 5}))).await;
        let ann = Device::connect(&server, "ann").await;
        let bob = Device::connect(&server, "bob").await;
        let mut carol = Device::connect(&server, "carol").await;
        bob.connection.join_room(&room, false).await.expect("join");
        carol.connection.join_room(&room, false).await.expect("join");
        carol.drain(Duration::from_millis(200)).await;

        // Far above 5/s: every send is acked OK, dropped or not.
        for i in 0..30 {
            bob.connection.send_room_text(&room, &format!("low {i}"), Some(2)).await.expect("acked");
        }
        for i in 0..30 {
            bob.connection.send_room_text(&room, &format!("normal {i}"), Some(1)).await.expect("acked");
        }
        for i in 0..10 {
            bob.connection.send_room_text(&room, &format!("high {i}"), Some(0)).await.expect("acked");
            ann.connection.send_room_text(&room, &format!("owner {i}"), Some(2)).await.expect("acked");
        }
        let received = texts_in(&carol.drain(Duration::from_millis(500)).await);
        let metrics = room_metrics(&server, &room).await;
        let get = |key: &str| metrics.get(key).copied().unwrap_or_else(|| panic!("{key} in {metrics:?}"));
        let delivered = get("qun_room_messages_delivered_total/high")
            + get("qun_room_messages_delivered_total/normal")
            + get("qun_room_messages_delivered_total/low");
        let dropped = get("qun_room_messages_dropped_total/high")
            + get("qun_room_messages_dropped_total/normal")
            + get("qun_room_messages_dropped_total/low");
        assert_eq!(get("qun_room_messages_offered_total"), 80);
        assert_eq!(delivered + dropped, 80, "{metrics:?}");
        assert_eq!(received.len() as u64, delivered, "what was delivered is what arrived");
        // High priority (anything from the owner) is never dropped; a member's tag 0 is normal.
        assert_eq!(get("qun_room_messages_delivered_total/high"), 10);
        assert_eq!(get("qun_room_messages_dropped_total/high"), 0);
        assert_eq!(received.iter().filter(|t| t.starts_with("owner")).count(), 10);
        // Low goes first: of 30 low offered into a full bucket of 5, at most 3 get through
        // (while more than half the bucket is left); normal gets what is left.
        assert!(get("qun_room_messages_dropped_total/low") >= 27, "{metrics:?}");
        assert!(get("qun_room_messages_dropped_total/normal") >= 20, "{metrics:?}");
        assert!(get("qun_room_messages_delivered_total/normal") >= 1, "{metrics:?}");
        assert_eq!(get("qun_room_members_online"), 3);
    });
}

#[tokio::test]
async fn a_members_claimed_high_is_normal_and_a_flooder_does_not_starve_the_others() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob", "carol", "dan"]).await;
        let room = room(&server, "ann", json!({})).await;
        let delivery = format!("/chatrooms/{room}/delivery");
        admin_ok(&server, Method::PUT, &delivery, Some(json!({"rate_limit": 5}))).await;
        let bob = Device::connect(&server, "bob").await;
        let mut carol = Device::connect(&server, "carol").await;
        let dan = Device::connect(&server, "dan").await;
        for device in [&bob, &carol, &dan] {
            device.connection.join_room(&room, false).await.expect("join");
        }
        carol.drain(Duration::from_millis(200)).await;

        // An ordinary member tagging its messages high (0) far above 5/s: normal, so dropped
        // above the threshold and counted as normal.
        for i in 0..30 {
            bob.connection.send_room_text(&room, &format!("claimed high {i}"), Some(0)).await.expect("acked");
        }
        let received = texts_in(&carol.drain(Duration::from_millis(300)).await);
        let metrics = room_metrics(&server, &room).await;
        let get = |metrics: &BTreeMap<String, u64>, key: &str| {
            metrics.get(key).copied().unwrap_or_else(|| panic!("{key} in {metrics:?}"))
        };
        assert_eq!(get(&metrics, "qun_room_messages_delivered_total/high"), 0, "{metrics:?}");
        assert_eq!(get(&metrics, "qun_room_messages_dropped_total/high"), 0, "{metrics:?}");
        assert!(get(&metrics, "qun_room_messages_dropped_total/normal") >= 24, "{metrics:?}");
        let delivered = get(&metrics, "qun_room_messages_delivered_total/normal");
        assert_eq!(delivered + get(&metrics, "qun_room_messages_dropped_total/normal"), 30, "{metrics:?}");
        assert_eq!(received.len() as u64, delivered);
        // The same claim over REST with bob's own token is no different.
        let bob_token = server.login("bob").await;
        for i in 0..10 {
            let message = json!({"from": "bob", "to": [room], "type": "txt", "body": {"msg": format!("rest high {i}")},
                "chatroom_msg_level": "high"});
            let (status, body) =
                server.call(Method::POST, "/messages/chatrooms", Some(&bob_token), Some(message)).await;
            assert_eq!(status, 200, "{body}");
        }
        let metrics = room_metrics(&server, &room).await;
        assert_eq!(get(&metrics, "qun_room_messages_delivered_total/high"), 0, "{metrics:?}");
        assert_eq!(get(&metrics, "qun_room_messages_dropped_total/high"), 0, "{metrics:?}");
        assert_eq!(get(&metrics, "qun_room_messages_offered_total"), 40, "{metrics:?}");
        let delivered = get(&metrics, "qun_room_messages_delivered_total/normal");
        carol.drain(Duration::from_millis(300)).await;

        // Fairness: bob floods while dan sends 5 a second (within his
        // share of 20/s between two senders): dan's messages get through, bob loses his own.
        admin_ok(&server, Method::PUT, &delivery, Some(json!({"rate_limit": 20}))).await;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let flood = async {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                bob.connection.send_room_text(&room, &format!("flood {sent}"), Some(1)).await.expect("acked");
                sent += 1;
                if sent.is_multiple_of(10) {
                    // At most about 1,000/s (50 times the rate): a flood, without starving the
                    // tests running beside this one.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            sent
        };
        let polite = async {
            for i in 0..8 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                dan.connection.send_room_text(&room, &format!("polite {i}"), None).await.expect("acked");
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        };
        let (flooded, ()) = tokio::join!(flood, polite);
        let received = texts_in(&carol.drain(Duration::from_millis(300)).await);
        let polite = received.iter().filter(|t| t.starts_with("polite")).count();
        let flood = received.iter().filter(|t| t.starts_with("flood")).count() as u64;
        assert!(flooded > 200, "a flood: {flooded}");
        assert!(polite >= 7, "the polite member's messages get through: {polite} of 8 ({flood} of {flooded} flooded)");
        assert!(flood < flooded / 2, "the flooder loses its excess: {flood} of {flooded}");
        // Every message offered is counted, once.
        let metrics = room_metrics(&server, &room).await;
        assert_eq!(get(&metrics, "qun_room_messages_offered_total"), 40 + flooded + 8, "{metrics:?}");
        assert_eq!(
            get(&metrics, "qun_room_messages_delivered_total/normal"),
            delivered + flood + polite as u64,
            "{metrics:?}"
        );
    });
}

#[tokio::test]
async fn rest_messages_reach_the_members_in_the_room() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "bob", "carol"]).await;
        let room = room(&server, "ann", json!({})).await;
        let other = self::room(&server, "ann", json!({})).await;
        let mut bob = Device::connect(&server, "bob").await;
        bob.connection.join_room(&room, false).await.expect("join");
        bob.connection.join_room(&other, false).await.expect("join");
        bob.drain(Duration::from_millis(200)).await;

        let message = |to: Value, extra: Value| {
            let mut body = json!({"to": to, "type": "txt", "body": {"msg": "from the backend"}, "ext": {"k": "v"}});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };
        let reply = admin_ok(
            &server,
            Method::POST,
            "/messages/chatrooms",
            Some(message(json!([room, other]), json!({"from": "carol", "chatroom_msg_level": "low"}))),
        )
        .await;
        let ids = reply["data"].as_object().expect("data: room -> message id");
        assert_eq!(ids.len(), 2, "{reply}");
        let mut got = Vec::new();
        for _ in 0..2 {
            match tokio::time::timeout(PATIENCE, bob.incoming.recv()).await {
                Ok(Some(Incoming::Message { id, from, to, chat_type, text, ext, .. })) => {
                    assert_eq!(
                        (from.as_str(), chat_type, text.as_str()),
                        ("carol", qun_client::ChatType::ChatRoom, "from the backend")
                    );
                    assert_eq!(ext.len(), 1, "the ext of the request");
                    got.push((to, id.to_string()));
                }
                other => panic!("no message: {other:?}"),
            }
        }
        got.sort();
        let mut want: Vec<(String, String)> =
            ids.iter().map(|(room, id)| (room.clone(), id.as_str().unwrap().to_owned())).collect();
        want.sort();
        assert_eq!(got, want);
        let metrics = room_metrics(&server, &room).await;
        assert_eq!(metrics.get("qun_room_messages_delivered_total/low"), Some(&1), "{metrics:?}");

        // Bad requests send nothing: an unknown room among good ones, too many rooms, a bad
        // level, a user token of a non-member.
        let (status, reply) = server
            .admin(Method::POST, "/messages/chatrooms", Some(message(json!([room, "123456789"]), json!({}))))
            .await;
        assert_eq!((status, reply["error"].as_str()), (404, Some("service_resource_not_found")), "{reply}");
        let eleven: Vec<String> = (0..11).map(|_| room.clone()).collect();
        let (status, _) =
            server.admin(Method::POST, "/messages/chatrooms", Some(message(json!(eleven), json!({})))).await;
        assert_eq!(status, 400);
        let (status, _) = server
            .admin(
                Method::POST,
                "/messages/chatrooms",
                Some(message(json!([room]), json!({"chatroom_msg_level": "urgent"}))),
            )
            .await;
        assert_eq!(status, 400);
        let carol_token = server.login("carol").await;
        let (status, reply) = server
            .call(Method::POST, "/messages/chatrooms", Some(&carol_token), Some(message(json!([room]), json!({}))))
            .await;
        assert_eq!(status, 403, "{reply}");
        assert!(texts_in(&bob.drain(Duration::from_millis(300)).await).is_empty(), "nothing more arrived");
    });
}

#[tokio::test]
async fn rooms_nobody_is_in_sleep_and_wake_with_their_recent_messages() {
    for backend in crate::harness::backends() {
        let server = TestServer::start_with(backend, |config| {
            config.room_idle = Duration::from_millis(300);
            config.room_grace = Duration::from_millis(2000);
        })
        .await;
        server.users(&["ann", "bob"]).await;
        let room = room(&server, "ann", json!({})).await;
        let ann = Device::connect(&server, "ann").await;
        for i in 0..3 {
            ann.connection.send_room_text(&room, &format!("m{i}"), None).await.expect("send");
        }
        // The owner is away (her grace period runs): the room stays awake.
        ann.connection.close().await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(server.state.rooms.rooms_awake(), 1, "someone is away");
        // Her grace period ends and she leaves: nobody is in it at all, and it goes to sleep.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while server.state.rooms.rooms_awake() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the idle room never went to sleep");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A joiner wakes it and gets what it had.
        let mut bob = Device::connect(&server, "bob").await;
        bob.connection.join_room(&room, false).await.expect("join");
        assert_eq!(bob.texts(3).await, ["m0", "m1", "m2"]);
        assert_eq!(server.state.rooms.rooms_awake(), 1);
    }
}

/// Issue 13.9: a session is registered with the hub and its rooms before its login is
/// answered (`gateway::connection`), so a room event that happens once the client has its
/// login answer reaches it. The proof holds every login in the middle of its registration
/// (`Hub::hold_registrations`): while it is held the client must not have its answer (with the
/// old order — answer, then register — it had it at once), and once it is let go, an event
/// right after the answer must arrive. Then thirty logins, each followed at once by a join
/// the owner must hear of.
#[tokio::test]
async fn a_room_event_right_after_the_login_answer_is_never_lost() {
    let server = TestServer::start(crate::harness::backends()[0]).await;
    let joiners: Vec<String> = (0..30).map(|i| format!("joiner{i}")).collect();
    let mut names: Vec<&str> = joiners.iter().map(String::as_str).collect();
    names.extend(["ann", "held"]);
    server.users(&names).await;
    let room = room(&server, "ann", json!({})).await;

    let hold = server.state.hub.hold_registrations().await;
    let token = server.login("ann").await;
    let url = format!("ws://{}/websocket", server.address);
    let login = tokio::spawn(async move {
        qun_client::Connection::connect(&url, "qun#test", "ann", &token, "ann-device").await.expect("login")
    });
    let app_id = server.state.app("qun", "test").await.unwrap().expect("the test app").id;
    let ann = qun_core::UserName::parse("ann").unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.state.hub.sessions_of(app_id, &ann).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the login never reached its registration");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The session is in the hub and held before its chat rooms: its answer must not be out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!login.is_finished(), "the login was answered before its session was registered");
    drop(hold);
    let (connection, incoming) = login.await.unwrap();
    let mut ann = Device { connection, incoming };
    admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/users/held"), None).await;
    let Incoming::GroupEvent { from, .. } = ann.event(PRESENCE).await else { unreachable!() };
    assert_eq!(from, "held");
    ann.connection.close().await;

    for joiner in &joiners {
        // `connect` returns as soon as the login is answered; the join follows at once.
        let mut ann = Device::connect(&server, "ann").await;
        admin_ok(&server, Method::POST, &format!("/chatrooms/{room}/users/{joiner}"), None).await;
        let Incoming::GroupEvent { from, .. } = ann.event(PRESENCE).await else { unreachable!() };
        assert_eq!(&from, joiner);
        ann.connection.close().await;
    }
}
