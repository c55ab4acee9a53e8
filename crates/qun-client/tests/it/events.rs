//! Group events done over REST arrive on the websocket as `GroupEvent`.

use qun_client::{Incoming, operation_name};

use crate::harness::{TestServer, next_event};

/// msync `MUCBody.Operation` values.
const ADD_ADMIN: i32 = 21;
const ADD_MUTE: i32 = 23;

#[tokio::test]
async fn an_admin_added_by_the_app_reaches_the_new_admin() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    let (_alice, mut alice_incoming) = server.connect("alice", "dev-a").await;
    let (_bob, mut bob_incoming) = server.connect("bob", "dev-b").await;

    server.admin.add_admin(&group, "bob").await.expect("add admin");
    for incoming in [&mut bob_incoming, &mut alice_incoming] {
        let Incoming::GroupEvent { group: event_group, operation, from, to, .. } =
            next_event(incoming, ADD_ADMIN).await
        else {
            unreachable!()
        };
        assert_eq!((event_group.as_str(), to.as_slice()), (group.as_str(), &["bob".to_owned()][..]));
        assert!(!from.is_empty(), "the SDK dereferences from.name");
        assert_eq!(operation_name(operation), "setAdmin");
    }
}

#[tokio::test]
async fn events_while_offline_arrive_at_the_next_login() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    let (bob, _) = server.connect("bob", "dev-b").await;
    bob.close().await;

    server.admin.mute_members(&group, &["bob"], 60_000).await.expect("mute");
    let (_bob, mut bob_incoming) = server.connect("bob", "dev-b").await;
    let Incoming::GroupEvent { group: event_group, to, .. } = next_event(&mut bob_incoming, ADD_MUTE).await else {
        unreachable!()
    };
    assert_eq!((event_group, to), (group, vec!["bob".to_owned()]));
}
