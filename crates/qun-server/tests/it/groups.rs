//! Group lifecycle, lists, members, roles and restrictions over REST, with the events each
//! operation records for its receivers.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn create_validates_and_details_read_back() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "m2"]).await;
        // `public` is required, the owner must exist, members too.
        let (status, body) =
            server.admin(Method::POST, "/chatgroups", Some(json!({"groupname":"g","owner":"owner"}))).await;
        assert_eq!((status, body["error_description"].as_str()), (400, Some("group must contain public field!")));
        let (status, body) = server
            .admin(Method::POST, "/chatgroups", Some(json!({"groupname":"g","public":true,"owner":"ghost"})))
            .await;
        assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()));
        let (status, _) = server
            .admin(
                Method::POST,
                "/chatgroups",
                Some(json!({"groupname":"g","public":true,"owner":"owner","members":["ghost"]})),
            )
            .await;
        assert_eq!(status, 404);
        // ext: 8,192 bytes are fine, 8,193 are not; wrong types are a parse error.
        let (status, body) = server
            .admin(
                Method::POST,
                "/chatgroups",
                Some(json!({"groupname":"g","public":true,"owner":"owner","custom":"x".repeat(8193)})),
            )
            .await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        let (status, body) = server
            .admin(Method::POST, "/chatgroups", Some(json!({"groupname":"g","public":"yes","owner":"owner"})))
            .await;
        assert_eq!(error_of(status, &body), (400, "json_parse".into()));
        let (status, body) = server
            .admin(
                Method::POST,
                "/chatgroups",
                Some(json!({"groupname":"g".repeat(129),"public":true,"owner":"owner"})),
            )
            .await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        // maxusers is capped by the plan (enterprise: 5,000).
        let (status, body) = server
            .admin(
                Method::POST,
                "/chatgroups",
                Some(json!({"groupname":"g","public":true,"owner":"owner","maxusers":5001})),
            )
            .await;
        assert_eq!(error_of(status, &body), (403, "exceed_limit".into()));
        // None of the refused requests created anything.
        let (_, body) = server.admin(Method::GET, "/chatgroups", None).await;
        assert_eq!(body["count"], 0, "{body}");

        // The SDK's names (desc, approval) are accepted.
        let custom = "y".repeat(8192);
        let (status, body) = server
            .admin(Method::POST, "/chatgroups", Some(json!({"groupname":"team","desc":"about","public":false,"approval":true,
                "allowinvites":true,"invite_need_confirm":false,"maxusers":300,"owner":"owner","members":["m1","m2","owner"],"custom":custom})))
            .await;
        assert_eq!(status, 200, "{body}");
        let id = body["data"]["groupid"].as_str().unwrap().to_owned();
        assert!(id.parse::<u64>().is_ok(), "group ids are numeric strings");

        let (status, body) = server.admin(Method::GET, &format!("/chatgroups/{id}?joined_time=true"), None).await;
        assert_eq!(status, 200, "{body}");
        let group = &body["data"][0];
        assert_eq!(group["id"], id.as_str());
        assert_eq!(group["name"], "team");
        assert_eq!(group["description"], "about");
        assert_eq!(group["public"], false);
        assert_eq!(group["membersonly"], true);
        assert_eq!(group["allowinvites"], true);
        assert_eq!(group["invite_need_confirm"], false);
        assert_eq!(group["maxusers"], 300);
        assert_eq!(group["owner"], "owner");
        assert_eq!(group["custom"].as_str().unwrap().len(), 8192);
        assert_eq!(group["affiliations_count"], 3);
        assert_eq!(group["mute"], false);
        assert_eq!(group["disabled"], false);
        let affiliations = group["affiliations"].as_array().unwrap();
        assert_eq!(affiliations.len(), 3);
        assert!(affiliations.iter().any(|a| a["owner"] == "owner"));
        assert!(affiliations.iter().all(|a| a["joined_time"].is_i64()));

        // A user token may read a group it belongs to, not a private one it doesn't.
        server.users(&["outsider"]).await;
        let m1 = server.login("m1").await;
        let (status, body) = server.call(Method::GET, &format!("/chatgroups/{id}"), Some(&m1), None).await;
        assert_eq!((status, body["data"][0]["permission"].as_str()), (200, Some("member")));
        let outsider = server.login("outsider").await;
        let (status, _) = server.call(Method::GET, &format!("/chatgroups/{id}"), Some(&outsider), None).await;
        assert_eq!(status, 403);
        // Unknown ids.
        let (status, body) = server.admin(Method::GET, "/chatgroups/123", None).await;
        assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()));
    });
}

#[tokio::test]
async fn a_user_creates_their_own_group_and_the_plan_limits_size() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let ann = server.login("ann").await;
        let (status, body) = server
            .call(
                Method::POST,
                "/chatgroups",
                Some(&ann),
                Some(json!({"groupname":"mine","public":true,"members":["ben"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let id = body["data"]["groupid"].as_str().unwrap().to_owned();
        // Only for themself.
        let (status, _) = server
            .call(Method::POST, "/chatgroups", Some(&ann), Some(json!({"groupname":"x","public":true,"owner":"ben"})))
            .await;
        assert_eq!(status, 403);
        // The create event goes to the owner's (other) devices; ben was added directly.
        assert_eq!(server.events_of("ann", &id).await, ["create:ann>"]);
        assert_eq!(server.events_of("ben", &id).await, ["directJoined:ann>ben"]);
        // maxusers defaults to 200, as in Agora.
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}"), None).await;
        assert_eq!(body["data"][0]["maxusers"], 200);
    });
}

#[tokio::test]
async fn on_a_small_plan_a_group_without_maxusers_gets_the_plans_cap() {
    for backend in crate::harness::backends() {
        let server = TestServer::start_with(backend, |config| config.plan = qun_core::Plan::Free).await;
        server.users(&["ann"]).await;
        let ann = server.login("ann").await;
        let (status, body) = server
            .call(Method::POST, "/chatgroups", Some(&ann), Some(json!({"groupname":"small","public":true})))
            .await;
        assert_eq!(status, 200, "{body}");
        let id = body["data"]["groupid"].as_str().unwrap().to_owned();
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}"), None).await;
        assert_eq!(body["data"][0]["maxusers"], 100, "the free plan's cap, not Agora's 200");
        // Asking for more than the plan allows is still refused.
        let (status, body) = server
            .call(
                Method::POST,
                "/chatgroups",
                Some(&ann),
                Some(json!({"groupname":"big","public":true,"maxusers":200})),
            )
            .await;
        assert_eq!(error_of(status, &body), (403, "exceed_limit".into()));
    }
}

#[tokio::test]
async fn modify_transfer_dissolve_and_disable() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "adm", "mem"]).await;
        let id = server.group("own", &["adm", "mem"], json!({})).await;
        server.admin(Method::POST, &format!("/chatgroups/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;

        // Unknown fields are refused and change nothing.
        let (status, body) = server
            .admin(Method::PUT, &format!("/chatgroups/{id}"), Some(json!({"groupname":"new","groupid":"1"})))
            .await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        assert!(body["error_description"].as_str().unwrap().contains("groupid"));
        // A plain member may not modify; an admin may.
        let mem = server.login("mem").await;
        let (status, body) =
            server.call(Method::PUT, &format!("/chatgroups/{id}"), Some(&mem), Some(json!({"groupname":"new"}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let adm = server.login("adm").await;
        let (status, body) = server
            .call(
                Method::PUT,
                &format!("/chatgroups/{id}"),
                Some(&adm),
                Some(json!({"groupname":"new","description":"d","custom":"{\"k\":1}"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!({"groupname":true,"description":true,"custom":true}));
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}"), None).await;
        assert_eq!(
            (body["data"][0]["name"].as_str(), body["data"][0]["custom"].as_str()),
            (Some("new"), Some("{\"k\":1}"))
        );
        // updateInfo reaches everybody.
        for user in ["own", "adm", "mem"] {
            assert!(server.events_of(user, &id).await.contains(&"updateInfo:adm>".to_owned()), "{user}");
        }
        // maxusers below the member count is refused.
        let (status, _) = server.admin(Method::PUT, &format!("/chatgroups/{id}"), Some(json!({"maxusers":2}))).await;
        assert_eq!(status, 403);

        // Transfer: only the owner; to a member; not to themself.
        let (status, _) =
            server.call(Method::PUT, &format!("/chatgroups/{id}"), Some(&adm), Some(json!({"newowner":"mem"}))).await;
        assert_eq!(status, 403);
        let own = server.login("own").await;
        let (status, body) =
            server.call(Method::PUT, &format!("/chatgroups/{id}"), Some(&own), Some(json!({"newowner":"own"}))).await;
        assert_eq!((status, body["error_description"].as_str()), (403, Some("New owner and old owner are the same.")));
        let (status, body) =
            server.call(Method::PUT, &format!("/chatgroups/{id}"), Some(&own), Some(json!({"newowner":"mem"}))).await;
        assert_eq!((status, &body["data"]), (200, &json!({"newowner":true})));
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}"), None).await;
        assert_eq!(body["data"][0]["owner"], "mem");
        assert!(server.events_of("own", &id).await.contains(&"changeOwner:own>mem".to_owned()));
        assert!(server.events_of("mem", &id).await.contains(&"changeOwner:own>mem".to_owned()));
        assert!(!server.events_of("adm", &id).await.iter().any(|e| e.starts_with("changeOwner")));
        // The old owner is a plain member now and may leave; the new one may not.
        let (status, _) = server.call(Method::DELETE, &format!("/chatgroups/{id}/quit"), Some(&own), None).await;
        assert_eq!(status, 200);

        // Disable: app admin only; users can still read but not manage.
        let (status, _) = server.call(Method::POST, &format!("/chatgroups/{id}/disable"), Some(&mem), None).await;
        assert_eq!(status, 403);
        let (status, body) = server.admin(Method::POST, &format!("/chatgroups/{id}/disable"), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"disabled":true})));
        let (status, body) =
            server.call(Method::PUT, &format!("/chatgroups/{id}"), Some(&mem), Some(json!({"groupname":"x"}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, _) = server.call(Method::GET, &format!("/chatgroups/{id}"), Some(&mem), None).await;
        assert_eq!(status, 200);
        let (status, _) = server.admin(Method::POST, &format!("/chatgroups/{id}/enable"), None).await;
        assert_eq!(status, 200);

        // Dissolve: the owner only; every member receives destroy; the group is gone.
        let (status, _) = server.call(Method::DELETE, &format!("/chatgroups/{id}"), Some(&adm), None).await;
        assert_eq!(status, 403);
        let mem = server.login("mem").await;
        let (status, body) = server.call(Method::DELETE, &format!("/chatgroups/{id}"), Some(&mem), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"success":true,"groupid":id})));
        for user in ["adm", "mem"] {
            assert!(server.events_of(user, &id).await.contains(&"destroy:mem>".to_owned()), "{user}");
        }
        assert!(!server.events_of("own", &id).await.iter().any(|e| e.starts_with("destroy")), "own had left");
        let (status, _) = server.admin(Method::GET, &format!("/chatgroups/{id}"), None).await;
        assert_eq!(status, 404);
    });
}

#[tokio::test]
async fn lists_are_newest_first_with_cursors_and_private_groups_stay_private() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["o", "viewer"]).await;
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(server.group("o", &[], json!({"groupname": format!("g{i}"), "public": i % 2 == 0})).await);
        }
        let newest_first: Vec<String> = created.iter().rev().cloned().collect();

        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) = server.admin(Method::GET, &format!("/chatgroups?limit=2&cursor={cursor}"), None).await;
            assert_eq!(status, 200, "{body}");
            for group in body["data"].as_array().unwrap() {
                assert_eq!(group["type"], "group");
                assert!(group["lastModified"].is_string());
                seen.push(group["groupid"].as_str().unwrap().to_owned());
            }
            match body["cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, newest_first);

        let viewer = server.login("viewer").await;
        let (status, body) = server.call(Method::GET, "/publicchatgroups?limit=10", Some(&viewer), None).await;
        assert_eq!(status, 200, "{body}");
        let public: Vec<&str> = body["data"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap()).collect();
        assert_eq!(public, [created[4].as_str(), created[2].as_str(), created[0].as_str()]);
        // A user token may not list every group.
        let (status, _) = server.call(Method::GET, "/chatgroups", Some(&viewer), None).await;
        assert_eq!(status, 403);

        // The owner's joined groups: newest joined first, both list calls.
        let o = server.login("o").await;
        let (status, body) = server.call(Method::GET, "/chatgroups/user/o?pagenum=0&pagesize=3", Some(&o), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 5);
        assert!(body["uri"].is_string());
        let joined: Vec<&str> =
            body["entities"].as_array().unwrap().iter().map(|g| g["groupId"].as_str().unwrap()).collect();
        assert_eq!(joined, [created[4].as_str(), created[3].as_str(), created[2].as_str()]);
        assert_eq!(body["entities"][0]["permission"], "owner");
        let (_, body) = server.call(Method::GET, "/chatgroups/user/o/joined_count", Some(&o), None).await;
        assert_eq!(body["data"], 5);
        let (_, body) = server.call(Method::GET, "/users/o/joined_chatgroups", Some(&o), None).await;
        assert_eq!(body["count"], 5);
        assert_eq!(body["data"][0]["groupid"], created[4].as_str());
        assert_eq!(body["data"][0]["name"], "g4");
        let (status, _) = server.call(Method::GET, "/users/o/joined_chatgroups", Some(&viewer), None).await;
        assert_eq!(status, 403, "only oneself");

        let (_, body) =
            server.call(Method::GET, &format!("/chatgroups/{}/user/o/is_joined", created[0]), Some(&o), None).await;
        assert_eq!(body["data"], true);
        let (_, body) =
            server.admin(Method::GET, &format!("/chatgroups/{}/user/viewer/is_joined", created[0]), None).await;
        assert_eq!(body["data"], false);
    });
}

#[tokio::test]
async fn member_lists_are_newest_joined_first() {
    on_every_backend!(|server: TestServer| async move {
        let users: Vec<String> = (0..25).map(|i| format!("u{i:02}")).collect();
        let refs: Vec<&str> = users.iter().map(String::as_str).collect();
        server.users(&refs).await;
        let id = server.group("u00", &[], json!({})).await;
        for user in &users[1..] {
            let (status, body) = server.admin(Method::POST, &format!("/chatgroups/{id}/users/{user}"), None).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["action"], "add_member");
        }
        let expected: Vec<String> = users.iter().rev().cloned().collect();
        let member_name = |a: &Value| a["member"].as_str().or(a["owner"].as_str()).unwrap().to_owned();

        // pagenum/pagesize (from 1).
        let mut paged = Vec::new();
        for page in 1..=3 {
            let (status, body) =
                server.admin(Method::GET, &format!("/chatgroups/{id}/users?pagenum={page}&pagesize=10"), None).await;
            assert_eq!(status, 200, "{body}");
            paged.extend(body["data"].as_array().unwrap().iter().map(member_name));
        }
        assert_eq!(paged, expected);
        // easemob-websdk 4.21.1 adds version=v3 to pagenum/pagesize: still pages.
        let (status, body) =
            server.admin(Method::GET, &format!("/chatgroups/{id}/users?version=v3&pagenum=2&pagesize=10"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"].as_array().unwrap().iter().map(member_name).collect::<Vec<_>>(), expected[10..20]);
        // The owner is shown as owner.
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}/users?pagenum=3&pagesize=10"), None).await;
        assert_eq!(body["data"].as_array().unwrap().last().unwrap()["owner"], "u00");

        // limit/cursor.
        let mut cursored = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) = server
                .admin(Method::GET, &format!("/chatgroups/{id}/users?limit=7&cursor={cursor}&joined_time=true"), None)
                .await;
            assert_eq!(status, 200, "{body}");
            cursored.extend(body["data"].as_array().unwrap().iter().map(member_name));
            match body["cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(cursored, expected);

        // Outsiders may not read the member list.
        server.users(&["outsider"]).await;
        let outsider = server.login("outsider").await;
        let (status, body) = server.call(Method::GET, &format!("/chatgroups/{id}/users"), Some(&outsider), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
    });
}

#[tokio::test]
async fn adding_and_removing_members_reports_each_user_and_notifies_the_right_people() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "a", "b", "c", "d"]).await;
        let id = server.group("own", &["a"], json!({"maxusers": 4})).await;

        let (status, body) = server
            .admin(
                Method::POST,
                &format!("/chatgroups/{id}/users"),
                Some(json!({"usernames":["b","a","ghost","c","d"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        // a is already in, ghost does not exist, d does not fit (maxusers 4).
        assert_eq!(names(&body["data"]["newmembers"]), ["b", "c"]);
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}"), None).await;
        assert_eq!(body["data"][0]["affiliations_count"], 4);

        // The added user gets directJoined; the others memberPresence; nobody gets their own.
        assert!(server.events_of("b", &id).await.contains(&"directJoined:admin>b".to_owned()));
        assert!(!server.events_of("b", &id).await.contains(&"memberPresence:b>b".to_owned()));
        assert!(server.events_of("a", &id).await.contains(&"memberPresence:b>b".to_owned()));
        assert!(server.events_of("own", &id).await.contains(&"memberPresence:c>c".to_owned()));

        // A single add of an existing member is an error.
        let (status, body) = server.admin(Method::POST, &format!("/chatgroups/{id}/users/a"), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));

        // Remove several: the owner cannot be removed; each gets a result.
        let (status, body) = server.admin(Method::DELETE, &format!("/chatgroups/{id}/users/b,own,zed"), None).await;
        assert_eq!(status, 200, "{body}");
        let results = body["data"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!((results[0]["user"].as_str(), results[0]["result"].as_bool()), (Some("b"), Some(true)));
        assert_eq!(results[1]["result"], false);
        assert_eq!(results[1]["reason"], "Forbidden operation on group owner!");
        assert_eq!(results[2]["result"], false);
        // removeMember to the removed user; memberAbsence to the others.
        assert!(server.events_of("b", &id).await.contains(&"removeMember:admin>b".to_owned()));
        assert!(server.events_of("a", &id).await.contains(&"memberAbsence:b>b".to_owned()));
        // Single remove answers an object.
        let (status, body) = server.admin(Method::DELETE, &format!("/chatgroups/{id}/users/c"), None).await;
        assert_eq!(
            (status, body["data"]["result"].as_bool(), body["data"]["action"].as_str()),
            (200, Some(true), Some("remove_member"))
        );
        let (status, body) = server.admin(Method::DELETE, &format!("/chatgroups/{id}/users/c"), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        // More than 60 at once is refused.
        let many: Vec<String> = (0..61).map(|i| format!("x{i}")).collect();
        let (status, _) =
            server.admin(Method::POST, &format!("/chatgroups/{id}/users"), Some(json!({"usernames": many}))).await;
        assert_eq!(status, 400);
    });
}

#[tokio::test]
async fn admins_follow_the_role_rules() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "a1", "a2", "m"]).await;
        let id = server.group("own", &["a1", "a2", "m"], json!({})).await;
        let own = server.login("own").await;
        let a1 = server.login("a1").await;

        // Only the owner appoints admins.
        let (status, _) = server
            .call(Method::POST, &format!("/chatgroups/{id}/admin"), Some(&a1), Some(json!({"newadmin":"m"})))
            .await;
        assert_eq!(status, 403);
        for admin in ["a1", "a2"] {
            let (status, body) = server
                .call(Method::POST, &format!("/chatgroups/{id}/admin"), Some(&own), Some(json!({"newadmin": admin})))
                .await;
            assert_eq!((status, &body["data"]), (200, &json!({"result":"success","newadmin":admin})));
        }
        let (status, _) = server
            .call(Method::POST, &format!("/chatgroups/{id}/admin"), Some(&own), Some(json!({"newadmin":"a1"})))
            .await;
        assert_eq!(status, 403, "already an admin");
        let (_, body) = server.call(Method::GET, &format!("/chatgroups/{id}/admin"), Some(&a1), None).await;
        let mut admins = names(&body["data"]);
        admins.sort();
        assert_eq!(admins, ["a1", "a2"]);
        assert_eq!(body["count"], 2);
        // setAdmin reaches the owner, the target and the other admins; not plain members.
        assert!(server.events_of("a1", &id).await.contains(&"setAdmin:own>a2".to_owned()));
        assert!(server.events_of("own", &id).await.contains(&"setAdmin:own>a2".to_owned()));
        assert!(server.events_of("a2", &id).await.contains(&"setAdmin:own>a2".to_owned()));
        assert!(!server.events_of("m", &id).await.iter().any(|e| e.starts_with("setAdmin")));

        // Admins act on members, not on the owner or other admins.
        let (status, _) = server.call(Method::DELETE, &format!("/chatgroups/{id}/users/own"), Some(&a1), None).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::DELETE, &format!("/chatgroups/{id}/users/a2"), Some(&a1), None).await;
        assert_eq!(status, 403);
        let (status, _) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/mute"),
                Some(&a1),
                Some(json!({"usernames":["a2"],"mute_duration":1000})),
            )
            .await;
        assert_eq!(status, 403);
        // The owner removes an admin.
        let (status, body) = server.call(Method::DELETE, &format!("/chatgroups/{id}/admin/a2"), Some(&own), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"result":"success","oldadmin":"a2"})));
        let (status, _) = server.call(Method::DELETE, &format!("/chatgroups/{id}/users/a2"), Some(&a1), None).await;
        assert_eq!(status, 200, "a2 is a plain member now");
        // The owner cannot quit.
        let (status, _) = server.call(Method::DELETE, &format!("/chatgroups/{id}/quit"), Some(&own), None).await;
        assert_eq!(status, 403);
    });
}

#[tokio::test]
async fn blocklist_mute_mute_all_and_allowlist() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "adm", "m1", "m2", "m3", "stranger"]).await;
        let id = server.group("own", &["adm", "m1", "m2", "m3"], json!({})).await;
        server.admin(Method::POST, &format!("/chatgroups/{id}/admin"), Some(json!({"newadmin":"adm"}))).await;
        let adm = server.login("adm").await;
        let m1 = server.login("m1").await;

        // Block: a member is removed; the owner can't be blocked; the list is for managers.
        let (status, body) =
            server.call(Method::POST, &format!("/chatgroups/{id}/blocks/users/m1"), Some(&adm), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["action"], "add_blocks");
        let (status, _) =
            server.call(Method::POST, &format!("/chatgroups/{id}/blocks/users/own"), Some(&adm), None).await;
        assert_eq!(status, 403);
        assert!(server.events_of("m1", &id).await.contains(&"removeMember:adm>m1".to_owned()));
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}/user/m1/is_joined"), None).await;
        assert_eq!(body["data"], false);
        // m1 lost access: their token reads nothing of the group; they can't be re-added.
        let (status, _) = server.call(Method::GET, &format!("/chatgroups/{id}/users"), Some(&m1), None).await;
        assert_eq!(status, 403);
        let (status, _) = server.admin(Method::POST, &format!("/chatgroups/{id}/users/m1"), None).await;
        assert_eq!(status, 403);
        // Outsiders may be blocked pre-emptively, in a batch with per-user results.
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/blocks/users"),
                Some(&adm),
                Some(json!({"usernames":["stranger","adm"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["result"], true);
        assert_eq!(body["data"][1]["result"], false, "an admin can't block another admin");
        let m2 = server.login("m2").await;
        let (status, _) = server.call(Method::GET, &format!("/chatgroups/{id}/blocks/users"), Some(&m2), None).await;
        assert_eq!(status, 403);
        let (_, body) = server.call(Method::GET, &format!("/chatgroups/{id}/blocks/users"), Some(&adm), None).await;
        let mut blocked = names(&body["data"]);
        blocked.sort();
        assert_eq!(blocked, ["m1", "stranger"]);
        // Unblock: the user gets unblockMember and may be added again.
        let (status, body) =
            server.call(Method::DELETE, &format!("/chatgroups/{id}/blocks/users/m1"), Some(&adm), None).await;
        assert_eq!((status, body["data"]["action"].as_str()), (200, Some("remove_blocks")));
        assert!(server.events_of("m1", &id).await.contains(&"unblockMember:adm>m1".to_owned()));
        let (status, _) = server.admin(Method::POST, &format!("/chatgroups/{id}/users/m1"), None).await;
        assert_eq!(status, 200);

        // Mute with a duration, and for ever; the list shows expiries; managers only.
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/mute"),
                Some(&adm),
                Some(json!({"usernames":["m2"],"mute_duration":60000})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["result"], true);
        assert!(body["data"][0]["expire"].as_i64().unwrap() > 1_700_000_000_000);
        let (_, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/mute"),
                Some(&adm),
                Some(json!({"usernames":["m3"],"mute_duration":-1})),
            )
            .await;
        assert_eq!(body["data"][0]["expire"], -1);
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/mute"),
                Some(&adm),
                Some(json!({"usernames":["m3"],"mute_duration":0})),
            )
            .await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));
        let (_, body) = server.call(Method::GET, &format!("/chatgroups/{id}/mute"), Some(&adm), None).await;
        let mut muted: Vec<String> =
            body["data"].as_array().unwrap().iter().map(|m| m["user"].as_str().unwrap().to_owned()).collect();
        muted.sort();
        assert_eq!(muted, ["m2", "m3"]);
        let (status, _) = server.call(Method::GET, &format!("/chatgroups/{id}/mute"), Some(&m2), None).await;
        assert_eq!(status, 403);
        let (_, body) = server.call(Method::GET, &format!("/sdk/chatgroups/{id}/mute/m2"), Some(&m2), None).await;
        assert_eq!(body["data"], true);
        // muteMember reaches the target, owner and admins, not the actor or others.
        assert!(server.events_of("m2", &id).await.iter().any(|e| e.starts_with("muteMember:adm>m2")));
        assert!(server.events_of("own", &id).await.iter().any(|e| e.starts_with("muteMember:adm>m2")));
        assert!(!server.events_of("adm", &id).await.iter().any(|e| e.starts_with("muteMember")));
        assert!(!server.events_of("m3", &id).await.iter().any(|e| e.starts_with("muteMember:adm>m2")));
        let (status, body) = server.call(Method::DELETE, &format!("/chatgroups/{id}/mute/m2"), Some(&adm), None).await;
        assert_eq!((status, body["data"][0]["result"].as_bool()), (200, Some(true)));
        let (_, body) = server.call(Method::GET, &format!("/sdk/chatgroups/{id}/mute/m2"), Some(&m2), None).await;
        assert_eq!(body["data"], false);

        // Mute all: to everyone but the actor.
        let (status, body) = server.call(Method::POST, &format!("/chatgroups/{id}/ban"), Some(&adm), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"mute":true})));
        assert!(server.events_of("m2", &id).await.contains(&"muteAllMembers:adm>".to_owned()));
        assert!(!server.events_of("adm", &id).await.contains(&"muteAllMembers:adm>".to_owned()));
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{id}"), None).await;
        assert_eq!(body["data"][0]["mute"], true);
        let (status, _) = server.call(Method::POST, &format!("/chatgroups/{id}/ban"), Some(&m2), None).await;
        assert_eq!(status, 403);
        let (status, body) = server.call(Method::DELETE, &format!("/chatgroups/{id}/ban"), Some(&adm), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"mute":false})));

        // Allowlist: managers change and read it; the target may ask about themself.
        let (status, body) =
            server.call(Method::POST, &format!("/chatgroups/{id}/white/users/m2"), Some(&adm), None).await;
        assert_eq!((status, body["data"]["action"].as_str()), (200, Some("add_user_whitelist")));
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/white/users"),
                Some(&adm),
                Some(json!({"usernames":["m3","stranger"]})),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            (body["data"][0]["result"].as_bool(), body["data"][1]["result"].as_bool()),
            (Some(true), Some(false))
        );
        let (_, body) = server.call(Method::GET, &format!("/chatgroups/{id}/white/users"), Some(&adm), None).await;
        let mut allowed = names(&body["data"]);
        allowed.sort();
        assert_eq!(allowed, ["m2", "m3"]);
        let (status, _) = server.call(Method::GET, &format!("/chatgroups/{id}/white/users"), Some(&m2), None).await;
        assert_eq!(status, 403);
        let (_, body) = server.call(Method::GET, &format!("/chatgroups/{id}/white/users/m2"), Some(&m2), None).await;
        assert_eq!(body["data"], true);
        assert!(server.events_of("m2", &id).await.contains(&"addUserToAllowlist:adm>m2".to_owned()));
        let (status, body) =
            server.call(Method::DELETE, &format!("/chatgroups/{id}/white/users/m2,m3"), Some(&adm), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        let (_, body) = server.call(Method::GET, &format!("/chatgroups/{id}/white/users"), Some(&adm), None).await;
        assert_eq!(body["count"], 0);
    });
}

#[tokio::test]
async fn a_refused_request_changes_nothing() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "m"]).await;
        let id = server.group("own", &["m"], json!({})).await;
        let app = server.state.app("qun", "test").await.unwrap().unwrap();
        let group_id = qun_core::GroupId::parse(&id).unwrap();
        let before = server.state.store.group_snapshot(app.id, group_id, &[], 0).await.unwrap().unwrap().group;
        let m = server.login("m").await;
        for (method, path, body) in [
            (Method::PUT, format!("/chatgroups/{id}"), Some(json!({"groupname":"x"}))),
            (Method::POST, format!("/chatgroups/{id}/ban"), None),
            (Method::POST, format!("/chatgroups/{id}/admin"), Some(json!({"newadmin":"m"}))),
            (Method::DELETE, format!("/chatgroups/{id}/users/own"), None),
            (Method::DELETE, format!("/chatgroups/{id}"), None),
        ] {
            let (status, reply) = server.call(method, &path, Some(&m), body).await;
            assert_eq!(status, 403, "{path}: {reply}");
        }
        let after = server.state.store.group_snapshot(app.id, group_id, &[], 0).await.unwrap().unwrap().group;
        assert_eq!(before, after, "no refused request may change the group");
        assert_eq!(server.events_of("own", &id).await, ["create:own>"]);
    });
}

#[tokio::test]
async fn blocking_drops_pending_applications_and_invitations() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["own", "applicant", "invitee"]).await;
        let id = server.group("own", &[], json!({"membersonly": true})).await;
        let applicant = server.login("applicant").await;
        let (status, body) = server
            .call(Method::POST, &format!("/chatgroups/{id}/apply"), Some(&applicant), Some(json!({"message":"hi"})))
            .await;
        assert_eq!(status, 200, "{body}");
        let own = server.login("own").await;
        let (status, _) = server
            .call(Method::POST, &format!("/chatgroups/{id}/invite"), Some(&own), Some(json!({"usernames":["invitee"]})))
            .await;
        assert_eq!(status, 200);
        for user in ["applicant", "invitee"] {
            let (status, _) = server.admin(Method::POST, &format!("/chatgroups/{id}/blocks/users/{user}"), None).await;
            assert_eq!(status, 200);
            let (status, _) =
                server.admin(Method::DELETE, &format!("/chatgroups/{id}/blocks/users/{user}"), None).await;
            assert_eq!(status, 200);
        }
        // The old application and invitation are gone: nothing to approve or accept.
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/apply_verify"),
                Some(&own),
                Some(json!({"applicant":"applicant","verifyResult":true})),
            )
            .await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
        let invitee = server.login("invitee").await;
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/chatgroups/{id}/invite_verify"),
                Some(&invitee),
                Some(json!({"invitee":"invitee","verifyResult":true})),
            )
            .await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
    });
}

#[tokio::test]
async fn a_user_belongs_to_at_most_the_plans_number_of_groups() {
    for backend in crate::harness::backends() {
        let server = TestServer::start_with(backend, |config| config.plan = qun_core::Plan::Free).await;
        server.users(&["ann", "ben"]).await;
        let create =
            |owner: &str, members: &[&str]| json!({"groupname":"g","public":true,"owner":owner,"members":members});
        // The free plan: 100 groups per user, owned ones included.
        for _ in 0..100 {
            let (status, body) = server.admin(Method::POST, "/chatgroups", Some(create("ann", &[]))).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body) = server.admin(Method::POST, "/chatgroups", Some(create("ann", &[]))).await;
        assert_eq!(error_of(status, &body), (403, "exceed_limit".into()));
        assert_eq!(body["error_description"], "user ann has joined too many groups!");
        // Nobody can make her a member of one more: at creation, or added later.
        let (status, body) = server.admin(Method::POST, "/chatgroups", Some(create("ben", &["ann"]))).await;
        assert_eq!(error_of(status, &body), (403, "exceed_limit".into()));
        let (status, body) = server.admin(Method::POST, "/chatgroups", Some(create("ben", &[]))).await;
        assert_eq!(status, 200, "{body}");
        let group = body["data"]["groupid"].as_str().unwrap().to_owned();
        let (status, body) = server.admin(Method::POST, &format!("/chatgroups/{group}/users/ann"), None).await;
        assert_eq!(error_of(status, &body), (403, "exceed_limit".into()));
        // Nothing changed: she is in 100 groups, ben's group has ben alone.
        let ann = server.login("ann").await;
        let (_, body) = server.call(Method::GET, "/chatgroups/user/ann/joined_count", Some(&ann), None).await;
        assert_eq!(body["data"], 100, "{body}");
        let (_, body) = server.admin(Method::GET, &format!("/chatgroups/{group}/users"), None).await;
        assert_eq!(body["data"].as_array().map(Vec::len), Some(1), "{body}");
    }
}
