//! Chat rooms over REST: super admins, lifecycle and lists, announcement, custom attributes,
//! members, admins, blocklist, allowlist and mutes; who may do each, the limits, that a refused
//! request changes nothing, and the events each change sends to the users online, as their
//! clients receive them (with their receivers, agora-chat-api.md §5).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use qun_client::{Connection, Incoming};
use qun_core::RoomOperation;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::harness::{Device, PATIENCE, TestServer, error_of, on_every_backend};

/// Creates a room with the app token and returns its id.
async fn room(server: &TestServer, owner: &str, members: &[&str], extra: Value) -> String {
    let mut body = json!({"name": "room", "description": "about", "owner": owner, "members": members});
    if let (Some(target), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            target.insert(key.clone(), value.clone());
        }
    }
    let (status, reply) = server.admin(Method::POST, "/chatrooms", Some(body)).await;
    assert_eq!(status, 200, "create room: {reply}");
    reply["data"]["id"].as_str().expect("id").to_owned()
}

/// Registers `names` and logs each in; the tokens in the same order.
async fn logins(server: &TestServer, names: &[&str]) -> Vec<String> {
    server.users(names).await;
    let mut tokens = Vec::new();
    for name in names {
        tokens.push(server.login(name).await);
    }
    tokens
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

fn member_names(affiliations: &Value) -> Vec<String> {
    affiliations
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["member"].as_str().or(a["owner"].as_str()).unwrap().to_owned())
        .collect()
}

/// How long a listener must hear nothing more before what it got counts as all it gets.
const QUIET: Duration = Duration::from_millis(300);

/// Users connected over msync (one device each), as the SDK would be, hearing one room's
/// events. A listener who is a member is in the room: a login attaches a member's connection,
/// and so does a REST add while online.
struct Listeners {
    room: String,
    users: Vec<String>,
    /// Who of the listeners is in the room now: whom `all` reaches.
    in_room: BTreeSet<String>,
    /// What every listener receives, tagged with its name, in arrival order per listener.
    incoming: mpsc::UnboundedReceiver<(String, Incoming)>,
    _connections: Vec<Connection>,
}

impl Listeners {
    async fn connect(server: &TestServer, room: &str, users: &[&str]) -> Listeners {
        let (tagged, incoming) = mpsc::unbounded_channel();
        let mut connections = Vec::new();
        for user in users {
            let Device { connection, incoming: mut received } = Device::connect(server, user).await;
            let (tagged, user) = (tagged.clone(), user.to_string());
            tokio::spawn(async move {
                while let Some(item) = received.recv().await {
                    if tagged.send((user.clone(), item)).is_err() {
                        break;
                    }
                }
            });
            connections.push(connection);
        }
        let users = users.iter().map(|u| u.to_string()).collect();
        let mut listeners =
            Listeners { room: room.to_owned(), users, in_room: BTreeSet::new(), incoming, _connections: connections };
        listeners.look_who_is_in(server).await;
        listeners
    }

    /// The listeners who are in the room, per its member list (none once it is destroyed).
    async fn look_who_is_in(&mut self, server: &TestServer) {
        let path = format!("/chatrooms/{}/users?pagenum=1&pagesize=1000", self.room);
        let (status, body) = server.admin(Method::GET, &path, None).await;
        let members = match status {
            200 => member_names(&body["data"]),
            404 => Vec::new(),
            _ => panic!("members: {status} {body}"),
        };
        self.in_room = members.into_iter().filter(|m| self.users.contains(m)).collect();
    }

    /// Every listener receives exactly the events of `expected` addressed to it, in that order,
    /// and nothing else. Each is `operation:from>to|receivers`, receivers being `all` (the
    /// listeners in the room), `all-but-<user>` or the users named (in the room or not); a
    /// memberPresence puts its subject in the room for the events after it, a removeMember or
    /// memberAbsence takes them out, a destroy empties it.
    async fn expect(&mut self, server: &TestServer, expected: &[impl AsRef<str>]) {
        let mut want: BTreeMap<String, Vec<String>> = self.users.iter().map(|u| (u.clone(), Vec::new())).collect();
        for line in expected {
            let (event, receivers) = line.as_ref().split_once('|').expect("operation:from>to|receivers");
            let receivers: Vec<String> = match receivers {
                "all" => self.in_room.iter().cloned().collect(),
                but if but.starts_with("all-but-") => {
                    self.in_room.iter().filter(|u| Some(u.as_str()) != but.strip_prefix("all-but-")).cloned().collect()
                }
                named => named.split(',').map(str::to_owned).collect(),
            };
            for receiver in receivers {
                let heard = want.get_mut(&receiver).unwrap_or_else(|| panic!("{receiver} is not listening"));
                heard.push(event.to_owned());
            }
            let (operation, rest) = event.split_once(':').expect("operation:from>to");
            let subject = rest.split_once('>').expect("from>to").1;
            match operation {
                "memberPresence" if self.users.iter().any(|u| u == subject) => {
                    self.in_room.insert(subject.to_owned());
                }
                "memberAbsence" | "removeMember" => {
                    self.in_room.remove(subject);
                }
                "destroy" => self.in_room.clear(),
                _ => {}
            }
        }
        let got = self.receive(&want).await;
        assert_eq!(got, want, "room events received, by listener");
        self.look_who_is_in(server).await;
    }

    /// No listener receives any room event.
    async fn expect_none(&mut self, server: &TestServer) {
        self.expect(server, &[] as &[&str]).await;
    }

    /// Lets the events of changes the test does not look at arrive, and forgets them.
    async fn skip(&mut self, server: &TestServer) {
        let nothing = self.users.iter().map(|u| (u.clone(), Vec::new())).collect();
        self.receive(&nothing).await;
        self.look_who_is_in(server).await;
    }

    /// The room events each listener receives, as `operation:from>to`, until every one has as
    /// many as `want` says (or [`PATIENCE`] is over) and then nothing arrives for [`QUIET`].
    async fn receive(&mut self, want: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
        let mut got: BTreeMap<String, Vec<String>> = self.users.iter().map(|u| (u.clone(), Vec::new())).collect();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let complete = want.iter().all(|(user, events)| got[user].len() >= events.len());
            let wait = if complete { QUIET } else { deadline.saturating_duration_since(tokio::time::Instant::now()) };
            match tokio::time::timeout(wait, self.incoming.recv()).await {
                Ok(Some((user, Incoming::GroupEvent { group, operation, from, to, .. }))) => {
                    let name = RoomOperation::from_msync_code(operation)
                        .map(|op| op.sdk_name().to_owned())
                        .unwrap_or_else(|| qun_client::operation_name(operation));
                    let elsewhere = if group == self.room { String::new() } else { format!("@{group}") };
                    let heard = got.get_mut(&user).expect("a listener");
                    heard.push(format!("{name}{elsewhere}:{from}>{}", to.join(",")));
                }
                Ok(Some((user, Incoming::Closed))) => panic!("{user}'s connection closed"),
                Ok(Some(_)) => {}
                Ok(None) => panic!("the listeners stopped"),
                Err(_) => return got,
            }
        }
    }
}

/// Everything of the room a refused request must leave alone.
async fn room_state(server: &TestServer, id: &str) -> Vec<Value> {
    let mut state = Vec::new();
    for path in [
        format!("/chatrooms/{id}"),
        format!("/chatrooms/{id}/users"),
        format!("/chatrooms/{id}/admin"),
        format!("/chatrooms/{id}/blocks/users"),
        format!("/chatrooms/{id}/white/users"),
        format!("/chatrooms/{id}/mute"),
        format!("/chatrooms/{id}/announcement"),
    ] {
        let (status, body) = server.admin(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        state.push(body["data"].clone());
    }
    let (_, body) = server.admin(Method::POST, &format!("/metadata/chatroom/{id}"), Some(json!({"keys": []}))).await;
    state.push(body["data"].clone());
    state
}

#[tokio::test]
async fn super_admins_are_the_apps_and_alone_create_rooms_from_a_client() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["ann", "bob", "cat"]).await;
        let (ann, bob) = (&tokens[0], &tokens[1]);
        let create = json!({"name": "live", "description": "a stream"});

        // Not a super admin: refused, nothing created.
        let (status, body) = server.call(Method::POST, "/chatrooms", Some(ann), Some(create.clone())).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()), "{body}");
        // Users cannot make themselves super admins.
        let (status, _) =
            server.call(Method::POST, "/chatrooms/super_admin", Some(ann), Some(json!({"superadmin":"ann"}))).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::GET, "/chatrooms/super_admin", Some(ann), None).await;
        assert_eq!(status, 403);
        let (_, body) = server.admin(Method::GET, "/chatrooms", None).await;
        assert_eq!(body["count"], 0);

        let (status, body) =
            server.admin(Method::POST, "/chatrooms/super_admin", Some(json!({"superadmin":"Ann"}))).await;
        assert_eq!((status, &body["data"]), (200, &json!({"result":"success","resource":""})));
        let (status, body) =
            server.admin(Method::POST, "/chatrooms/super_admin", Some(json!({"superadmin":"ghost"}))).await;
        assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()));
        let (status, _) = server.admin(Method::POST, "/chatrooms/super_admin", Some(json!({}))).await;
        assert_eq!(status, 400);
        server.admin(Method::POST, "/chatrooms/super_admin", Some(json!({"superadmin":"cat"}))).await;
        let (status, body) = server.admin(Method::GET, "/chatrooms/super_admin?pagenum=1&pagesize=10", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((names(&body["data"]), &body["count"]), (vec!["ann".to_owned(), "cat".to_owned()], &json!(2)));
        let (_, body) = server.admin(Method::GET, "/chatrooms/super_admin?pagenum=2&pagesize=1", None).await;
        assert_eq!((body["data"].as_array().unwrap().len(), &body["total"]), (1, &json!(2)));

        // A super admin creates rooms they own, with the defaults.
        let (status, body) = server.call(Method::POST, "/chatrooms", Some(ann), Some(create.clone())).await;
        assert_eq!(status, 200, "{body}");
        let id = body["data"]["id"].as_str().unwrap().to_owned();
        assert!(id.parse::<u64>().is_ok(), "room ids are numeric strings");
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}"), None).await;
        assert_eq!((&body["data"][0]["owner"], &body["data"][0]["maxusers"]), (&json!("ann"), &json!(1000)));
        // …but not for someone else.
        let mut for_bob = create.clone();
        for_bob["owner"] = json!("bob");
        let (status, _) = server.call(Method::POST, "/chatrooms", Some(ann), Some(for_bob)).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::POST, "/chatrooms", Some(bob), Some(create.clone())).await;
        assert_eq!(status, 403);

        let (status, body) = server.admin(Method::DELETE, "/chatrooms/super_admin/ann", None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"newSuperAdmin":"ann","resource":""})));
        let (status, _) = server.admin(Method::DELETE, "/chatrooms/super_admin/ann", None).await;
        assert_eq!(status, 404);
        let (status, _) = server.call(Method::POST, "/chatrooms", Some(ann), Some(create)).await;
        assert_eq!(status, 403, "no longer a super admin");
        let (_, body) = server.admin(Method::GET, "/chatrooms", None).await;
        assert_eq!(body["count"], 1);
    });
}

#[tokio::test]
async fn create_validates_and_details_read_back() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "m2"]).await;
        let base = json!({"name":"r","description":"d","owner":"owner"});
        let with = |extra: Value| {
            let mut body = base.clone();
            for (key, value) in extra.as_object().unwrap() {
                body[key] = value.clone();
            }
            body
        };
        let refused = [
            (json!({"description":"d","owner":"owner"}), 400, "invalid_parameter", Some("name must be provided")),
            (json!({"name":"r","owner":"owner"}), 400, "invalid_parameter", Some("description must be provided")),
            (json!({"name":"r","description":"d"}), 400, "invalid_parameter", Some("owner must be provided")),
            (with(json!({"owner":"ghost"})), 404, "service_resource_not_found", None),
            (with(json!({"members":["ghost"]})), 404, "service_resource_not_found", None),
            (with(json!({"name":"  "})), 400, "invalid_parameter", None),
            (with(json!({"name":"n".repeat(129)})), 400, "invalid_parameter", None),
            (with(json!({"description":"d".repeat(513)})), 400, "invalid_parameter", None),
            (with(json!({"custom":"c".repeat(8193)})), 400, "invalid_parameter", None),
            (with(json!({"maxusers":20_001})), 403, "exceed_limit", None),
            (with(json!({"maxusers":0})), 403, "exceed_limit", None),
            (with(json!({"maxusers":-1})), 400, "invalid_parameter", None),
            (with(json!({"maxusers":2,"members":["m1","m2"]})), 403, "exceed_limit", None),
            (with(json!({"maxusers":"many"})), 400, "json_parse", None),
            (with(json!({"owner":"Not Valid"})), 400, "illegal_argument", None),
        ];
        for (body, status, error, description) in refused {
            let (got, reply) = server.admin(Method::POST, "/chatrooms", Some(body.clone())).await;
            assert_eq!(error_of(got, &reply), (status, error.to_owned()), "{body}: {reply}");
            if let Some(description) = description {
                assert_eq!(reply["error_description"], description);
            }
        }
        let (_, body) = server.admin(Method::GET, "/chatrooms", None).await;
        assert_eq!(body["count"], 0, "no refused request created anything: {body}");

        let custom = "y".repeat(8192);
        let id = room(&server, "owner", &["m1", "m2", "owner", "m1"], json!({"maxusers":500,"custom":custom})).await;
        let (status, body) = server.admin(Method::GET, &format!("/chatrooms/{id}?joined_time=true"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], 1);
        let details = &body["data"][0];
        for (key, value) in [
            ("id", json!(id)),
            ("name", json!("room")),
            ("description", json!("about")),
            ("maxusers", json!(500)),
            ("owner", json!("owner")),
            ("mute", json!(false)),
            ("affiliations_count", json!(3)),
            ("membersonly", json!(false)),
            ("allowinvites", json!(false)),
            ("public", json!(true)),
        ] {
            assert_eq!(details[key], value, "{key}");
        }
        assert_eq!(details["custom"].as_str().unwrap().len(), 8192);
        assert!(details["created"].as_i64().unwrap() > 1_700_000_000_000);
        // Newest joined first; the owner marked as owner; joined times on request.
        assert_eq!(member_names(&details["affiliations"]), ["m2", "m1", "owner"]);
        assert_eq!(
            details["affiliations"][2],
            json!({"owner":"owner","joined_time":details["affiliations"][2]["joined_time"]})
        );
        assert!(details["affiliations"].as_array().unwrap().iter().all(|a| a["joined_time"].is_i64()));

        // Several ids; unknown ones; too many.
        let other = room(&server, "m1", &[], json!({})).await;
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id},{other}"), None).await;
        assert_eq!(
            (body["data"][0]["id"].as_str(), body["data"][1]["id"].as_str()),
            (Some(id.as_str()), Some(other.as_str()))
        );
        let (status, body) = server.admin(Method::GET, "/chatrooms/12345", None).await;
        assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()));
        let (status, _) = server.admin(Method::GET, "/chatrooms/not-a-room", None).await;
        assert_eq!(status, 404);
        let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
        let (status, _) = server.admin(Method::GET, &format!("/chatrooms/{}", many.join(",")), None).await;
        assert_eq!(status, 400);

        // Rooms are public: an outsider reads the details, not the member list; anonymous nothing.
        server.users(&["outsider"]).await;
        let outsider = server.login("outsider").await;
        let (status, _) = server.call(Method::GET, &format!("/chatrooms/{id}"), Some(&outsider), None).await;
        assert_eq!(status, 200);
        let (status, body) = server.call(Method::GET, &format!("/chatrooms/{id}/users"), Some(&outsider), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, _) = server.call(Method::GET, &format!("/chatrooms/{id}"), None, None).await;
        assert_eq!(status, 401);
    });
}

#[tokio::test]
async fn the_plan_caps_room_size() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner"]).await;
        let app = server.state.app("qun", "test").await.unwrap().unwrap();
        for (plan, cap, default) in [
            (qun_core::Plan::Free, 100, 100),
            (qun_core::Plan::Starter, 2_000, 1000),
            (qun_core::Plan::Pro, 10_000, 1000),
            (qun_core::Plan::Enterprise, 20_000, 1000),
        ] {
            let settings = qun_store::AppSettings { plan, ..app.settings.clone() };
            server.state.update_app_settings(&app, settings).await.expect("plan");
            let id = room(&server, "owner", &[], json!({})).await;
            let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}"), None).await;
            assert_eq!(body["data"][0]["maxusers"], default, "{plan:?}");
            room(&server, "owner", &[], json!({"maxusers": cap})).await;
            let over = json!({"name":"r","description":"d","owner":"owner","maxusers": cap + 1});
            let (status, reply) = server.admin(Method::POST, "/chatrooms", Some(over)).await;
            assert_eq!(error_of(status, &reply), (403, "exceed_limit".into()), "{plan:?}");
            // Raising maxusers past the plan is refused too.
            let (status, _) =
                server.admin(Method::PUT, &format!("/chatrooms/{id}"), Some(json!({"maxusers": cap + 1}))).await;
            assert_eq!(status, 403, "{plan:?}");
        }
    });
}

#[tokio::test]
async fn lists_are_newest_first_with_cursors_and_pages() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["o", "viewer"]).await;
        let viewer = &tokens[1];
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(room(&server, "o", &[], json!({"name": format!("r{i}")})).await);
        }
        let newest_first: Vec<String> = created.iter().rev().cloned().collect();

        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) =
                server.call(Method::GET, &format!("/chatrooms?limit=2&cursor={cursor}"), Some(viewer), None).await;
            assert_eq!(status, 200, "{body}");
            for summary in body["data"].as_array().unwrap() {
                assert_eq!((&summary["owner"], &summary["disabled"]), (&json!("o"), &json!(false)));
                assert_eq!(summary["affiliations_count"], 1);
                seen.push(summary["id"].as_str().unwrap().to_owned());
            }
            match body["cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, newest_first);
        // The SDK's pages.
        let (_, body) = server.call(Method::GET, "/chatrooms?pagenum=2&pagesize=2", Some(viewer), None).await;
        let page: Vec<&str> = body["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(page, [newest_first[2].as_str(), newest_first[3].as_str()]);
        assert_eq!(body["data"][0]["name"], "r2");
        let (status, _) = server.call(Method::GET, "/chatrooms?limit=101", Some(viewer), None).await;
        assert_eq!(status, 400);
        let (status, _) = server.call(Method::GET, "/chatrooms", None, None).await;
        assert_eq!(status, 401);

        // The rooms a user is in: newest joined first.
        for id in [&created[1], &created[3], &created[0]] {
            let (status, _) = server.admin(Method::POST, &format!("/chatrooms/{id}/users/viewer"), None).await;
            assert_eq!(status, 200);
        }
        let (status, body) = server.call(Method::GET, "/users/viewer/joined_chatrooms", Some(viewer), None).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["uri"].is_string());
        let joined: Vec<&str> = body["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(joined, [created[0].as_str(), created[3].as_str(), created[1].as_str()]);
        assert_eq!((&body["data"][0]["name"], body["data"][0].get("owner")), (&json!("r0"), None));
        let (_, body) = server
            .call(Method::GET, "/users/viewer/joined_chatrooms?pagenum=2&pagesize=1&detail=true", Some(viewer), None)
            .await;
        assert_eq!((body["data"][0]["id"].as_str(), &body["total"]), (Some(created[3].as_str()), &json!(3)));
        assert_eq!((&body["data"][0]["owner"], &body["data"][0]["affiliations_count"]), (&json!("o"), &json!(2)));
        let (status, _) = server.call(Method::GET, "/users/o/joined_chatrooms", Some(viewer), None).await;
        assert_eq!(status, 403, "only oneself");
        let (status, body) = server.admin(Method::GET, "/users/o/joined_chatrooms", None).await;
        assert_eq!((status, &body["count"]), (200, &json!(5)));
    });
}

#[tokio::test]
async fn modify_changes_only_name_description_and_maxusers() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "adm", "mem"]).await;
        let (adm, mem) = (&tokens[1], &tokens[2]);
        let id = room(&server, "own", &["adm", "mem"], json!({"custom":"c"})).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        let mut events = Listeners::connect(&server, &id, &["own", "adm", "mem"]).await;
        let before = room_state(&server, &id).await;

        for body in [json!({"name":"x","custom":"y"}), json!({"public":false}), json!({"owner":"mem"})] {
            let (status, reply) = server.admin(Method::PUT, &format!("/chatrooms/{id}"), Some(body.clone())).await;
            assert_eq!(error_of(status, &reply), (400, "invalid_parameter".into()), "{body}");
        }
        let (status, reply) =
            server.admin(Method::PUT, &format!("/chatrooms/{id}"), Some(json!({"name":"x"}).to_string().into())).await;
        assert_eq!(error_of(status, &reply), (400, "json_parse".into()), "a string is not an object");
        let (status, reply) =
            server.call(Method::PUT, &format!("/chatrooms/{id}"), Some(mem), Some(json!({"name":"x"}))).await;
        assert_eq!(error_of(status, &reply), (403, "forbidden_op".into()));
        let (status, _) = server.admin(Method::PUT, &format!("/chatrooms/{id}"), Some(json!({"maxusers":2}))).await;
        assert_eq!(status, 403, "below the member count");
        let (status, _) = server.admin(Method::PUT, &format!("/chatrooms/{id}"), Some(json!({"name":""}))).await;
        assert_eq!(status, 400);
        assert_eq!(room_state(&server, &id).await, before, "refused modifications change nothing");
        events.expect_none(&server).await;

        // An admin may; the SDK names the name `groupname`; the reply says `groupname` either way.
        let (status, reply) = server
            .call(
                Method::PUT,
                &format!("/chatrooms/{id}"),
                Some(adm),
                Some(json!({"groupname":"new","description":"d2"})),
            )
            .await;
        assert_eq!((status, &reply["data"]), (200, &json!({"groupname":true,"description":true})), "{reply}");
        let (status, reply) =
            server.admin(Method::PUT, &format!("/chatrooms/{id}"), Some(json!({"name":"newer","maxusers":300}))).await;
        assert_eq!((status, &reply["data"]), (200, &json!({"groupname":true,"maxusers":true})));
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}"), None).await;
        let details = &body["data"][0];
        assert_eq!(
            (&details["name"], &details["description"], &details["maxusers"], &details["custom"]),
            (&json!("newer"), &json!("d2"), &json!(300), &json!("c"))
        );
        events.expect(&server, &["updateInfo:adm>|all", "updateInfo:admin>|all"]).await;
        // Nothing to change: no event.
        server.admin(Method::PUT, &format!("/chatrooms/{id}"), Some(json!({"name":"newer"}))).await;
        events.expect_none(&server).await;
    });
}

#[tokio::test]
async fn only_the_owner_destroys_and_everyone_in_the_room_hears_it() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "adm", "mem"]).await;
        let (own, adm) = (&tokens[0], &tokens[1]);
        let id = room(&server, "own", &["adm", "mem"], json!({})).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        let mut events = Listeners::connect(&server, &id, &["own", "adm", "mem"]).await;
        let (status, body) = server.call(Method::DELETE, &format!("/chatrooms/{id}"), Some(adm), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        events.expect_none(&server).await;
        // The SDK's destroyChatRoom adds version=v3.
        let (status, body) = server.call(Method::DELETE, &format!("/chatrooms/{id}?version=v3"), Some(own), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"success":true,"id":id})));
        events.expect(&server, &["destroy:own>|all"]).await;
        let (status, _) = server.admin(Method::GET, &format!("/chatrooms/{id}"), None).await;
        assert_eq!(status, 404);
        let (status, _) = server.admin(Method::DELETE, &format!("/chatrooms/{id}"), None).await;
        assert_eq!(status, 404);
        let (_, body) = server.admin(Method::GET, "/users/mem/joined_chatrooms", None).await;
        assert_eq!(body["count"], 0);
    });
}

#[tokio::test]
async fn the_announcement_is_read_by_members_and_set_by_managers() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "adm", "mem", "out"]).await;
        let (adm, mem, out) = (&tokens[1], &tokens[2], &tokens[3]);
        let id = room(&server, "own", &["adm", "mem"], json!({})).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        let mut events = Listeners::connect(&server, &id, &["own", "adm", "mem", "out"]).await;
        let path = format!("/chatrooms/{id}/announcement");

        let (status, body) = server.call(Method::POST, &path, Some(mem), Some(json!({"announcement":"hi"}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, _) = server.admin(Method::POST, &path, Some(json!({"announcement":"a".repeat(513)}))).await;
        assert_eq!(status, 400);
        let (status, _) = server.admin(Method::POST, &path, Some(json!({}))).await;
        assert_eq!(status, 400);
        events.expect_none(&server).await;

        let (status, body) =
            server.call(Method::POST, &path, Some(adm), Some(json!({"announcement":"a".repeat(512)}))).await;
        assert_eq!((status, &body["data"]), (200, &json!({"id":id,"result":true})));
        let (status, body) = server.call(Method::GET, &path, Some(mem), None).await;
        assert_eq!((status, body["data"]["announcement"].as_str().map(str::len)), (200, Some(512)));
        let (status, _) = server.call(Method::GET, &path, Some(out), None).await;
        assert_eq!(status, 403, "outsiders do not read it");
        server.call(Method::POST, &path, Some(adm), Some(json!({"announcement":""}))).await;
        events.expect(&server, &["updateAnnouncement:adm>|all", "deleteAnnouncement:adm>|all"]).await;
        let (_, body) = server.call(Method::GET, &path, Some(mem), None).await;
        assert_eq!(body["data"], json!({"announcement":""}));
    });
}

#[tokio::test]
async fn custom_attributes_protect_others_keys_unless_forced() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "adm", "ann", "bob", "out"]).await;
        let (adm, ann, bob, out) = (&tokens[1], &tokens[2], &tokens[3], &tokens[4]);
        let id = room(&server, "own", &["adm", "ann", "bob"], json!({})).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        let mut events = Listeners::connect(&server, &id, &["own", "adm", "ann", "bob", "out"]).await;
        let set = |user: &str, forced: bool| {
            format!("/metadata/chatroom/{id}/user/{user}{}", if forced { "/forced" } else { "" })
        };
        let get = format!("/metadata/chatroom/{id}");

        // ann sets her keys (autoDelete by default); a bad key is refused alone.
        let (status, body) = server
            .call(
                Method::PUT,
                &set("ann", false),
                Some(ann),
                Some(json!({"metaData":{"seat":"1","mic":"on","bad key":"x"}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["successKeys"], json!(["mic", "seat"]));
        assert!(body["data"]["errorKeys"]["bad key"].is_string());
        events.expect(&server, &["updateChatRoomAttributes:ann>|all"]).await;
        // bob keeps his keys with NO_DELETE, and may not overwrite ann's.
        let (_, body) = server
            .call(
                Method::PUT,
                &set("bob", false),
                Some(bob),
                Some(json!({"metaData":{"seat":"2","topic":"rust"},"autoDelete":"NO_DELETE"})),
            )
            .await;
        assert_eq!(body["data"]["successKeys"], json!(["topic"]));
        assert_eq!(body["data"]["errorKeys"], json!({"seat":"the key was set by another user"}));
        // A member may not force, nor act as someone else; an outsider may not set at all.
        let (status, _) =
            server.call(Method::PUT, &set("bob", true), Some(bob), Some(json!({"metaData":{"seat":"2"}}))).await;
        assert_eq!(status, 403);
        let (status, _) =
            server.call(Method::PUT, &set("ann", false), Some(bob), Some(json!({"metaData":{"x":"2"}}))).await;
        assert_eq!(status, 403);
        let (status, _) =
            server.call(Method::PUT, &set("out", false), Some(out), Some(json!({"metaData":{"x":"2"}}))).await;
        assert_eq!(status, 403);
        // Limits: 1 to 10 per call, a known autoDelete.
        let eleven: serde_json::Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
        for body in [
            json!({"metaData": eleven}),
            json!({"metaData":{}}),
            json!({}),
            json!({"metaData":{"a":"b"},"autoDelete":"SOMETIMES"}),
        ] {
            let (status, reply) = server.call(Method::PUT, &set("bob", false), Some(bob), Some(body.clone())).await;
            assert_eq!(status, 400, "{body}: {reply}");
        }
        events.expect(&server, &["updateChatRoomAttributes:bob>|all"]).await;

        // An admin forces; the key becomes theirs.
        let (status, body) =
            server.call(Method::PUT, &set("adm", true), Some(adm), Some(json!({"metaData":{"seat":"3"}}))).await;
        assert_eq!((status, &body["data"]["successKeys"]), (200, &json!(["seat"])));
        // Reading: all keys, or some; members only.
        let (status, body) = server.call(Method::POST, &get, Some(bob), Some(json!({"keys":[]}))).await;
        assert_eq!((status, &body["data"]), (200, &json!({"mic":"on","seat":"3","topic":"rust"})));
        let (_, body) = server.call(Method::POST, &get, Some(bob), Some(json!({"keys":["topic","nope"]}))).await;
        assert_eq!(body["data"], json!({"topic":"rust"}));
        let (status, _) = server.call(Method::POST, &get, Some(out), Some(json!({}))).await;
        assert_eq!(status, 403);

        // Removing: one's own keys only unless forced.
        let (status, body) = server
            .call(Method::DELETE, &set("ann", false), Some(ann), Some(json!({"keys":["mic","seat","nope"]})))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["successKeys"], json!(["mic"]));
        assert_eq!(body["data"]["errorKeys"]["seat"], "the key was set by another user");
        assert_eq!(body["data"]["errorKeys"]["nope"], "the key does not exist");
        let (status, _) =
            server.call(Method::DELETE, &set("ann", true), Some(ann), Some(json!({"keys":["topic"]}))).await;
        assert_eq!(status, 403);
        // The app acts as whoever the path names (Agora's server SDK says `admin`).
        let (status, body) = server.admin(Method::DELETE, &set("admin", true), Some(json!({"keys":["topic"]}))).await;
        assert_eq!((status, &body["data"]["successKeys"]), (200, &json!(["topic"])));
        let attributes = [
            "updateChatRoomAttributes:adm>|all",
            "removeChatRoomAttributes:ann>|all",
            "removeChatRoomAttributes:admin>|all",
        ];
        events.expect(&server, &attributes).await;
        let (_, body) = server.admin(Method::POST, &get, Some(json!({}))).await;
        assert_eq!(body["data"], json!({"seat":"3"}));

        // A room holds 100 keys.
        for batch in 0..10 {
            let pairs: serde_json::Map<String, Value> = (0..10).map(|i| (format!("k{batch}{i}"), json!("v"))).collect();
            let (_, body) = server.admin(Method::PUT, &set("admin", false), Some(json!({"metaData": pairs}))).await;
            let accepted = body["data"]["successKeys"].as_array().unwrap().len();
            assert_eq!(accepted, if batch < 9 { 10 } else { 9 }, "batch {batch}: {body}");
        }
        let (_, body) = server.admin(Method::POST, &get, Some(json!({}))).await;
        assert_eq!(body["data"].as_object().unwrap().len(), 100);
    });
}

#[tokio::test]
async fn auto_delete_attributes_go_when_their_setter_is_removed() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "ann"]).await;
        let ann = &tokens[1];
        let id = room(&server, "own", &["ann"], json!({})).await;
        let path = format!("/metadata/chatroom/{id}/user/ann");
        server.call(Method::PUT, &path, Some(ann), Some(json!({"metaData":{"a":"1"},"autoDelete":"DELETE"}))).await;
        server.call(Method::PUT, &path, Some(ann), Some(json!({"metaData":{"b":"2"},"autoDelete":"NO_DELETE"}))).await;
        let mut events = Listeners::connect(&server, &id, &["own", "ann"]).await;
        let (status, _) = server.admin(Method::DELETE, &format!("/chatrooms/{id}/users/ann"), None).await;
        assert_eq!(status, 200);
        // ann is out of the room when the attributes go: only those still in it hear that.
        let removed =
            ["removeMember:admin>ann|ann", "memberAbsence:ann>ann|all-but-ann", "removeChatRoomAttributes:ann>|all"];
        events.expect(&server, &removed).await;
        let (_, body) = server.admin(Method::POST, &format!("/metadata/chatroom/{id}"), Some(json!({}))).await;
        assert_eq!(body["data"], json!({"b":"2"}));
    });
}

#[tokio::test]
async fn members_are_listed_newest_first_added_and_removed() {
    on_every_backend!(|server: TestServer| async move {
        let users: Vec<String> = (0..25).map(|i| format!("u{i:02}")).collect();
        let refs: Vec<&str> = users.iter().map(String::as_str).collect();
        server.users(&refs).await;
        let id = room(&server, "u00", &[], json!({"maxusers": 27})).await;
        // u01 and u02 are online before they are added: each is in the room from then on and
        // hears who comes after.
        let mut events = Listeners::connect(&server, &id, &["u00", "u01", "u02"]).await;
        for user in &users[1..] {
            let (status, body) = server.admin(Method::POST, &format!("/chatrooms/{id}/users/{user}"), None).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"], json!({"result":true,"action":"add_member","id":id,"user":user}));
        }
        let presences: Vec<String> = users[1..].iter().map(|u| format!("memberPresence:{u}>{u}|all-but-{u}")).collect();
        events.expect(&server, &presences).await;
        let expected: Vec<String> = users.iter().rev().cloned().collect();

        let mut paged = Vec::new();
        for page in 1..=3 {
            let (status, body) =
                server.admin(Method::GET, &format!("/chatrooms/{id}/users?pagenum={page}&pagesize=10"), None).await;
            assert_eq!(status, 200, "{body}");
            paged.extend(member_names(&body["data"]));
        }
        assert_eq!(paged, expected);
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}/users"), None).await;
        assert_eq!((body["count"].as_u64(), body["data"][24]["owner"].as_str()), (Some(25), Some("u00")));
        // The SDK's cursor variant.
        let member = server.login("u05").await;
        let mut cursored = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/chatrooms/{id}/users?limit=7&cursor={cursor}&joined_time=true");
            let (status, body) = server.call(Method::GET, &path, Some(&member), None).await;
            assert_eq!(status, 200, "{body}");
            assert!(body["data"].as_array().unwrap().iter().all(|a| a["joined_time"].is_i64()));
            cursored.extend(member_names(&body["data"]));
            match body["cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(cursored, expected);

        // A batch: one already in, one unknown, one too many (maxusers 27).
        server.users(&["x1", "x2", "x3"]).await;
        let (status, body) = server
            .admin(
                Method::POST,
                &format!("/chatrooms/{id}/users"),
                Some(json!({"usernames":["x1","u03","ghost","x2","x3"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!({"newmembers":["x1","x2"],"action":"add_member","id":id}));
        let (status, body) = server.admin(Method::POST, &format!("/chatrooms/{id}/users/u03"), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()), "already in");
        let (status, body) = server.admin(Method::POST, &format!("/chatrooms/{id}/users/x3"), None).await;
        assert_eq!(error_of(status, &body), (403, "exceed_limit".into()), "full");
        events.skip(&server).await;

        // Removing: the owner never; each user answered; more than 100 refused.
        let (status, body) =
            server.admin(Method::DELETE, &format!("/chatrooms/{id}/users/u01,u00,ghost,x3"), None).await;
        assert_eq!(status, 200, "{body}");
        let results = body["data"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        assert_eq!(results[0], json!({"result":true,"action":"remove_member","id":id,"user":"u01"}));
        assert_eq!(
            (&results[1]["result"], &results[1]["reason"]),
            (&json!(false), &json!("Forbidden operation on chatroom owner!"))
        );
        assert_eq!((&results[2]["result"], &results[3]["result"]), (&json!(false), &json!(false)));
        events.expect(&server, &["removeMember:admin>u01|u01", "memberAbsence:u01>u01|all-but-u01"]).await;
        let (status, body) = server.admin(Method::DELETE, &format!("/chatrooms/{id}/users/u02"), None).await;
        assert_eq!((status, &body["data"]["result"], &body["data"]["user"]), (200, &json!(true), &json!("u02")));
        let (status, _) = server.admin(Method::DELETE, &format!("/chatrooms/{id}/users/u02"), None).await;
        assert_eq!(status, 403, "no longer in the room");
        let many: Vec<String> = (0..101).map(|i| format!("y{i}")).collect();
        let (status, _) =
            server.admin(Method::DELETE, &format!("/chatrooms/{id}/users/{}", many.join(",")), None).await;
        assert_eq!(status, 400);
        let many: Vec<String> = (0..61).map(|i| format!("y{i}")).collect();
        let (status, _) =
            server.admin(Method::POST, &format!("/chatrooms/{id}/users"), Some(json!({"usernames": many}))).await;
        assert_eq!(status, 400);
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}"), None).await;
        assert_eq!(body["data"][0]["affiliations_count"], 25);

        // A plain member cannot add or remove anyone.
        let (status, _) = server.call(Method::POST, &format!("/chatrooms/{id}/users/x3"), Some(&member), None).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::DELETE, &format!("/chatrooms/{id}/users/u06"), Some(&member), None).await;
        assert_eq!(status, 403);
    });
}

#[tokio::test]
async fn admins_follow_the_role_rules_and_keep_their_role_when_they_leave() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "a1", "a2", "m", "out"]).await;
        let (own, a1) = (&tokens[0], &tokens[1]);
        let id = room(&server, "own", &["a1", "a2", "m"], json!({})).await;
        let mut events = Listeners::connect(&server, &id, &["own", "a1", "a2", "m", "out"]).await;
        let admin_path = format!("/chatrooms/{id}/admin");

        let (status, _) = server.call(Method::POST, &admin_path, Some(a1), Some(json!({"newadmin":"m"}))).await;
        assert_eq!(status, 403, "only the owner appoints");
        for admin in ["a1", "a2"] {
            let (status, body) =
                server.call(Method::POST, &admin_path, Some(own), Some(json!({"newadmin": admin}))).await;
            assert_eq!((status, &body["data"]), (200, &json!({"result":"success","newadmin":admin})));
        }
        for (target, status) in [("a1", 403), ("out", 403), ("own", 403), ("ghost", 404)] {
            let (got, body) =
                server.call(Method::POST, &admin_path, Some(own), Some(json!({"newadmin": target}))).await;
            assert_eq!(got, status, "{target}: {body}");
        }
        // setAdmin goes to the target alone (unlike groups).
        events.expect(&server, &["setAdmin:own>a1|a1", "setAdmin:own>a2|a2"]).await;
        let (_, body) = server.call(Method::GET, &admin_path, Some(&tokens[3]), None).await;
        assert_eq!((names(&body["data"]), &body["count"]), (vec!["a1".to_owned(), "a2".to_owned()], &json!(2)));

        // Admins act on plain members only.
        let (status, _) = server.call(Method::DELETE, &format!("/chatrooms/{id}/users/own"), Some(a1), None).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::DELETE, &format!("/chatrooms/{id}/users/a2"), Some(a1), None).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::DELETE, &format!("/chatrooms/{id}/users/m"), Some(a1), None).await;
        assert_eq!(status, 200);
        // The owner takes an admin out of the room: the role stays.
        let (status, _) = server.call(Method::DELETE, &format!("/chatrooms/{id}/users/a2"), Some(own), None).await;
        assert_eq!(status, 200);
        let (_, body) = server.admin(Method::GET, &admin_path, None).await;
        assert_eq!(names(&body["data"]), ["a1", "a2"]);
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}/users"), None).await;
        assert_eq!(member_names(&body["data"]), ["a1", "own"]);
        // …and the absent admin still manages the room.
        let a2 = &tokens[2];
        let (status, _) = server.call(Method::POST, &format!("/chatrooms/{id}/ban"), Some(a2), None).await;
        assert_eq!(status, 200);
        events.skip(&server).await;

        let (status, body) = server.call(Method::DELETE, &format!("{admin_path}/a2"), Some(own), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"result":"success","oldadmin":"a2"})));
        let (status, _) = server.call(Method::DELETE, &format!("{admin_path}/m"), Some(own), None).await;
        assert_eq!(status, 403, "not an admin");
        let (status, _) = server.call(Method::DELETE, &format!("{admin_path}/a1"), Some(a1), None).await;
        assert_eq!(status, 403, "only the owner");
        events.expect(&server, &["removeAdmin:own>a2|a2"]).await;
        let (status, _) = server.call(Method::DELETE, &format!("/chatrooms/{id}/ban"), Some(a2), None).await;
        assert_eq!(status, 403, "a2 is nobody in the room now");
    });
}

#[tokio::test]
async fn blocking_removes_the_user_and_keeps_them_out_until_unblocked() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "adm", "m1", "m2", "stranger"]).await;
        let (own, adm, m1) = (&tokens[0], &tokens[1], &tokens[2]);
        let id = room(&server, "own", &["adm", "m1", "m2"], json!({})).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/white/users/m1"), None).await;
        let mut events = Listeners::connect(&server, &id, &["own", "adm", "m1", "m2", "stranger"]).await;
        let blocks = format!("/chatrooms/{id}/blocks/users");

        let (status, body) = server.call(Method::POST, &format!("{blocks}/m1"), Some(adm), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!({"result":true,"action":"add_blocks","user":"m1","chatroomid":id}));
        events.expect(&server, &["removeMember:adm>m1|m1", "memberAbsence:m1>m1|all-but-m1"]).await;
        let (status, _) = server.call(Method::POST, &format!("{blocks}/own"), Some(adm), None).await;
        assert_eq!(status, 403, "the owner is never blocked");
        // The blocked user is out: no details, no joining by REST, off the allowlist.
        let (status, body) = server.call(Method::GET, &format!("/chatrooms/{id}"), Some(m1), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, _) = server.admin(Method::POST, &format!("/chatrooms/{id}/users/m1"), None).await;
        assert_eq!(status, 403);
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}/white/users"), None).await;
        assert_eq!(body["count"], 0);
        // A batch: a stranger may be blocked before coming in; an admin can't block an admin.
        let (status, body) =
            server.call(Method::POST, &blocks, Some(adm), Some(json!({"usernames":["stranger","adm","m1"]}))).await;
        assert_eq!(status, 200, "{body}");
        let outcomes: Vec<&Value> = body["data"].as_array().unwrap().iter().map(|r| &r["result"]).collect();
        assert_eq!(outcomes, [&json!(true), &json!(false), &json!(false)]);
        assert_eq!(body["data"][0]["chatroomid"], json!(id));
        let (status, _) = server.call(Method::GET, &blocks, Some(&tokens[3]), None).await;
        assert_eq!(status, 403, "members don't read the blocklist");
        let (_, body) = server.call(Method::GET, &blocks, Some(adm), None).await;
        assert_eq!(names(&body["data"]), ["m1", "stranger"]);

        // The owner blocks an admin: out of the room and of the admins.
        let (status, _) = server.call(Method::POST, &format!("{blocks}/adm"), Some(own), None).await;
        assert_eq!(status, 200);
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}/admin"), None).await;
        assert_eq!(body["count"], 0);
        events.skip(&server).await;

        // Unblocking: the user hears unblockMember and may come back.
        let (status, body) = server.call(Method::DELETE, &format!("{blocks}/m1,stranger"), Some(own), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        assert_eq!(body["data"][0]["action"], "remove_blocks");
        events.expect(&server, &["unblockMember:own>m1|m1", "unblockMember:own>stranger|stranger"]).await;
        let (status, _) = server.call(Method::DELETE, &format!("{blocks}/m2"), Some(own), None).await;
        assert_eq!(status, 403, "not blocked");
        let (status, _) = server.admin(Method::POST, &format!("/chatrooms/{id}/users/m1"), None).await;
        assert_eq!(status, 200);
    });
}

#[tokio::test]
async fn allowlist_mutes_and_mute_all() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "adm", "m1", "m2", "out"]).await;
        let (adm, m1, m2) = (&tokens[1], &tokens[2], &tokens[3]);
        let id = room(&server, "own", &["adm", "m1", "m2"], json!({})).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        let mut events = Listeners::connect(&server, &id, &["own", "adm", "m1", "m2", "out"]).await;
        let white = format!("/chatrooms/{id}/white/users");

        // Allowlist: managers change it; members only in the room; the user may ask about themself.
        let (status, body) = server.call(Method::POST, &format!("{white}/m1"), Some(adm), None).await;
        assert_eq!(
            (status, &body["data"]),
            (200, &json!({"result":true,"action":"add_user_whitelist","user":"m1","chatroomid":id}))
        );
        let (status, body) =
            server.call(Method::POST, &white, Some(adm), Some(json!({"usernames":["m2","out"]}))).await;
        assert_eq!(status, 200);
        assert_eq!((&body["data"][0]["result"], &body["data"][1]["result"]), (&json!(true), &json!(false)));
        let (status, _) = server.call(Method::POST, &format!("{white}/adm"), Some(m1), None).await;
        assert_eq!(status, 403);
        let (_, body) = server.call(Method::GET, &white, Some(adm), None).await;
        assert_eq!(names(&body["data"]), ["m1", "m2"]);
        let (status, _) = server.call(Method::GET, &white, Some(m1), None).await;
        assert_eq!(status, 403);
        let (_, body) = server.call(Method::GET, &format!("{white}/m1"), Some(m1), None).await;
        assert_eq!(body["data"], true);
        let (status, _) = server.call(Method::GET, &format!("{white}/m2"), Some(m1), None).await;
        assert_eq!(status, 403, "about someone else: managers only");
        // Members are marked allowlisted in the member list.
        let members = server.state.store.room_members_page(
            server.state.app("qun", "test").await.unwrap().unwrap().id,
            qun_core::RoomId::parse(&id).unwrap(),
            qun_store::MemberPage::Offset { number: 0, size: 10 },
        );
        let allowlisted: Vec<String> =
            members.await.unwrap().into_iter().filter(|m| m.allowlisted).map(|m| m.user.to_string()).collect();
        assert_eq!(allowlisted, ["m2", "m1"]);
        events.expect(&server, &["addUserToAllowlist:adm>m1|m1", "addUserToAllowlist:adm>m2|m2"]).await;
        // An entry outlives presence: m2 leaves and is still taken off the list.
        server.admin(Method::DELETE, &format!("/chatrooms/{id}/users/m2"), None).await;
        events.skip(&server).await;
        let (status, body) = server.call(Method::DELETE, &format!("{white}/m2"), Some(adm), None).await;
        assert_eq!((status, &body["data"][0]["action"]), (200, &json!("remove_user_whitelist")));
        events.expect(&server, &["removeAllowlistMember:adm>m2|m2"]).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/users/m2"), None).await;
        events.skip(&server).await;

        // Mutes: a duration in ms or -1; managers only; the target hears it.
        let mute = format!("/chatrooms/{id}/mute");
        let (status, body) =
            server.call(Method::POST, &mute, Some(adm), Some(json!({"usernames":["m1"],"mute_duration":60000}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((&body["data"][0]["result"], &body["data"][0]["user"]), (&json!(true), &json!("m1")));
        assert!(body["data"][0]["expire"].as_i64().unwrap() > 1_700_000_000_000);
        let (_, body) = server
            .call(Method::POST, &mute, Some(adm), Some(json!({"usernames":["m2","out"],"mute_duration":-1})))
            .await;
        assert_eq!((&body["data"][0]["expire"], &body["data"][1]["result"]), (&json!(-1), &json!(false)));
        for duration in [0, -2] {
            let (status, body) = server
                .call(Method::POST, &mute, Some(adm), Some(json!({"usernames":["m1"],"mute_duration":duration})))
                .await;
            assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));
        }
        let (status, _) =
            server.call(Method::POST, &mute, Some(adm), Some(json!({"usernames":["own"],"mute_duration":5}))).await;
        assert_eq!(status, 403);
        let (status, _) =
            server.call(Method::POST, &mute, Some(m1), Some(json!({"usernames":["m2"],"mute_duration":5}))).await;
        assert_eq!(status, 403);
        events.expect(&server, &["muteMember:adm>m1|m1", "muteMember:adm>m2|m2"]).await;
        let (_, body) = server.call(Method::GET, &mute, Some(adm), None).await;
        let mut muted: Vec<(String, bool)> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["user"].as_str().unwrap().to_owned(), m["expire"] == json!(-1)))
            .collect();
        muted.sort();
        assert_eq!(muted, [("m1".to_owned(), false), ("m2".to_owned(), true)]);
        let (status, _) = server.call(Method::GET, &mute, Some(m1), None).await;
        assert_eq!(status, 403);
        // The SDK's isInChatRoomMutelist.
        let (_, body) = server.call(Method::GET, &format!("/sdk/chatrooms/{id}/mute/m1"), Some(m1), None).await;
        assert_eq!(body["data"], true);
        // A mute outlives presence: m1 leaves, is still muted, and can still be unmuted.
        server.admin(Method::DELETE, &format!("/chatrooms/{id}/users/m1"), None).await;
        events.skip(&server).await;
        let (_, body) = server.call(Method::GET, &mute, Some(adm), None).await;
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        let (status, body) = server.call(Method::DELETE, &format!("{mute}/m1,m2"), Some(adm), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!([{"result":true,"user":"m1"},{"result":true,"user":"m2"}]));
        events.expect(&server, &["unmuteMember:adm>m1|m1", "unmuteMember:adm>m2|m2"]).await;
        let (_, body) = server.call(Method::GET, &format!("/sdk/chatrooms/{id}/mute/m2"), Some(m2), None).await;
        assert_eq!(body["data"], false);

        // Mute all: everyone but the actor hears it; the details show it; managers only.
        let ban = format!("/chatrooms/{id}/ban");
        let (status, _) = server.call(Method::POST, &ban, Some(m2), None).await;
        assert_eq!(status, 403);
        let (status, body) = server.call(Method::POST, &ban, Some(adm), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"mute":true})));
        let (_, body) = server.admin(Method::GET, &format!("/chatrooms/{id}"), None).await;
        assert_eq!(body["data"][0]["mute"], true);
        server.call(Method::POST, &ban, Some(adm), None).await;
        let (status, body) = server.admin(Method::DELETE, &ban, None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"mute":false})));
        events.expect(&server, &["muteAllMembers:adm>|all-but-adm", "unmuteAllMembers:admin>|all"]).await;
    });
}

#[tokio::test]
async fn a_refused_request_changes_nothing_and_publishes_nothing() {
    on_every_backend!(|server: TestServer| async move {
        let tokens = logins(&server, &["own", "adm", "m", "out"]).await;
        let id = room(&server, "own", &["adm", "m"], json!({})).await;
        server.admin(Method::POST, &format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        server
            .admin(Method::PUT, &format!("/metadata/chatroom/{id}/user/adm"), Some(json!({"metaData":{"k":"v"}})))
            .await;
        let mut events = Listeners::connect(&server, &id, &["own", "adm", "m", "out"]).await;
        let before = room_state(&server, &id).await;
        let requests = [
            (Method::PUT, format!("/chatrooms/{id}"), Some(json!({"name":"x"}))),
            (Method::POST, format!("/chatrooms/{id}/ban"), None),
            (Method::POST, format!("/chatrooms/{id}/announcement"), Some(json!({"announcement":"x"}))),
            (Method::POST, format!("/chatrooms/{id}/admin"), Some(json!({"newadmin":"m"}))),
            (Method::DELETE, format!("/chatrooms/{id}/admin/adm"), None),
            (Method::POST, format!("/chatrooms/{id}/users/out"), None),
            (Method::DELETE, format!("/chatrooms/{id}/users/adm"), None),
            (Method::POST, format!("/chatrooms/{id}/blocks/users/adm"), None),
            (Method::POST, format!("/chatrooms/{id}/white/users/adm"), None),
            (Method::POST, format!("/chatrooms/{id}/mute"), Some(json!({"usernames":["adm"],"mute_duration":5}))),
            (Method::DELETE, format!("/chatrooms/{id}"), None),
            (Method::PUT, format!("/metadata/chatroom/{id}/user/m/forced"), Some(json!({"metaData":{"k":"x"}}))),
            (Method::DELETE, format!("/metadata/chatroom/{id}/user/m/forced"), Some(json!({"keys":["k"]}))),
        ];
        // A plain member and an outsider are refused everything above.
        for (token, who) in [(&tokens[2], "m"), (&tokens[3], "out")] {
            for (method, path, body) in &requests {
                let path = path.replace("/user/m/", &format!("/user/{who}/"));
                let (status, reply) = server.call(method.clone(), &path, Some(token), body.clone()).await;
                assert_eq!(status, 403, "{who} {method} {path}: {reply}");
                assert!(reply["error"].is_string() && reply["error_description"].is_string(), "{reply}");
            }
        }
        // A member's own non-forced set on another's key is refused key by key, changing nothing.
        let (status, body) = server
            .call(
                Method::PUT,
                &format!("/metadata/chatroom/{id}/user/m"),
                Some(&tokens[2]),
                Some(json!({"metaData":{"k":"x"}})),
            )
            .await;
        assert_eq!((status, &body["data"]["successKeys"]), (200, &json!([])));
        assert_eq!(room_state(&server, &id).await, before, "no refused request may change the room");
        // …nor send an event.
        events.expect_none(&server).await;
    });
}
