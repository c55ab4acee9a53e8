//! Delivery cursors end to end: sessions acknowledge in memory and the cursor writer saves
//! what all of them acknowledged together, in the background and when they close; a device
//! that comes back reads its position from the store and gets nothing twice.

use std::time::{Duration, Instant};

use qun_core::{GroupId, UserName};
use qun_store::QueueKey;
use serde_json::json;

use crate::harness::{Device, PATIENCE, TestServer, backends, texts_in};

/// Members of the group, each with one device online.
const MEMBERS: usize = 20;

fn member_names() -> Vec<String> {
    (0..MEMBERS).map(|i| format!("m{i:02}")).collect()
}

/// Registers the sender and the members, makes the group and connects every member's phone.
async fn group_online(server: &TestServer) -> (String, Device, Vec<Device>) {
    let members = member_names();
    let mut names: Vec<&str> = members.iter().map(String::as_str).collect();
    names.push("sender");
    server.users(&names).await;
    let group = server.group("sender", &names[..MEMBERS], json!({})).await;
    let mut devices = Vec::new();
    for member in &members {
        devices.push(Device::connect_as(server, member, "phone").await);
    }
    let sender = Device::connect(server, "sender").await;
    (group, sender, devices)
}

async fn send(sender: &Device, group: &str, texts: impl IntoIterator<Item = String>) {
    for text in texts {
        sender.connection.send_group_text(group, &text, Vec::new()).await.expect("send");
    }
}

/// The stored positions of every member's phone in `group`, and the group's head.
async fn stored_positions(server: &TestServer, group: &str) -> (Vec<Option<i64>>, i64) {
    let store = &server.state.store;
    let app = server.state.app("qun", "test").await.expect("store").expect("app");
    let group_id = GroupId::parse(group).expect("group id");
    let head = store.groups(app.id, &[group_id]).await.expect("groups")[0].last_seq;
    let mut positions = Vec::new();
    for member in member_names() {
        let user = UserName::parse(&member).expect("user name");
        positions.push(store.cursor(app.id, &user, "phone", &QueueKey::Group(group_id)).await.expect("cursor"));
    }
    (positions, head)
}

/// A series of `/metrics`, as scraped.
fn metric(server: &TestServer, series: &str) -> f64 {
    let text = server.state.metrics.encode();
    let line = text.lines().find(|line| line.split(' ').next() == Some(series));
    line.and_then(|line| line.split(' ').nth(1)).and_then(|value| value.parse().ok()).expect(series)
}

#[tokio::test]
async fn what_online_sessions_acknowledge_is_saved_together_in_the_background() {
    for backend in backends() {
        let server = TestServer::start_with(backend, |config| config.cursor_flush = Duration::from_millis(200)).await;
        let (group, sender, mut devices) = group_online(&server).await;
        let transactions_before = metric(&server, "qun_cursor_commit_seconds_count");
        let texts: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
        send(&sender, &group, texts.clone()).await;
        for device in &mut devices {
            assert_eq!(device.texts(5).await, texts);
        }

        // Every member acknowledged the batch (with the pull after it); the writer saves it
        // while everyone stays online.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (positions, head) = stored_positions(&server, &group).await;
            if positions.iter().all(|position| *position == Some(head)) {
                break;
            }
            assert!(Instant::now() < deadline, "not saved in time ({backend}): {positions:?}, head {head}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(server.state.hub.session_count(), MEMBERS + 1, "nobody closed ({backend})");
        // Twenty sessions' acknowledgements, a few transactions (one per interval they fell in).
        let transactions = metric(&server, "qun_cursor_commit_seconds_count") - transactions_before;
        assert!((1.0..10.0).contains(&transactions), "{transactions} transactions ({backend})");
        assert!(metric(&server, "qun_cursors_saved_total") >= MEMBERS as f64);
    }
}

#[tokio::test]
async fn devices_that_close_together_come_back_to_only_what_is_new() {
    for backend in backends() {
        // An interval that never comes during the test: only the closes save.
        let server = TestServer::start_with(backend, |config| config.cursor_flush = Duration::from_secs(3600)).await;
        let (group, sender, mut devices) = group_online(&server).await;
        let first: Vec<String> = (0..5).map(|i| format!("first {i}")).collect();
        send(&sender, &group, first.clone()).await;
        for device in &mut devices {
            assert_eq!(device.texts(5).await, first);
        }
        // Every member's last acknowledgement is the pull that gets the empty batch: it has
        // come once a drain sees nothing more.
        for device in &mut devices {
            assert!(texts_in(&device.drain(Duration::from_millis(100)).await).is_empty());
        }
        let (positions, _) = stored_positions(&server, &group).await;
        assert!(positions.iter().all(Option::is_none), "nothing saved before the closes ({backend}): {positions:?}");

        // All close at once; once they have left the hub, their positions are in the store.
        futures_util::future::join_all(devices.iter().map(|device| device.connection.close())).await;
        let deadline = Instant::now() + PATIENCE;
        while server.state.hub.session_count() > 1 {
            assert!(Instant::now() < deadline, "the closed sessions never left ({backend})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (positions, head) = stored_positions(&server, &group).await;
        assert!(positions.iter().all(|position| *position == Some(head)), "{positions:?}, head {head} ({backend})");

        // More while away; each device comes back to exactly the new ones.
        let second: Vec<String> = (0..3).map(|i| format!("second {i}")).collect();
        send(&sender, &group, second.clone()).await;
        for member in member_names() {
            let mut device = Device::connect_as(&server, &member, "phone").await;
            assert_eq!(device.texts(3).await, second, "{member} ({backend})");
            assert!(texts_in(&device.drain(Duration::from_millis(200)).await).is_empty(), "{member} ({backend})");
        }
    }
}
