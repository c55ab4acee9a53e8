//! A group's announcement, shared files and member attributes over REST, with who may change
//! them, their limits, and the events members receive.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{TestServer, error_of, on_every_backend};

const TEN_MB: usize = 10 * 1024 * 1024;

/// Posts a multipart form to the group's shared files, as the SDK does.
async fn post_form(server: &TestServer, token: Option<&str>, group: &str, form: Form) -> (u16, Value) {
    let mut request = server
        .client
        .post(server.url(&format!("/chatgroups/{group}/share_files")))
        .header("restrict-access", "true")
        .multipart(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("upload request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("upload reply");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn upload(
    server: &TestServer,
    token: Option<&str>,
    group: &str,
    file_name: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(file_name.to_owned()));
    post_form(server, token, group, form).await
}

/// Downloads a shared file: status, Content-Type, Content-Disposition and the bytes.
async fn download(server: &TestServer, token: &str, group: &str, file_id: &str) -> (u16, String, String, Vec<u8>) {
    let response = server
        .client
        .get(server.url(&format!("/chatgroups/{group}/share_files/{file_id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("download request");
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    let bytes = response.bytes().await.expect("download body").to_vec();
    (status, content_type, disposition, bytes)
}

/// The names of the files on disk for the group (the server's data dir).
async fn stored_files(server: &TestServer, group: &str) -> Vec<String> {
    let app = server.state.app("qun", "test").await.expect("store").expect("app");
    let directory = server.state.files_dir().join(app.id.to_string()).join(group);
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(directory) {
        for entry in entries {
            names.push(entry.expect("dir entry").file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

fn file_ids(listing: &Value) -> Vec<String> {
    let mut ids: Vec<String> = listing["data"]
        .as_array()
        .expect("data[]")
        .iter()
        .map(|f| f["file_id"].as_str().expect("file_id").to_owned())
        .collect();
    ids.sort();
    ids
}

async fn promote(server: &TestServer, group: &str, user: &str) {
    let (status, body) =
        server.admin(Method::POST, &format!("/chatgroups/{group}/admin"), Some(json!({"newadmin": user}))).await;
    assert_eq!(status, 200, "promote {user}: {body}");
}

// ------------------------------------------------------------------------ announcement

#[tokio::test]
async fn announcement_is_set_by_managers_and_read_by_members() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "adm", "m1", "outsider"]).await;
        let group = server.group("owner", &["adm", "m1"], json!({})).await;
        promote(&server, &group, "adm").await;
        let path = format!("/chatgroups/{group}/announcement");
        let (adm, m1, outsider) = (server.login("adm").await, server.login("m1").await, server.login("outsider").await);

        // A new group has none.
        let (status, body) = server.call(Method::GET, &path, Some(&m1), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"announcement": ""})), "{body}");

        let (status, body) =
            server.call(Method::POST, &path, Some(&adm), Some(json!({"announcement": "standup at 10"}))).await;
        assert_eq!((status, &body["data"]), (200, &json!({"id": group, "result": true})), "{body}");
        let (status, body) = server.call(Method::GET, &path, Some(&m1), None).await;
        assert_eq!((status, body["data"]["announcement"].as_str()), (200, Some("standup at 10")));

        // A plain member may read but not set; an outsider may do neither.
        let (status, body) = server.call(Method::POST, &path, Some(&m1), Some(json!({"announcement": "mine"}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, _) = server.call(Method::GET, &path, Some(&outsider), None).await;
        assert_eq!(status, 403);
        let (status, _) = server.call(Method::POST, &path, Some(&outsider), Some(json!({"announcement": "x"}))).await;
        assert_eq!(status, 403);

        // 512 characters (not bytes) are the limit.
        let (status, body) = server.admin(Method::POST, &path, Some(json!({"announcement": "é".repeat(512)}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server.admin(Method::POST, &path, Some(json!({"announcement": "x".repeat(513)}))).await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        let (status, body) = server.admin(Method::POST, &path, Some(json!({}))).await;
        assert_eq!(error_of(status, &body), (400, "invalid_parameter".into()));
        let (_, body) = server.admin(Method::GET, &path, None).await;
        assert_eq!(body["data"]["announcement"], "é".repeat(512), "refused changes change nothing");

        // The app administrator clears it.
        let (status, _) = server.admin(Method::POST, &path, Some(json!({"announcement": ""}))).await;
        assert_eq!(status, 200);
        let (_, body) = server.call(Method::GET, &path, Some(&m1), None).await;
        assert_eq!(body["data"]["announcement"], "");

        // Every member, the actor included, hears of each change; refused ones made no event.
        for member in ["owner", "adm", "m1"] {
            let changes: Vec<String> = server
                .events_of(member, &group)
                .await
                .into_iter()
                .filter(|event| event.contains("Announcement"))
                .collect();
            assert_eq!(
                changes,
                ["updateAnnouncement:adm>", "updateAnnouncement:admin>", "deleteAnnouncement:admin>"],
                "{member}"
            );
        }
        assert!(server.events_of("outsider", &group).await.is_empty());
    });
}

// ------------------------------------------------------------------------ shared files

#[tokio::test]
async fn shared_files_are_uploaded_listed_downloaded_and_deleted() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "adm", "m1", "m2", "outsider"]).await;
        let group = server.group("owner", &["adm", "m1", "m2"], json!({})).await;
        promote(&server, &group, "adm").await;
        let (adm, m1, m2, outsider) = (
            server.login("adm").await,
            server.login("m1").await,
            server.login("m2").await,
            server.login("outsider").await,
        );
        let files_path = format!("/chatgroups/{group}/share_files");

        // A member uploads; the reply points at the download URL on this host.
        let (status, body) = upload(&server, Some(&m1), &group, "notes é.txt", b"hello world".to_vec()).await;
        assert_eq!(status, 200, "{body}");
        let uploaded = &body["data"];
        let notes_id = uploaded["file_id"].as_str().expect("file_id").to_owned();
        assert_eq!(uploaded["file_name"], "notes é.txt");
        assert_eq!(uploaded["file_size"], 11);
        assert_eq!(uploaded["group_id"], group.as_str());
        assert!(uploaded["created"].is_i64());
        assert_eq!(
            uploaded["file_url"],
            format!("http://{}/qun/test/chatgroups/{group}/share_files/{notes_id}", server.address),
        );

        // Binary content round-trips byte for byte.
        let binary: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (status, body) = upload(&server, Some(&m2), &group, "data.bin", binary.clone()).await;
        assert_eq!(status, 200, "{body}");
        let binary_id = body["data"]["file_id"].as_str().expect("file_id").to_owned();

        let (status, listing) = server.call(Method::GET, &files_path, Some(&m2), None).await;
        assert_eq!(status, 200, "{listing}");
        assert_eq!(file_ids(&listing), {
            let mut ids = vec![notes_id.clone(), binary_id.clone()];
            ids.sort();
            ids
        });
        let notes = listing["data"].as_array().unwrap().iter().find(|f| f["file_id"] == notes_id.as_str()).unwrap();
        assert_eq!(
            (&notes["file_name"], &notes["file_owner"], &notes["file_size"]),
            (&json!("notes é.txt"), &json!("m1"), &json!(11))
        );
        // Paging.
        let (status, page) =
            server.call(Method::GET, &format!("{files_path}?pagenum=2&pagesize=1"), Some(&m2), None).await;
        assert_eq!((status, page["data"].as_array().map(Vec::len)), (200, Some(1)));
        let (status, page) =
            server.call(Method::GET, &format!("{files_path}?pagenum=3&pagesize=1"), Some(&m2), None).await;
        assert_eq!((status, page["data"].as_array().map(Vec::len)), (200, Some(0)));
        let (status, _) = server.call(Method::GET, &format!("{files_path}?pagesize=1001"), Some(&m2), None).await;
        assert_eq!(status, 400);

        let (status, content_type, disposition, bytes) = download(&server, &m2, &group, &binary_id).await;
        assert_eq!((status, content_type.as_str()), (200, "application/octet-stream"));
        assert!(disposition.contains("filename=\"data.bin\""), "{disposition}");
        assert!(bytes == binary, "downloaded bytes differ from the uploaded ones");
        let (status, _, disposition, bytes) = download(&server, &m1, &group, &notes_id).await;
        assert_eq!((status, bytes.as_slice()), (200, &b"hello world"[..]));
        assert!(disposition.contains("filename*=UTF-8''notes%20%C3%A9.txt"), "{disposition}");

        // Outsiders see nothing; unknown files are 404.
        let (status, _) = server.call(Method::GET, &files_path, Some(&outsider), None).await;
        assert_eq!(status, 403);
        let (status, _, _, _) = download(&server, &outsider, &group, &notes_id).await;
        assert_eq!(status, 403);
        let (status, _, _, _) = download(&server, &m1, &group, "12345").await;
        assert_eq!(status, 404);
        let (status, _, _, _) = download(&server, &m1, &group, "..%2F..%2Fqun.db").await;
        assert_eq!(status, 404);

        // A member may not delete another's file; they may delete their own.
        let notes_path = format!("{files_path}/{notes_id}");
        let (status, body) = server.call(Method::DELETE, &notes_path, Some(&m2), None).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) = server.call(Method::DELETE, &notes_path, Some(&m1), None).await;
        assert_eq!(
            (status, &body["data"]),
            (200, &json!({"group_id": group, "file_id": notes_id, "result": true})),
            "{body}"
        );
        let (status, _, _, _) = download(&server, &m1, &group, &notes_id).await;
        assert_eq!(status, 404);
        let (status, _) = server.call(Method::DELETE, &notes_path, Some(&m1), None).await;
        assert_eq!(status, 404);
        assert_eq!(stored_files(&server, &group).await, [binary_id.as_str()], "the deleted file's bytes are gone");

        // An admin may delete anyone's file, and so may the app administrator.
        let (status, body) = server.call(Method::DELETE, &format!("{files_path}/{binary_id}"), Some(&adm), None).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = upload(&server, Some(&m1), &group, "third.txt", b"3".to_vec()).await;
        assert_eq!(status, 200, "{body}");
        let third_id = body["data"]["file_id"].as_str().expect("file_id").to_owned();
        let (status, body) = server.admin(Method::DELETE, &format!("{files_path}/{third_id}"), None).await;
        assert_eq!(status, 200, "{body}");
        let (_, listing) = server.call(Method::GET, &files_path, Some(&m1), None).await;
        assert_eq!(listing["data"], json!([]));
        assert!(stored_files(&server, &group).await.is_empty());

        // Every member hears of every change.
        let file_events: Vec<String> =
            server.events_of("owner", &group).await.into_iter().filter(|e| e.contains("File:")).collect();
        assert_eq!(
            file_events,
            [
                "uploadFile:m1>",
                "uploadFile:m2>",
                "deleteFile:m1>",
                "deleteFile:adm>",
                "uploadFile:m1>",
                "deleteFile:admin>"
            ]
        );
        assert_eq!(server.events_of("m2", &group).await.iter().filter(|e| e.contains("File:")).count(), 6);
    });
}

#[tokio::test]
async fn upload_event_reason_describes_the_file() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1"]).await;
        let group = server.group("owner", &["m1"], json!({})).await;
        let m1 = server.login("m1").await;
        let (status, body) = upload(&server, Some(&m1), &group, "a.txt", b"abc".to_vec()).await;
        assert_eq!(status, 200, "{body}");
        let uploaded = &body["data"];

        let app = server.state.app("qun", "test").await.expect("store").expect("app");
        let group_id = qun_core::GroupId::parse(&group).expect("group id");
        let timeline = server.state.store.group_timeline(app.id, group_id, 0, 1000).await.expect("timeline");
        let reason = timeline
            .iter()
            .find_map(|entry| match &entry.item {
                qun_store::TimelineItem::Event(event) if event.operation == qun_core::GroupOperation::UploadFile => {
                    Some(event.reason.clone())
                }
                _ => None,
            })
            .expect("an uploadFile event");
        let reason: Value = serde_json::from_str(&reason).expect("the reason is JSON");
        assert_eq!(
            reason,
            json!({"data": {"file_id": uploaded["file_id"], "file_name": "a.txt", "file_owner": "m1",
                "file_size": 3, "created": uploaded["created"]}})
        );
    });
}

#[tokio::test]
async fn every_failed_upload_answers_400() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1", "outsider"]).await;
        let group = server.group("owner", &["m1"], json!({})).await;
        let (m1, outsider) = (server.login("m1").await, server.login("outsider").await);
        let refused =
            |status: u16, body: &Value| assert_eq!(error_of(status, body), (400, "upload_error".into()), "{body}");

        let (status, body) = upload(&server, Some(&outsider), &group, "a.txt", b"x".to_vec()).await;
        refused(status, &body);
        let (status, body) = upload(&server, None, &group, "a.txt", b"x".to_vec()).await;
        refused(status, &body);
        let (status, body) = upload(&server, Some("not-a-token"), &group, "a.txt", b"x".to_vec()).await;
        refused(status, &body);
        let (status, body) = upload(&server, Some(&m1), "424242", "a.txt", b"x".to_vec()).await;
        refused(status, &body);
        // No part named `file`.
        let form = Form::new().part("attachment", Part::bytes(b"x".to_vec()).file_name("a.txt"));
        let (status, body) = post_form(&server, Some(&m1), &group, form).await;
        refused(status, &body);
        // Not multipart at all.
        let (status, body) =
            server.call(Method::POST, &format!("/chatgroups/{group}/share_files"), Some(&m1), Some(json!({}))).await;
        refused(status, &body);
        // One byte over 10 MB.
        let (status, body) = upload(&server, Some(&m1), &group, "big.bin", vec![7u8; TEN_MB + 1]).await;
        refused(status, &body);
        // The same after another part.
        let form =
            Form::new().text("note", "first").part("file", Part::bytes(vec![7u8; TEN_MB + 1]).file_name("big.bin"));
        let (status, body) = post_form(&server, Some(&m1), &group, form).await;
        refused(status, &body);
        // An outsider sending a large body still reads our 400 (not a reset connection).
        let (status, body) = upload(&server, Some(&outsider), &group, "big.bin", vec![7u8; TEN_MB]).await;
        refused(status, &body);

        // None of that left a file behind, on disk or in the list.
        assert!(stored_files(&server, &group).await.is_empty());
        let (_, listing) = server.call(Method::GET, &format!("/chatgroups/{group}/share_files"), Some(&m1), None).await;
        assert_eq!(listing["data"], json!([]));

        // Exactly 10 MB is accepted, after a part that is not the file.
        let form =
            Form::new().text("note", "first").part("file", Part::bytes(vec![9u8; TEN_MB]).file_name("limit.bin"));
        let (status, body) = post_form(&server, Some(&m1), &group, form).await;
        assert_eq!((status, &body["data"]["file_size"]), (200, &json!(TEN_MB)), "{body}");
        let file_id = body["data"]["file_id"].as_str().expect("file_id").to_owned();
        assert_eq!(stored_files(&server, &group).await, [file_id.as_str()], "no temporary file is left");
        let (status, _, _, bytes) = download(&server, &m1, &group, &file_id).await;
        assert_eq!((status, bytes.len()), (200, TEN_MB));
        assert!(bytes.iter().all(|&b| b == 9));
    });
}

// ------------------------------------------------------------------------ member attributes

fn attributes_path(group: &str, user: &str) -> String {
    format!("/metadata/chatgroup/{group}/user/{user}")
}

#[tokio::test]
async fn member_attributes_are_set_by_the_member_or_the_owner() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "adm", "m1", "m2", "outsider"]).await;
        let group = server.group("owner", &["adm", "m1", "m2"], json!({})).await;
        promote(&server, &group, "adm").await;
        let (owner, adm, m1, m2, outsider) = (
            server.login("owner").await,
            server.login("adm").await,
            server.login("m1").await,
            server.login("m2").await,
            server.login("outsider").await,
        );

        // A member sets their own; the reply echoes what was set.
        let (status, body) = server
            .call(
                Method::PUT,
                &attributes_path(&group, "m1"),
                Some(&m1),
                Some(json!({"metaData": {"nickname": "Ann", "role": "dev"}})),
            )
            .await;
        assert_eq!((status, &body["data"]), (200, &json!({"nickname": "Ann", "role": "dev"})), "{body}");
        let (status, body) = server.call(Method::GET, &attributes_path(&group, "m1"), Some(&m2), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({"nickname": "Ann", "role": "dev"})));

        // The SDK's path; "" deletes a key.
        let (status, body) = server
            .call(
                Method::PUT,
                &format!("/sdk{}", attributes_path(&group, "m1")),
                Some(&m1),
                Some(json!({"metaData": {"role": "", "team": "x"}})),
            )
            .await;
        assert_eq!((status, &body["data"]), (200, &json!({"role": "", "team": "x"})), "{body}");
        let (_, body) = server.call(Method::GET, &attributes_path(&group, "m1"), Some(&m1), None).await;
        assert_eq!(body["data"], json!({"nickname": "Ann", "team": "x"}));

        // Nobody else's, except for the owner (not an admin) and the app administrator.
        let m2_path = attributes_path(&group, "m2");
        let (status, body) =
            server.call(Method::PUT, &m2_path, Some(&m1), Some(json!({"metaData": {"nickname": "Bob"}}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) =
            server.call(Method::PUT, &m2_path, Some(&adm), Some(json!({"metaData": {"nickname": "Bob"}}))).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, body) =
            server.call(Method::PUT, &m2_path, Some(&owner), Some(json!({"metaData": {"nickname": "Bob"}}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server.admin(Method::PUT, &m2_path, Some(json!({"metaData": {"title": "lead"}}))).await;
        assert_eq!(status, 200, "{body}");
        let (_, body) = server.call(Method::GET, &m2_path, Some(&m1), None).await;
        assert_eq!(body["data"], json!({"nickname": "Bob", "title": "lead"}));

        // Outsiders: they have no attributes to set and may not read.
        let (status, body) = server
            .call(
                Method::PUT,
                &attributes_path(&group, "outsider"),
                Some(&outsider),
                Some(json!({"metaData": {"a": "b"}})),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = server
            .call(
                Method::PUT,
                &attributes_path(&group, "outsider"),
                Some(&owner),
                Some(json!({"metaData": {"a": "b"}})),
            )
            .await;
        assert_eq!(error_of(status, &body), (400, "metadata_error".into()));
        let (status, _) = server.call(Method::GET, &m2_path, Some(&outsider), None).await;
        assert_eq!(status, 403);
        let (status, body) = server.call(Method::GET, &attributes_path(&group, "owner"), Some(&m1), None).await;
        assert_eq!((status, &body["data"]), (200, &json!({})));

        // By keys: one entry per target; no properties means all keys.
        let get_path = format!("/metadata/chatgroup/{group}/get");
        let (status, body) = server
            .call(
                Method::POST,
                &get_path,
                Some(&m1),
                Some(json!({"targets": ["m1", "m2", "owner"], "properties": ["nickname"]})),
            )
            .await;
        assert_eq!(
            (status, &body["data"]),
            (200, &json!({"m1": {"nickname": "Ann"}, "m2": {"nickname": "Bob"}, "owner": {}})),
            "{body}"
        );
        let (status, body) = server
            .call(
                Method::POST,
                &format!("/sdk{get_path}"),
                Some(&m2),
                Some(json!({"targets": ["m2"], "properties": []})),
            )
            .await;
        assert_eq!((status, &body["data"]), (200, &json!({"m2": {"nickname": "Bob", "title": "lead"}})), "{body}");
        let eleven: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
        let (status, body) = server.call(Method::POST, &get_path, Some(&m1), Some(json!({"targets": eleven}))).await;
        assert_eq!(error_of(status, &body), (400, "metadata_error".into()));
        let (status, _) = server.call(Method::POST, &get_path, Some(&outsider), Some(json!({"targets": ["m1"]}))).await;
        assert_eq!(status, 403);

        // The other members hear of a change; the member it is about does not (their devices
        // learn of it another way).
        let updates = |events: Vec<String>| -> Vec<String> {
            events.into_iter().filter(|e| e.starts_with("memberAttributesUpdate")).collect()
        };
        assert_eq!(
            updates(server.events_of("m2", &group).await),
            ["memberAttributesUpdate:m1>m1", "memberAttributesUpdate:m1>m1"]
        );
        // m2's were set by the owner and by the app administrator: `from` is the operator.
        assert_eq!(
            updates(server.events_of("m1", &group).await),
            ["memberAttributesUpdate:owner>m2", "memberAttributesUpdate:admin>m2"]
        );
        assert_eq!(updates(server.events_of("owner", &group).await).len(), 4);
    });
}

#[tokio::test]
async fn member_attribute_limits_are_refused() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "m1"]).await;
        let group = server.group("owner", &["m1"], json!({})).await;
        let m1 = server.login("m1").await;
        let path = attributes_path(&group, "m1");
        let refused =
            |status: u16, body: &Value| assert_eq!(error_of(status, body), (400, "metadata_error".into()), "{body}");

        for metadata in [
            json!({"k".repeat(17): "v"}),
            json!({"with-dash": "v"}),
            json!({"": "v"}),
            json!({"k": "v".repeat(513)}),
            json!({}),
        ] {
            let (status, body) = server.call(Method::PUT, &path, Some(&m1), Some(json!({"metaData": metadata}))).await;
            refused(status, &body);
        }
        let (status, body) = server.call(Method::PUT, &path, Some(&m1), Some(json!({"other": {}}))).await;
        refused(status, &body);

        // 16-byte keys and 512-byte values are fine; 4,096 bytes in all are too, one more is not.
        let (status, body) = server
            .call(Method::PUT, &path, Some(&m1), Some(json!({"metaData": {"k".repeat(16): "v".repeat(512)}})))
            .await;
        assert_eq!(status, 200, "{body}");
        let full: serde_json::Map<String, Value> = (0..8).map(|i| (i.to_string(), json!("v".repeat(511)))).collect();
        let mut replace = full.clone();
        replace.insert("k".repeat(16), json!(""));
        let (status, body) = server.call(Method::PUT, &path, Some(&m1), Some(json!({"metaData": replace}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server.call(Method::PUT, &path, Some(&m1), Some(json!({"metaData": {"x": "y"}}))).await;
        refused(status, &body);
        let (_, body) = server.call(Method::GET, &path, Some(&m1), None).await;
        assert_eq!(body["data"], Value::Object(full), "a refused change changes nothing");
        // Freeing room makes it fit.
        let (status, body) =
            server.call(Method::PUT, &path, Some(&m1), Some(json!({"metaData": {"0": "", "x": "y"}}))).await;
        assert_eq!(status, 200, "{body}");
    });
}

#[tokio::test]
async fn member_attributes_batch_reports_users_outside_the_group() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["owner", "adm", "m1", "m2", "outsider"]).await;
        let group = server.group("owner", &["adm", "m1", "m2"], json!({})).await;
        promote(&server, &group, "adm").await;
        let (owner, adm, m1) = (server.login("owner").await, server.login("adm").await, server.login("m1").await);
        let path = format!("/metadata/chatgroup/{group}/users/batch");
        let batch = json!([
            {"username": "m1", "metadata": {"a": "1"}},
            {"username": "outsider", "metadata": {"a": "2"}},
            {"username": "no such user!", "metadata": {"a": "3"}},
            {"username": "m2", "metadata": {"b": "2"}},
        ]);

        let (status, body) = server.call(Method::PUT, &path, Some(&owner), Some(batch.clone())).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"],
            json!({
                "updateMetadataFailed:": [
                    {"username": "outsider", "metadata": {"a": "2"}},
                    {"username": "no such user!", "metadata": {"a": "3"}},
                ],
                "updateMetadataSucceeded:": [
                    {"username": "m1", "metadata": {"a": "1"}},
                    {"username": "m2", "metadata": {"b": "2"}},
                ],
            })
        );
        let (_, body) = server.call(Method::GET, &attributes_path(&group, "m1"), Some(&m1), None).await;
        assert_eq!(body["data"], json!({"a": "1"}));
        let (_, body) = server.admin(Method::GET, &attributes_path(&group, "outsider"), None).await;
        assert_eq!(body["data"], json!({}));
        let updates: Vec<String> = server
            .events_of("adm", &group)
            .await
            .into_iter()
            .filter(|e| e.starts_with("memberAttributesUpdate"))
            .collect();
        // The owner set them: the events say so (the SDK reports `from` as the operator).
        assert_eq!(updates, ["memberAttributesUpdate:owner>m1", "memberAttributesUpdate:owner>m2"]);

        // The owner and the app administrator only.
        let (status, body) = server.call(Method::PUT, &path, Some(&adm), Some(batch.clone())).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into()));
        let (status, _) = server.call(Method::PUT, &path, Some(&m1), Some(batch.clone())).await;
        assert_eq!(status, 403);
        let (status, body) =
            server.admin(Method::PUT, &path, Some(json!([{"username": "m1", "metadata": {"a": ""}}]))).await;
        assert_eq!(status, 200, "{body}");
        let (_, body) = server.call(Method::GET, &attributes_path(&group, "m1"), Some(&m1), None).await;
        assert_eq!(body["data"], json!({}));

        // More than 20 users, or one malformed key, refuse the whole batch.
        let too_many: Vec<Value> = (0..21).map(|_| json!({"username": "m1", "metadata": {"a": "1"}})).collect();
        let (status, body) = server.admin(Method::PUT, &path, Some(Value::Array(too_many))).await;
        assert_eq!(error_of(status, &body), (400, "metadata_error".into()));
        let (status, body) = server
            .admin(Method::PUT, &path, Some(json!([{"username": "m1", "metadata": {"ok": "1"}}, {"username": "m2", "metadata": {"bad key": "1"}}])))
            .await;
        assert_eq!(error_of(status, &body), (400, "metadata_error".into()));
        let (_, body) = server.call(Method::GET, &attributes_path(&group, "m1"), Some(&m1), None).await;
        assert_eq!(body["data"], json!({}), "a refused batch sets nothing");
    });
}
