//! Applications, invitations, quitting and shielding over REST, with exactly who receives
//! each resulting event (agora-chat-api.md §5) — and who does not.

use qun_core::{GroupId, UserName};
use qun_store::{MembershipRecord, RequestKind, RequestRecord};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

// ------------------------------------------------------------------------ helpers

/// What some users would have received so far, to tell exactly what one call adds.
struct Inboxes {
    group: String,
    seen: Vec<(String, Vec<String>)>,
}

async fn inboxes(server: &TestServer, group: &str, users: &[&str]) -> Inboxes {
    let mut seen = Vec::new();
    for user in users {
        seen.push((user.to_string(), server.events_of(user, group).await));
    }
    Inboxes { group: group.to_owned(), seen }
}

impl Inboxes {
    /// Per user, the events that were not there before, in the order `events_of` lists them.
    /// (A diff rather than a tail: personal events are listed before timeline events.)
    async fn arrived(&self, server: &TestServer) -> Vec<(String, Vec<String>)> {
        let mut arrived = Vec::new();
        for (user, before) in &self.seen {
            let mut now = server.events_of(user, &self.group).await;
            for old in before {
                if let Some(index) = now.iter().position(|event| event == old) {
                    now.remove(index);
                }
            }
            arrived.push((user.clone(), now));
        }
        arrived
    }
}

fn expected(lists: &[(&str, Vec<&str>)]) -> Vec<(String, Vec<String>)> {
    lists.iter().map(|(user, events)| (user.to_string(), events.iter().map(|e| e.to_string()).collect())).collect()
}

async fn app_id(server: &TestServer) -> i64 {
    server.state.app("qun", "test").await.expect("store").expect("app").id
}

fn ids(group: &str, user: &str) -> (GroupId, UserName) {
    (GroupId::parse(group).expect("group id"), UserName::parse(user).expect("user name"))
}

async fn member_count(server: &TestServer, group: &str) -> u32 {
    let group_id = GroupId::parse(group).expect("group id");
    let snapshot = server.state.store.group_snapshot(app_id(server).await, group_id, &[], 0).await.expect("snapshot");
    snapshot.expect("group exists").group.member_count
}

async fn membership(server: &TestServer, group: &str, user: &str) -> Option<MembershipRecord> {
    let (group_id, user) = ids(group, user);
    let snapshot =
        server.state.store.group_snapshot(app_id(server).await, group_id, &[user], 0).await.expect("snapshot");
    snapshot.expect("group exists").users[0].membership.clone()
}

async fn is_member(server: &TestServer, group: &str, user: &str) -> bool {
    membership(server, group, user).await.is_some()
}

async fn pending(server: &TestServer, group: &str, user: &str, kind: RequestKind) -> Option<RequestRecord> {
    let (group_id, user) = ids(group, user);
    server.state.store.pending_request(app_id(server).await, group_id, &user, kind).await.expect("pending request")
}

/// The `reason` of the newest event stored for `user` personally in `group`.
async fn last_reason(server: &TestServer, group: &str, user: &str) -> String {
    let (group_id, user) = ids(group, user);
    let events = server.state.store.user_events(app_id(server).await, &user, 0, 10_000).await.expect("events");
    events
        .iter()
        .rev()
        .filter_map(|stored| stored.item.group_event())
        .find(|event| event.group_id == group_id)
        .expect("an event")
        .reason
        .clone()
}

async fn apply(server: &TestServer, group: &str, token: &str, message: &str) -> (u16, Value) {
    server
        .call(Method::POST, &format!("/chatgroups/{group}/apply"), Some(token), Some(json!({ "message": message })))
        .await
}

async fn apply_verify(server: &TestServer, group: &str, token: &str, body: Value) -> (u16, Value) {
    server.call(Method::POST, &format!("/chatgroups/{group}/apply_verify"), Some(token), Some(body)).await
}

async fn invite(server: &TestServer, group: &str, token: &str, users: &[&str]) -> (u16, Value) {
    server
        .call(Method::POST, &format!("/chatgroups/{group}/invite"), Some(token), Some(json!({ "usernames": users })))
        .await
}

async fn invite_verify(server: &TestServer, group: &str, token: &str, body: Value) -> (u16, Value) {
    server.call(Method::POST, &format!("/chatgroups/{group}/invite_verify"), Some(token), Some(body)).await
}

fn action_result(group: &str, action: &str, user: &str) -> Value {
    json!({ "result": true, "groupid": group, "action": action, "user": user })
}

// ------------------------------------------------------------------------ applications

#[tokio::test]
async fn apply_to_an_open_public_group_joins_at_once() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "carol"]).await;
        let group = server.group("owner", &["m1"], json!({"public": true, "membersonly": false})).await;
        let carol = server.login("carol").await;
        let inbox = inboxes(&server, &group, &["owner", "m1", "carol"]).await;

        let (status, body) = apply(&server, &group, &carol, "hi").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "apply", "carol"));
        assert_eq!(member_count(&server, &group).await, 3);
        assert!(is_member(&server, &group, "carol").await);
        assert!(pending(&server, &group, "carol", RequestKind::Application).await.is_none());
        // The others hear of the new member; the applicant, who asked, hears nothing.
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[
                ("owner", vec!["memberPresence:carol>carol"]),
                ("m1", vec!["memberPresence:carol>carol"]),
                ("carol", vec![]),
            ])
        );

        // A member cannot apply again.
        let (status, body) = apply(&server, &group, &carol, "hi").await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert_eq!(member_count(&server, &group).await, 3);
        // Nor can the app administrator, who is nobody to add.
        let (status, body) = server.admin(Method::POST, &format!("/chatgroups/{group}/apply"), Some(json!({}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
    });
}

#[tokio::test]
async fn apply_with_approval_asks_the_owner_and_admins_only() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "adm", "m1", "carol"]).await;
        let group = server.group("owner", &["adm", "m1"], json!({"membersonly": true})).await;
        let (status, body) =
            server.admin(Method::POST, &format!("/chatgroups/{group}/admin"), Some(json!({"newadmin": "adm"}))).await;
        assert_eq!(status, 200, "{body}");
        let carol = server.login("carol").await;
        let inbox = inboxes(&server, &group, &["owner", "adm", "m1", "carol"]).await;

        let (status, body) = apply(&server, &group, &carol, "let me in").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "apply", "carol"));
        assert!(!is_member(&server, &group, "carol").await);
        assert_eq!(member_count(&server, &group).await, 3);
        let request = pending(&server, &group, "carol", RequestKind::Application).await.expect("pending application");
        assert_eq!(request.message, "let me in");
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[
                ("owner", vec!["requestToJoin:carol>carol"]),
                ("adm", vec!["requestToJoin:carol>carol"]),
                ("m1", vec![]),
                ("carol", vec![]),
            ])
        );
        assert_eq!(last_reason(&server, &group, "owner").await, "let me in");

        // The same application again is a retry: nothing changes, nobody is asked twice.
        let inbox = inboxes(&server, &group, &["owner", "adm", "m1", "carol"]).await;
        let (status, body) = apply(&server, &group, &carol, "let me in").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[("owner", vec![]), ("adm", vec![]), ("m1", vec![]), ("carol", vec![])])
        );

        // A new message replaces the old one and the managers are asked again.
        let (status, body) = apply(&server, &group, &carol, "please").await;
        assert_eq!(status, 200, "{body}");
        let request = pending(&server, &group, "carol", RequestKind::Application).await.expect("pending application");
        assert_eq!(request.message, "please");
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[
                ("owner", vec!["requestToJoin:carol>carol"]),
                ("adm", vec!["requestToJoin:carol>carol"]),
                ("m1", vec![]),
                ("carol", vec![]),
            ])
        );
        assert_eq!(last_reason(&server, &group, "adm").await, "please");
        assert_eq!(member_count(&server, &group).await, 3);
    });
}

#[tokio::test]
async fn an_approved_application_joins_and_tells_the_others() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "adm", "m1", "carol"]).await;
        let group = server.group("owner", &["adm", "m1"], json!({"membersonly": true})).await;
        let (status, _) =
            server.admin(Method::POST, &format!("/chatgroups/{group}/admin"), Some(json!({"newadmin": "adm"}))).await;
        assert_eq!(status, 200);
        let (carol, adm, m1) = (server.login("carol").await, server.login("adm").await, server.login("m1").await);
        let (status, _) = apply(&server, &group, &carol, "let me in").await;
        assert_eq!(status, 200);

        // Only the owner and admins decide.
        let accept = json!({"applicant": "carol", "verifyResult": true});
        let (status, body) = apply_verify(&server, &group, &m1, accept.clone()).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = apply_verify(&server, &group, &carol, accept.clone()).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert!(!is_member(&server, &group, "carol").await);

        let inbox = inboxes(&server, &group, &["owner", "adm", "m1", "carol"]).await;
        let (status, body) = apply_verify(&server, &group, &adm, accept.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "apply_verify", "carol"));
        assert!(is_member(&server, &group, "carol").await);
        assert_eq!(member_count(&server, &group).await, 4);
        assert!(pending(&server, &group, "carol", RequestKind::Application).await.is_none());
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[
                ("owner", vec!["memberPresence:carol>carol"]),
                ("adm", vec!["memberPresence:carol>carol"]),
                ("m1", vec!["memberPresence:carol>carol"]),
                ("carol", vec!["acceptRequest:adm>carol"]),
            ])
        );

        // Deciding twice: carol is a member now.
        let (status, body) =
            server.admin(Method::POST, &format!("/chatgroups/{group}/apply_verify"), Some(accept)).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert_eq!(member_count(&server, &group).await, 4);
    });
}

#[tokio::test]
async fn a_declined_application_tells_the_applicant_only() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "carol"]).await;
        let group = server.group("owner", &["m1"], json!({"membersonly": true})).await;
        let (carol, owner) = (server.login("carol").await, server.login("owner").await);
        let (status, _) = apply(&server, &group, &carol, "let me in").await;
        assert_eq!(status, 200);

        let inbox = inboxes(&server, &group, &["owner", "m1", "carol"]).await;
        let decline = json!({"applicant": "carol", "verifyResult": false, "reason": "not now"});
        let (status, body) = apply_verify(&server, &group, &owner, decline.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "apply_verify", "carol"));
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[("owner", vec![]), ("m1", vec![]), ("carol", vec!["joinPublicGroupDeclined:owner>carol"])])
        );
        assert_eq!(last_reason(&server, &group, "carol").await, "not now");
        assert!(!is_member(&server, &group, "carol").await);
        assert!(pending(&server, &group, "carol", RequestKind::Application).await.is_none());
        assert_eq!(member_count(&server, &group).await, 2);

        // The application is gone: there is nothing left to decide.
        let (status, body) = apply_verify(&server, &group, &owner, decline).await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
        assert_eq!(body["error_description"], "no application from carol");
    });
}

#[tokio::test]
async fn a_private_group_takes_no_applications() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "carol"]).await;
        let group = server.group("owner", &[], json!({"public": false})).await;
        let carol = server.login("carol").await;
        let inbox = inboxes(&server, &group, &["owner"]).await;
        let (status, body) = apply(&server, &group, &carol, "hi").await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert!(!is_member(&server, &group, "carol").await);
        assert!(pending(&server, &group, "carol", RequestKind::Application).await.is_none());
        assert_eq!(inbox.arrived(&server).await, expected(&[("owner", vec![])]));
    });
}

#[tokio::test]
async fn a_blocklisted_user_cannot_apply_until_unblocked() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "carol"]).await;
        let group = server.group("owner", &[], json!({})).await;
        let carol = server.login("carol").await;
        let (status, body) = server.admin(Method::POST, &format!("/chatgroups/{group}/blocks/users/carol"), None).await;
        assert_eq!(status, 200, "{body}");

        let (status, body) = apply(&server, &group, &carol, "hi").await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert!(!is_member(&server, &group, "carol").await);

        let (status, body) =
            server.admin(Method::DELETE, &format!("/chatgroups/{group}/blocks/users/carol"), None).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = apply(&server, &group, &carol, "hi").await;
        assert_eq!(status, 200, "{body}");
        assert!(is_member(&server, &group, "carol").await);
    });
}

// ------------------------------------------------------------------------ invitations

#[tokio::test]
async fn an_accepted_invitation_tells_the_inviter_and_joins() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "dave"]).await;
        let group = server.group("owner", &["m1"], json!({"public": false, "invite_need_confirm": true})).await;
        let (owner, m1, dave) = (server.login("owner").await, server.login("m1").await, server.login("dave").await);

        let inbox = inboxes(&server, &group, &["owner", "m1", "dave"]).await;
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{group}/invite"),
                Some(&owner),
                Some(json!({"usernames": ["dave", "ghost", "m1"], "reason": "join us"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        // One result per user: unknown users and members fail on their own.
        let results = body["data"].as_array().expect("per-user results");
        assert_eq!(results.len(), 3, "{body}");
        assert_eq!(results[0], json!({"result": true, "action": "invite", "user": "dave", "groupid": group}));
        assert_eq!(
            results[1],
            json!({"result": false, "action": "invite", "user": "ghost", "groupid": group, "reason": "user ghost doesn't exist"})
        );
        assert_eq!((results[2]["user"].as_str(), results[2]["result"].as_bool()), (Some("m1"), Some(false)));
        assert!(results[2]["reason"].as_str().is_some_and(|reason| reason.contains("already in group")), "{body}");

        assert!(!is_member(&server, &group, "dave").await);
        let invitation = pending(&server, &group, "dave", RequestKind::Invitation).await.expect("pending invitation");
        assert_eq!(
            (invitation.inviter.as_ref().map(UserName::as_str), invitation.message.as_str()),
            (Some("owner"), "join us")
        );
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[("owner", vec![]), ("m1", vec![]), ("dave", vec!["inviteToJoin:owner>dave"])])
        );
        assert_eq!(last_reason(&server, &group, "dave").await, "join us");

        // Only the invitee answers.
        let accept = json!({"invitee": "dave", "verifyResult": true});
        let (status, body) =
            server.admin(Method::POST, &format!("/chatgroups/{group}/invite_verify"), Some(accept.clone())).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = invite_verify(&server, &group, &m1, accept.clone()).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert!(!is_member(&server, &group, "dave").await);

        let inbox = inboxes(&server, &group, &["owner", "m1", "dave"]).await;
        let (status, body) = invite_verify(&server, &group, &dave, accept.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "invite_verify", "dave"));
        assert!(is_member(&server, &group, "dave").await);
        assert_eq!(member_count(&server, &group).await, 3);
        assert!(pending(&server, &group, "dave", RequestKind::Invitation).await.is_none());
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[
                ("owner", vec!["acceptInvite:dave>dave", "memberPresence:dave>dave"]),
                ("m1", vec!["memberPresence:dave>dave"]),
                ("dave", vec![]),
            ])
        );

        // Answering twice: dave is a member now.
        let (status, body) = invite_verify(&server, &group, &dave, accept).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
    });
}

#[tokio::test]
async fn a_rejected_invitation_tells_the_inviter_only() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "dave"]).await;
        let group = server.group("owner", &["m1"], json!({"public": false})).await;
        let (owner, dave) = (server.login("owner").await, server.login("dave").await);
        let (status, body) = invite(&server, &group, &owner, &["dave"]).await;
        assert_eq!((status, body["data"][0]["result"].as_bool()), (200, Some(true)), "{body}");

        let inbox = inboxes(&server, &group, &["owner", "m1", "dave"]).await;
        // `invitee` may be left out: only the invitee can answer.
        let reject = json!({"verifyResult": false, "reason": "busy"});
        let (status, body) = invite_verify(&server, &group, &dave, reject.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "invite_verify", "dave"));
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[("owner", vec!["rejectInvite:dave>dave"]), ("m1", vec![]), ("dave", vec![])])
        );
        assert_eq!(last_reason(&server, &group, "owner").await, "busy");
        assert!(!is_member(&server, &group, "dave").await);
        assert!(pending(&server, &group, "dave", RequestKind::Invitation).await.is_none());

        let (status, body) = invite_verify(&server, &group, &dave, reject).await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
    });
}

#[tokio::test]
async fn an_invitation_without_confirmation_adds_directly() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "dave"]).await;
        let group = server.group("owner", &["m1"], json!({"public": false, "invite_need_confirm": false})).await;
        let owner = server.login("owner").await;
        let inbox = inboxes(&server, &group, &["owner", "m1", "dave"]).await;

        let (status, body) = invite(&server, &group, &owner, &["dave"]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!([{"result": true, "action": "invite", "user": "dave", "groupid": group}]));
        assert!(is_member(&server, &group, "dave").await);
        assert_eq!(member_count(&server, &group).await, 3);
        assert!(pending(&server, &group, "dave", RequestKind::Invitation).await.is_none());
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[
                ("owner", vec!["memberPresence:dave>dave"]),
                ("m1", vec!["memberPresence:dave>dave"]),
                ("dave", vec!["directJoined:owner>dave"]),
            ])
        );
    });
}

#[tokio::test]
async fn members_invite_only_when_the_group_allows_it() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "dave", "carol"]).await;
        let (m1, dave, carol) = (server.login("m1").await, server.login("dave").await, server.login("carol").await);

        let closed = server.group("owner", &["m1"], json!({"public": false, "allowinvites": false})).await;
        let (status, body) = invite(&server, &closed, &m1, &["dave"]).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert!(pending(&server, &closed, "dave", RequestKind::Invitation).await.is_none());

        let open = server.group("owner", &["m1"], json!({"public": false, "allowinvites": true})).await;
        // Outsiders never invite.
        let (status, body) = invite(&server, &open, &carol, &["dave"]).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));

        let inbox = inboxes(&server, &open, &["owner", "m1", "dave"]).await;
        let (status, body) = invite(&server, &open, &m1, &["dave"]).await;
        assert_eq!((status, body["data"][0]["result"].as_bool()), (200, Some(true)), "{body}");
        // The answer goes to the member who invited, not to the owner.
        let (status, body) =
            invite_verify(&server, &open, &dave, json!({"invitee": "dave", "verifyResult": true})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[
                ("owner", vec!["memberPresence:dave>dave"]),
                ("m1", vec!["acceptInvite:dave>dave", "memberPresence:dave>dave"]),
                ("dave", vec!["inviteToJoin:m1>dave"]),
            ])
        );
    });
}

// ------------------------------------------------------------------------ quit and shield

#[tokio::test]
async fn members_quit_and_the_others_hear_of_it_but_the_owner_cannot() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "m2"]).await;
        let group = server.group("owner", &["m1", "m2"], json!({})).await;
        let (owner, m1, m2) = (server.login("owner").await, server.login("m1").await, server.login("m2").await);
        let quit_path = format!("/chatgroups/{group}/quit");

        let (status, body) = server.call(Method::DELETE, &quit_path, Some(&owner), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = server.admin(Method::DELETE, &quit_path, None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        assert_eq!(member_count(&server, &group).await, 3);

        let inbox = inboxes(&server, &group, &["owner", "m1", "m2"]).await;
        let (status, body) = server.call(Method::DELETE, &quit_path, Some(&m1), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "quit", "m1"));
        assert!(!is_member(&server, &group, "m1").await);
        assert_eq!(member_count(&server, &group).await, 2);
        assert_eq!(
            inbox.arrived(&server).await,
            expected(&[("owner", vec!["memberAbsence:m1>m1"]), ("m1", vec![]), ("m2", vec!["memberAbsence:m1>m1"]),])
        );

        // Gone is gone; and POST works as well as DELETE.
        let (status, body) = server.call(Method::POST, &quit_path, Some(&m1), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = server.call(Method::POST, &quit_path, Some(&m2), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(member_count(&server, &group).await, 1);
    });
}

#[tokio::test]
async fn shield_toggles_for_the_member_alone() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "carol"]).await;
        let group = server.group("owner", &["m1"], json!({})).await;
        let (m1, carol) = (server.login("m1").await, server.login("carol").await);
        let shield_path = format!("/chatgroups/{group}/shield?version=v3");
        let inbox = inboxes(&server, &group, &["owner", "m1"]).await;

        let (status, body) = server.call(Method::POST, &shield_path, Some(&m1), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "shield", "m1"));
        assert!(membership(&server, &group, "m1").await.expect("member").shielded);
        // Shielding twice is shielded.
        let (status, _) = server.call(Method::POST, &shield_path, Some(&m1), None).await;
        assert_eq!(status, 200);
        assert!(membership(&server, &group, "m1").await.expect("member").shielded);
        // The owner's setting is their own.
        assert!(!membership(&server, &group, "owner").await.expect("member").shielded);

        let (status, body) = server.call(Method::DELETE, &shield_path, Some(&m1), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], action_result(&group, "unshield", "m1"));
        assert!(!membership(&server, &group, "m1").await.expect("member").shielded);
        assert_eq!(inbox.arrived(&server).await, expected(&[("owner", vec![]), ("m1", vec![])]));

        // Only members shield; the app administrator is nobody's member.
        let (status, body) = server.call(Method::POST, &shield_path, Some(&carol), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = server.admin(Method::POST, &shield_path, None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
    });
}

// ------------------------------------------------------------------------ limits and bad input

#[tokio::test]
async fn a_full_group_refuses_apply_approve_and_invite() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "m2", "carol", "dave"]).await;
        let (owner, carol, dave) =
            (server.login("owner").await, server.login("carol").await, server.login("dave").await);
        let group_full = (403, "exceed_limit".to_owned());

        // Full, no approval needed: apply and invite are refused.
        let full = server.group("owner", &["m1", "m2"], json!({"maxusers": 3})).await;
        let (status, body) = apply(&server, &full, &carol, "hi").await;
        assert_eq!(error_of(status, &body), group_full);
        assert_eq!(body["error_description"], "group member count reached the limit");
        let (status, body) = invite(&server, &full, &owner, &["dave"]).await;
        assert_eq!(error_of(status, &body), group_full);
        assert_eq!(member_count(&server, &full).await, 3);
        assert!(pending(&server, &full, "dave", RequestKind::Invitation).await.is_none());

        // Room for one: a batch of two adds nobody, a batch of one fits.
        let direct =
            server.group("owner", &["m1"], json!({"maxusers": 3, "public": false, "invite_need_confirm": false})).await;
        let (status, body) = invite(&server, &direct, &owner, &["carol", "dave"]).await;
        assert_eq!(error_of(status, &body), group_full);
        assert_eq!(member_count(&server, &direct).await, 2);
        let (status, body) = invite(&server, &direct, &owner, &["carol"]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(member_count(&server, &direct).await, 3);

        // Room for one, two applications: the second approval is refused and stays pending.
        let approval = server.group("owner", &["m1"], json!({"maxusers": 3, "membersonly": true})).await;
        assert_eq!(apply(&server, &approval, &carol, "1").await.0, 200);
        assert_eq!(apply(&server, &approval, &dave, "2").await.0, 200);
        let (status, body) =
            apply_verify(&server, &approval, &owner, json!({"applicant": "carol", "verifyResult": true})).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) =
            apply_verify(&server, &approval, &owner, json!({"applicant": "dave", "verifyResult": true})).await;
        assert_eq!(error_of(status, &body), group_full);
        assert!(!is_member(&server, &approval, "dave").await);
        assert!(pending(&server, &approval, "dave", RequestKind::Application).await.is_some());
        assert_eq!(member_count(&server, &approval).await, 3);

        // An invitation made while there was room cannot be accepted once the group is full.
        let confirm = server.group("owner", &["m1"], json!({"maxusers": 3, "public": false})).await;
        assert_eq!(invite(&server, &confirm, &owner, &["dave"]).await.0, 200);
        let (status, body) = server.admin(Method::POST, &format!("/chatgroups/{confirm}/users/carol"), None).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) =
            invite_verify(&server, &confirm, &dave, json!({"invitee": "dave", "verifyResult": true})).await;
        assert_eq!(error_of(status, &body), group_full);
        assert!(!is_member(&server, &confirm, "dave").await);
        assert_eq!(member_count(&server, &confirm).await, 3);
    });
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "carol"]).await;
        let group = server.group("owner", &["m1"], json!({"membersonly": true})).await;
        let (owner, carol) = (server.login("owner").await, server.login("carol").await);
        assert_eq!(apply(&server, &group, &carol, "let me in").await.0, 200);
        let inbox = inboxes(&server, &group, &["owner", "m1", "carol"]).await;

        // Missing fields.
        let (status, body) = apply_verify(&server, &group, &owner, json!({"verifyResult": true})).await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        assert_eq!(body["error_description"], "applicant must be provided");
        let (status, body) = apply_verify(&server, &group, &owner, json!({"applicant": "carol"})).await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        let (status, body) =
            server.call(Method::POST, &format!("/chatgroups/{group}/invite"), Some(&owner), Some(json!({}))).await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        // Out of range.
        let too_many: Vec<String> = (0..61).map(|i| format!("u{i}")).collect();
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{group}/invite"),
                Some(&owner),
                Some(json!({"usernames": too_many})),
            )
            .await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));
        let (status, body) = apply(&server, &group, &carol, &"x".repeat(513)).await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));
        // Malformed JSON, and a field of the wrong type.
        let response = server
            .client
            .post(server.url(&format!("/chatgroups/{group}/apply_verify")))
            .bearer_auth(&owner)
            .header("content-type", "application/json")
            .body("{\"applicant\": \"carol\", ")
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json error body");
        assert_eq!(error_of(status, &body), (400, "json_parse".into()));
        let (status, body) =
            apply_verify(&server, &group, &owner, json!({"applicant": "carol", "verifyResult": "yes"})).await;
        assert_eq!(error_of(status, &body), (400, "json_parse".into()));
        // Unknown groups.
        for unknown in ["123456789", "not-a-group"] {
            let (status, body) =
                apply_verify(&server, unknown, &owner, json!({"applicant": "carol", "verifyResult": true})).await;
            assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()), "{unknown}");
            let (status, body) = apply(&server, unknown, &carol, "hi").await;
            assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()), "{unknown}");
        }
        // No token.
        let (status, _) = server.call(Method::POST, &format!("/chatgroups/{group}/apply"), None, Some(json!({}))).await;
        assert_eq!(status, 401);

        // The application is still there, untouched, and nobody heard anything.
        assert!(!is_member(&server, &group, "carol").await);
        assert_eq!(member_count(&server, &group).await, 2);
        let request = pending(&server, &group, "carol", RequestKind::Application).await.expect("pending application");
        assert_eq!(request.message, "let me in");
        assert_eq!(inbox.arrived(&server).await, expected(&[("owner", vec![]), ("m1", vec![]), ("carol", vec![])]));
    });
}
