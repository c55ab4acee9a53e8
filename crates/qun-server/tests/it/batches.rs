//! The one rule of the calls that name users, pinned for groups and chat rooms alike: a call
//! names 1 to its venue's maximum of users (a name given twice counts once); none, or too
//! many, refuses the whole call; each user is decided on their own and reported in their own
//! outcome, except that a call naming one user answers with that user's refusal itself.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

/// What the checks need to know of a venue.
#[derive(Debug, Clone, Copy)]
struct Venue {
    /// `/chatgroups` or `/chatrooms`.
    collection: &'static str,
    /// The key naming the venue in blocklist outcomes.
    key: &'static str,
    /// How errors name the venue.
    noun: &'static str,
    /// Users a removal may name.
    remove_max: usize,
}

const GROUPS: Venue = Venue { collection: "/chatgroups", key: "groupid", noun: "group", remove_max: 60 };
const ROOMS: Venue = Venue { collection: "/chatrooms", key: "chatroomid", noun: "chatroom", remove_max: 100 };

impl Venue {
    /// A new venue of `own` with `ann` and `bob` in it; its path.
    async fn create(self, server: &TestServer) -> String {
        server.users(&["own", "ann", "bob"]).await;
        let id = if self.collection == GROUPS.collection {
            server.group("own", &["ann", "bob"], json!({})).await
        } else {
            let body = json!({"name": "r", "description": "d", "owner": "own", "members": ["ann", "bob"]});
            let (status, reply) = server.admin(Method::POST, "/chatrooms", Some(body)).await;
            assert_eq!(status, 200, "create room: {reply}");
            reply["data"]["id"].as_str().expect("id").to_owned()
        };
        format!("{}/{id}", self.collection)
    }
}

/// Names that parse but whose users do not exist.
fn ghosts(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("ghost{n}")).collect()
}

async fn names_at(server: &TestServer, path: &str) -> Vec<String> {
    let (status, reply) = server.admin(Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply["data"].as_array().expect("list").iter().map(|name| name.as_str().expect("name").to_owned()).collect()
}

async fn one_user_refused_is_the_answer(server: TestServer, venue: Venue) {
    let at = venue.create(&server).await;
    let blocks = format!("{at}/blocks/users");
    let owner_refused = (403, "forbidden_op".to_owned());
    for (method, path, body) in [
        (Method::POST, blocks.clone(), Some(json!({"usernames": ["own"]}))),
        (Method::POST, format!("{blocks}/own"), None),
        // A name given twice is one user.
        (Method::POST, format!("{blocks}/own,own"), None),
        (Method::POST, blocks.clone(), Some(json!({"usernames": ["own", "own"]}))),
    ] {
        let (status, reply) = server.admin(method, &path, body).await;
        assert_eq!(error_of(status, &reply), owner_refused, "{path}: {reply}");
        let text = format!("Forbidden operation on {} owner!", venue.noun);
        assert_eq!(reply["error_description"], text.as_str(), "{path}");
    }
    // Unblocking someone not blocked, unmuting someone who does not exist: the refusal itself.
    let (status, reply) = server.admin(Method::DELETE, &format!("{blocks}/ann"), None).await;
    assert_eq!(error_of(status, &reply), (403, "forbidden_op".into()), "{reply}");
    let (status, reply) = server.admin(Method::DELETE, &format!("{at}/mute/ghost0"), None).await;
    assert_eq!(error_of(status, &reply), (404, "service_resource_not_found".into()), "{reply}");
    assert_eq!(reply["error_description"], "username ghost0 doesn't exist!");
    assert!(names_at(&server, &blocks).await.is_empty(), "a refused call changes nothing");
}

async fn several_users_are_each_reported(server: TestServer, venue: Venue) {
    let at = venue.create(&server).await;
    let id = at.rsplit('/').next().expect("id").to_owned();
    let blocks = format!("{at}/blocks/users");
    let (status, reply) =
        server.admin(Method::POST, &blocks, Some(json!({"usernames": ["own", "ann", "ghost0"]}))).await;
    assert_eq!(status, 200, "{reply}");
    let outcomes: Vec<(String, bool, Option<String>, String)> = reply["data"]
        .as_array()
        .expect("one outcome a user")
        .iter()
        .map(|outcome| {
            (
                outcome["user"].as_str().expect("user").to_owned(),
                outcome["result"].as_bool().expect("result"),
                outcome["reason"].as_str().map(str::to_owned),
                outcome[venue.key].as_str().expect("the venue's key").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("own".into(), false, Some(format!("Forbidden operation on {} owner!", venue.noun)), id.clone()),
            ("ann".into(), true, None, id.clone()),
            ("ghost0".into(), false, Some("username ghost0 doesn't exist!".into()), id.clone()),
        ]
    );
    assert_eq!(names_at(&server, &blocks).await, vec!["ann"], "the allowed user is blocked, only they");
    // Two names in the path: a list, even when one is refused.
    let (status, reply) = server.admin(Method::DELETE, &format!("{blocks}/ann,bob"), None).await;
    assert_eq!(status, 200, "{reply}");
    let results: Vec<(&str, bool)> = reply["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|outcome| (outcome["user"].as_str().unwrap(), outcome["result"].as_bool().unwrap()))
        .collect();
    assert_eq!(results, vec![("ann", true), ("bob", false)]);
    // One name in the path, allowed: one object.
    let (status, reply) = server.admin(Method::POST, &format!("{blocks}/bob"), None).await;
    assert_eq!((status, &reply["data"]["user"], &reply["data"]["result"]), (200, &json!("bob"), &json!(true)));
}

async fn none_or_too_many_refuse_the_call(server: TestServer, venue: Venue) {
    let at = venue.create(&server).await;
    let blocks = format!("{at}/blocks/users");
    let illegal = (400, "illegal_argument".to_owned());
    let (status, reply) = server.admin(Method::POST, &blocks, Some(json!({"usernames": []}))).await;
    assert_eq!(
        (error_of(status, &reply), &reply["error_description"]),
        (illegal.clone(), &json!("name 1 to 60 users"))
    );
    let (status, reply) = server.admin(Method::POST, &blocks, Some(json!({}))).await;
    assert_eq!(error_of(status, &reply), (400, "invalid_parameter".into()), "{reply}");
    let (status, reply) = server.admin(Method::POST, &format!("{blocks}/,"), None).await;
    assert_eq!(error_of(status, &reply), illegal, "{reply}");
    // 61 names (ann among them): refused whole, nothing changes.
    let mut sixty_one = ghosts(60);
    sixty_one.push("ann".into());
    let (status, reply) = server.admin(Method::POST, &blocks, Some(json!({"usernames": sixty_one}))).await;
    assert_eq!(error_of(status, &reply), illegal, "{reply}");
    let mute = json!({"usernames": sixty_one, "mute_duration": 60_000});
    let (status, reply) = server.admin(Method::POST, &format!("{at}/mute"), Some(mute)).await;
    assert_eq!(error_of(status, &reply), illegal, "{reply}");
    let (status, reply) = server.admin(Method::DELETE, &format!("{at}/mute/{}", sixty_one.join(",")), None).await;
    assert_eq!(error_of(status, &reply), illegal, "{reply}");
    assert!(names_at(&server, &blocks).await.is_empty());
    let (_, reply) = server.admin(Method::GET, &format!("{at}/mute"), None).await;
    assert_eq!(reply["data"], json!([]));
    // Removals: up to the venue's own maximum (Agora: 60 from a group, 100 from a room).
    let mut over = ghosts(venue.remove_max);
    over.push("bob".into());
    let (status, reply) = server.admin(Method::DELETE, &format!("{at}/users/{}", over.join(",")), None).await;
    assert_eq!(error_of(status, &reply), illegal, "{reply}");
    assert_eq!(reply["error_description"], format!("name 1 to {} users", venue.remove_max).as_str());
    over.remove(0);
    let (status, reply) = server.admin(Method::DELETE, &format!("{at}/users/{}", over.join(",")), None).await;
    assert_eq!(status, 200, "{reply}");
    let outcomes = reply["data"].as_array().expect("list");
    assert_eq!(outcomes.len(), venue.remove_max);
    assert_eq!(outcomes.iter().filter(|outcome| outcome["result"] == json!(true)).count(), 1, "bob only");
    let (_, reply) = server.admin(Method::GET, &format!("{at}/users"), None).await;
    let members: Vec<&Value> = reply["data"].as_array().expect("members").iter().collect();
    assert!(!members.iter().any(|member| member["member"] == json!("bob")), "bob is out: {members:?}");
}

#[tokio::test]
async fn a_call_naming_one_user_answers_with_its_refusal() {
    for venue in [GROUPS, ROOMS] {
        on_every_backend!(|server: TestServer| one_user_refused_is_the_answer(server, venue));
    }
}

#[tokio::test]
async fn a_call_naming_several_users_reports_each_in_its_own_outcome() {
    for venue in [GROUPS, ROOMS] {
        on_every_backend!(|server: TestServer| several_users_are_each_reported(server, venue));
    }
}

#[tokio::test]
async fn a_call_naming_no_user_or_too_many_is_refused_whole() {
    for venue in [GROUPS, ROOMS] {
        on_every_backend!(|server: TestServer| none_or_too_many_refuse_the_call(server, venue));
    }
}
