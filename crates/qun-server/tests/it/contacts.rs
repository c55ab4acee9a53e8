//! Contacts, users' blocklists and user attributes end to end: the REST calls the SDK and the
//! app administrator make, the contact events stored for the other side, and the 1:1 checks
//! (a blocklisted sender, the contacts-only setting) on the websocket.

use std::time::Duration;

use qun_client::Incoming;
use qun_core::{ContactChange, PersonalItem, UserName};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Device, TestServer, error_of, on_every_backend, refusal};

/// The contact events stored for `user`, as (change, from, reason).
async fn contact_events(server: &TestServer, user: &str) -> Vec<(ContactChange, String, String)> {
    let app = server.state.app("qun", "test").await.expect("app").expect("the test app");
    let user = UserName::parse(user).expect("user");
    let events = server.state.store.user_events(app.id, &user, 0, 100).await.expect("user_events");
    events
        .into_iter()
        .filter_map(|stored| match stored.item {
            PersonalItem::Contact(event) => Some((event.contact_change, event.from.to_string(), event.reason)),
            _ => None,
        })
        .collect()
}

async fn names(server: &TestServer, path: &str, token: &str) -> Value {
    let (status, body) = server.call(Method::GET, path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["data"].clone()
}

#[tokio::test]
async fn requests_answers_remarks_and_deletion() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let (ann, ben, cat) = (server.login("ann").await, server.login("ben").await, server.login("cat").await);

        let (status, body) = server
            .call(
                Method::POST,
                "/users/ann/contacts/apply",
                Some(&ann),
                Some(json!({"usernames":["ben"],"reason":"hi"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(contact_events(&server, "ben").await, [(ContactChange::Invited, "ann".into(), "hi".into())]);
        // Only the path's own user (or the app) may ask; one cannot ask oneself.
        let (status, body) = server
            .call(Method::POST, "/users/ann/contacts/apply", Some(&ben), Some(json!({"usernames":["cat"]})))
            .await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = server
            .call(Method::POST, "/users/ann/contacts/apply", Some(&ann), Some(json!({"usernames":["ann"]})))
            .await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));

        // Accepting a request that was never made is refused; accepting ann's makes contacts.
        let (status, body) = server.call(Method::POST, "/users/ann/contacts/accept/users/cat", Some(&ann), None).await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
        let (status, body) = server.call(Method::POST, "/users/ben/contacts/accept/users/ann", Some(&ben), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            contact_events(&server, "ann").await,
            [
                (ContactChange::Accepted, "ben".into(), String::new()),
                (ContactChange::Added, "ben".into(), String::new())
            ]
        );
        assert_eq!(names(&server, "/users/ann/contacts/users", &ann).await, json!(["ben"]));
        assert_eq!(names(&server, "/users/ben/contacts/users", &ben).await, json!(["ann"]));
        // Asking a contact again is refused.
        let (status, body) = server
            .call(Method::POST, "/users/ann/contacts/apply", Some(&ann), Some(json!({"usernames":["ben"]})))
            .await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));

        // Remarks: the owner's only; on a stranger, the text the SDK matches.
        let (status, body) = server
            .call(Method::PUT, "/users/ann/contacts/users/ben", Some(&ann), Some(json!({"remark":"Benny"})))
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, body) =
            server.call(Method::GET, "/users/ann/contacts/users?needReturnRemark=true", Some(&ann), None).await;
        assert_eq!(body["entities"], json!([{"username":"ben","remark":"Benny"}]));
        let (status, body) =
            server.call(Method::PUT, "/users/ann/contacts/users/cat", Some(&ann), Some(json!({"remark":"x"}))).await;
        assert_eq!(status, 400);
        assert_eq!(body["error_description"], qun_proto::NOT_CONTACTS_REMARK);

        // Declining: the requester is told, nothing is added.
        server.call(Method::POST, "/users/cat/contacts/apply", Some(&cat), Some(json!({"usernames":["ann"]}))).await;
        let (status, _) = server.call(Method::POST, "/users/ann/contacts/decline/users/cat", Some(&ann), None).await;
        assert_eq!(status, 200);
        assert_eq!(contact_events(&server, "cat").await, [(ContactChange::Declined, "ann".into(), String::new())]);
        assert_eq!(names(&server, "/users/cat/contacts/users", &cat).await, json!([]));

        // The paged list, then deletion on both sides, told to the other.
        let (status, _) = server.admin(Method::POST, "/users/ann/contacts/users/cat", None).await;
        assert_eq!(status, 200);
        let (_, body) = server.call(Method::GET, "/users/ann/contacts?limit=1", Some(&ann), None).await;
        assert_eq!(body["data"], json!({"contacts":[{"username":"ben","remark":"Benny"}],"cursor":"ben"}));
        let (_, body) = server.call(Method::GET, "/users/ann/contacts?limit=1&cursor=ben", Some(&ann), None).await;
        assert_eq!(body["data"], json!({"contacts":[{"username":"cat","remark":""}],"cursor":""}));
        let (status, body) = server.call(Method::DELETE, "/users/ben/contacts/users/ann", Some(&ben), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["entities"][0]["username"], "ann");
        assert_eq!(names(&server, "/users/ann/contacts/users", &ann).await, json!(["cat"]));
        assert_eq!(
            contact_events(&server, "ann").await.last(),
            Some(&(ContactChange::Removed, "ben".into(), String::new()))
        );
        let (status, body) = server.call(Method::DELETE, "/users/ben/contacts/users/ann", Some(&ben), None).await;
        assert_eq!(error_of(status, &body), (400, "forbidden_op".into()));
    });
}

#[tokio::test]
async fn a_blocklisted_sender_is_refused_and_nothing_is_delivered() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let ann_token = server.login("ann").await;
        let mut ann = Device::connect(&server, "ann").await;
        let mut ben = Device::connect(&server, "ben").await;

        // The SDK's block call answers the blocked users; the admin's list pages by name.
        let (status, body) = server
            .call(Method::POST, "/sdk/user/ann/blocks", Some(&ann_token), Some(json!({"usernames":["ben"]})))
            .await;
        assert_eq!((status, &body["data"]), (200, &json!(["ben"])), "{body}");
        let (status, body) = server
            .call(Method::POST, "/sdk/user/ann/blocks", Some(&ann_token), Some(json!({"usernames":["nobody"]})))
            .await;
        assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()));
        let (_, body) = server.admin(Method::GET, "/users/ann/blocks/users", None).await;
        assert_eq!((&body["data"], &body["count"]), (&json!(["ben"]), &json!(1)));

        let refused = refusal(ben.connection.send_user_text("ann", "let me in", Vec::new()).await);
        assert_eq!(refused, (1, "blocked".to_owned()));
        // One way: ann still writes to ben.
        ann.connection.send_user_text("ben", "I may", Vec::new()).await.expect("send");
        assert_eq!(ben.texts(1).await, ["I may"]);
        let arrived = ann.drain(Duration::from_millis(500)).await;
        assert!(!arrived.iter().any(|item| matches!(item, Incoming::Message { .. })), "{arrived:?}");

        // Unblocked (the admin's call answers the user's entity), ben's messages go through.
        let (status, body) = server.admin(Method::DELETE, "/users/ann/blocks/users/ben", None).await;
        assert_eq!((status, &body["entities"][0]["username"]), (200, &json!("ben")));
        let (status, body) = server.admin(Method::DELETE, "/users/ann/blocks/users/ben", None).await;
        assert_eq!(error_of(status, &body), (404, "resource_not_found".into()));
        ben.connection.send_user_text("ann", "thanks", Vec::new()).await.expect("send");
        assert_eq!(ann.texts(1).await, ["thanks"]);
    });
}

#[tokio::test]
async fn contacts_only_chat_refuses_strangers_but_not_the_app() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben", "cat"]).await;
        let (status, body) = server.admin(Method::GET, "/settings/contacts", None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"contacts_only": false})), "off by default");
        let (status, _) = server.admin(Method::PUT, "/settings/contacts", Some(json!({"contacts_only": true}))).await;
        assert_eq!(status, 200);
        server.admin(Method::POST, "/users/ann/contacts/users/ben", None).await;
        let mut ann = Device::connect(&server, "ann").await;
        let cat = Device::connect(&server, "cat").await;

        let refused = refusal(cat.connection.send_user_text("ann", "hello?", Vec::new()).await);
        assert_eq!(refused, (1, "nonroster".to_owned()));
        let ben = Device::connect(&server, "ben").await;
        ben.connection.send_user_text("ann", "friend here", Vec::new()).await.expect("a contact may write");
        // The app administrator's REST sends pass.
        let (status, body) = server
            .admin(
                Method::POST,
                "/messages/users",
                Some(json!({"from":"cat","to":["ann"],"type":"txt","body":{"msg":"from the app"}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let mut texts = ann.texts(2).await;
        texts.sort();
        assert_eq!(texts, ["friend here", "from the app"]);
        // Only the app administrator reads or changes the setting.
        let token = server.login("ann").await;
        let (status, body) = server.call(Method::GET, "/settings/contacts", Some(&token), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
    });
}

#[tokio::test]
async fn user_attributes_are_form_encoded_merged_limited_and_read_by_anyone() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["ann", "ben"]).await;
        let (ann, ben) = (server.login("ann").await, server.login("ben").await);
        let put = |token: String, user: &'static str, form: &'static str| {
            let request = server
                .client
                .put(server.url(&format!("/metadata/user/{user}")))
                .bearer_auth(token)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form);
            async move {
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, body) = put(ann.clone(), "ann", "nickname=Ann+A.&avatarurl=https%3A%2F%2Fx%2Fa.png").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!({"nickname":"Ann A.","avatarurl":"https://x/a.png"}));
        let (_, body) = put(ann.clone(), "ann", "sign=hi").await;
        assert_eq!(body["data"], json!({"nickname":"Ann A.","avatarurl":"https://x/a.png","sign":"hi"}));

        // Only one's own; the app sets anyone's.
        let (status, body) = put(ben.clone(), "ann", "nickname=mallory").await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        // Over 2 KB in all: refused whole; a NUL: refused.
        let big: &'static str = Box::leak(format!("ext={}", "x".repeat(2048)).into_boxed_str());
        let (status, body) = put(ann.clone(), "ann", big).await;
        assert_eq!(error_of(status, &body), (400, "metadata_error".into()));
        let (status, body) = put(ann.clone(), "ann", "sign=a%00b").await;
        assert_eq!(error_of(status, &body), (400, "illegal_argument".into()));

        // Anyone reads; by keys, users without attributes left out.
        let (status, body) = server
            .call(
                Method::POST,
                "/metadata/user/get",
                Some(&ben),
                Some(json!({"targets":["ann","ben"],"properties":["nickname","sign"]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!({"ann":{"nickname":"Ann A.","sign":"hi"}}));
        let (_, body) = server.call(Method::GET, "/metadata/user/ann", Some(&ben), None).await;
        assert_eq!(body["data"]["sign"], "hi");
        let (status, body) = server.admin(Method::DELETE, "/metadata/user/ann", None).await;
        assert_eq!((status, &body["data"]), (200, &json!(true)));
        let (_, body) = server.call(Method::GET, "/metadata/user/ann", Some(&ben), None).await;
        assert_eq!(body["data"], json!({}));
        let (status, body) = server.call(Method::GET, "/metadata/user/nobody", Some(&ben), None).await;
        assert_eq!(error_of(status, &body), (404, "service_resource_not_found".into()));
    });
}
