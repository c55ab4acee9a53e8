//! Chat files (`POST /chatfiles`, `GET /chatfiles/{uuid}`) on local storage, and the same on
//! an S3-compatible server when `QUN_TEST_S3_ENDPOINT` names one (`.ci/run` starts moto).

use std::io::Cursor;
use std::time::Duration;

use futures_util::TryStreamExt;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::{PATIENCE, TestServer, on_every_backend};

const TEN_MB: usize = 10 * 1024 * 1024;

/// A PNG of noise, `width` × `height` (noise, so it stays large enough to need a thumbnail).
fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        let v = x.wrapping_mul(2_654_435_761).wrapping_add(y.wrapping_mul(40_503)).to_le_bytes();
        image::Rgb([v[0], v[1], v[2]])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(pixels).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    png
}

/// Uploads `bytes` as the multipart part `file` (with `extra` parts and headers).
async fn upload_with(server: &TestServer, token: Option<&str>, form: Form, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = server.client.post(server.url("/chatfiles?chat-type=singleChat&chat-target=bob")).multipart(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("upload");
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.expect("reply")).unwrap_or(Value::Null))
}

fn file_part(bytes: Vec<u8>, name: &str, content_type: &str) -> Part {
    Part::bytes(bytes).file_name(name.to_owned()).mime_str(content_type).expect("mime")
}

/// Uploads as the SDK does (restricted) and returns `(uuid, share-secret)`.
async fn upload(server: &TestServer, token: &str, bytes: Vec<u8>, name: &str, content_type: &str) -> (String, String) {
    let form = Form::new().part("file", file_part(bytes, name, content_type));
    let (status, body) = upload_with(server, Some(token), form, &[("restrict-access", "true")]).await;
    assert_eq!(status, 200, "upload: {body}");
    let entity = &body["entities"][0];
    assert_eq!(entity["type"], "chatfile", "{body}");
    (entity["uuid"].as_str().expect("uuid").to_owned(), entity["share-secret"].as_str().expect("secret").to_owned())
}

/// A download: status, Content-Type, and the body (bytes, or the error's JSON as bytes).
async fn download(server: &TestServer, path_and_query: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let mut request = server.client.get(server.url(path_and_query));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("download");
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let declared_length = response.content_length();
    let bytes = response.bytes().await.expect("body").to_vec();
    if status == 200 {
        assert_eq!(declared_length, Some(bytes.len() as u64), "Content-Length is exact");
    }
    (status, content_type, bytes)
}

fn error_of(status: u16, body: &[u8]) -> (u16, String, String) {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    (
        status,
        json["error"].as_str().unwrap_or("").to_owned(),
        json["error_description"].as_str().unwrap_or("").to_owned(),
    )
}

/// Every chat file object the server holds.
async fn stored_objects(server: &TestServer) -> Vec<String> {
    let listed: Vec<object_store::ObjectMeta> =
        server.state.files.list(&object_store::path::Path::from("chatfiles")).try_collect().await.expect("listing");
    let mut names: Vec<String> = listed.iter().map(|object| object.location.to_string()).collect();
    names.sort();
    names
}

/// What a chat file does, whatever the storage: upload, download by header and by query, the
/// share secret, thumbnails, non-images, the app token, unknown files; and a group shared
/// file through the same storage.
async fn chat_files_round_trip(server: TestServer) {
    server.users(&["alice", "bob"]).await;
    let alice = server.login("alice").await;

    let png = noisy_png(400, 300);
    let (uuid, secret) = upload(&server, &alice, png.clone(), "cat.png", "image/png").await;
    let path = format!("/chatfiles/{uuid}");

    // The SDK's URL: secret and em-redirect in the query, no token.
    let (status, content_type, bytes) =
        download(&server, &format!("{path}?em-redirect=true&share-secret={secret}"), &[]).await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    assert!(bytes == png, "the downloaded bytes are the uploaded ones");
    // The SDK's downloadFile: secret and token in headers.
    let bob = server.login("bob").await;
    let (status, _, bytes) =
        download(&server, &path, &[("share-secret", &secret), ("authorization", &format!("Bearer {bob}"))]).await;
    assert!(status == 200 && bytes == png, "{status}");

    // Restricted: no secret, or a wrong one, is the SDK's "no permission".
    for headers in [vec![], vec![("share-secret", "wrong")]] {
        let (status, _, body) = download(&server, &path, &headers).await;
        assert_eq!(error_of(status, &body), (403, "forbidden_op".into(), "chatfile no permission".into()));
    }

    // The thumbnail: scaled into 170 × 170, by header or by the SDK's query.
    for (query, headers) in [("", vec![("thumbnail", "true")]), ("&thumbnail=true", vec![])] {
        let mut headers = headers;
        headers.push(("share-secret", &secret));
        let (status, content_type, bytes) =
            download(&server, &format!("{path}?em-redirect=true{query}"), &headers).await;
        assert_eq!((status, content_type.as_str()), (200, "image/png"));
        let thumbnail = image::load_from_memory(&bytes).expect("the thumbnail is an image");
        assert_eq!((thumbnail.width(), thumbnail.height()), (170, 128), "{query}");
    }

    // Thumbnail sides as the SDK sends them (form fields) and as documented (headers).
    let form = Form::new()
        .part("file", file_part(png.clone(), "cat.png", "image/png"))
        .text("thumbnail-width", "60")
        .text("thumbnail-height", "500");
    let (status, body) =
        upload_with(&server, Some(&alice), form, &[("restrict-access", "true"), ("thumbnail-width", "300")]).await;
    assert_eq!(status, 200, "{body}");
    let (small, small_secret) =
        (body["entities"][0]["uuid"].as_str().unwrap(), body["entities"][0]["share-secret"].as_str().unwrap());
    let (_, _, bytes) =
        download(&server, &format!("/chatfiles/{small}?thumbnail=true&share-secret={small_secret}"), &[]).await;
    let thumbnail = image::load_from_memory(&bytes).expect("thumbnail");
    assert_eq!((thumbnail.width(), thumbnail.height()), (60, 45), "the field wins over the header");

    // Not an image: kept with its type; its "thumbnail" is the file itself. Without
    // restrict-access, no secret is needed. The app token may upload too.
    let text = b"minutes of the meeting".to_vec();
    let form = Form::new().part("file", file_part(text.clone(), "notes.txt", "text/plain"));
    let (status, body) = upload_with(&server, None, form.text("x", "y"), &[]).await;
    assert_eq!(status, 401, "anonymous: {body}");
    let form = Form::new().part("file", file_part(text.clone(), "notes.txt", "text/plain"));
    let (status, body) = upload_with(&server, Some(&server.app_token), form, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/chatfiles");
    let notes = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let (status, content_type, bytes) = download(&server, &format!("/chatfiles/{notes}?thumbnail=true"), &[]).await;
    assert_eq!((status, content_type.as_str(), bytes.as_slice()), (200, "text/plain", text.as_slice()));

    // No declared type: sniffed for images, octet-stream otherwise.
    let form = Form::new().part("file", Part::bytes(png.clone()).file_name("x"));
    let (_, body) = upload_with(&server, Some(&alice), form, &[]).await;
    let sniffed = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let (_, content_type, _) = download(&server, &format!("/chatfiles/{sniffed}"), &[]).await;
    assert_eq!(content_type, "image/png");

    // Unknown and malformed ids.
    for unknown in ["/chatfiles/0c0f5f3a-e66b-41e3-8863-f1c202c2b3ae", "/chatfiles/..%2F..%2Fqun.db", "/chatfiles/x"] {
        let (status, _, body) = download(&server, unknown, &[]).await;
        assert_eq!(error_of(status, &body).0, 404, "{unknown}");
        assert_eq!(error_of(status, &body).1, "entity_not_found", "{unknown}");
    }

    // A group shared file keeps its REST behaviour on the same storage.
    let group = server.group("alice", &["bob"], json!({})).await;
    let form = Form::new().part("file", Part::bytes(b"shared bytes".to_vec()).file_name("s.txt"));
    let response = server
        .client
        .post(server.url(&format!("/chatgroups/{group}/share_files")))
        .bearer_auth(&alice)
        .multipart(form)
        .send()
        .await
        .expect("share upload");
    let body: Value = response.json().await.expect("share reply");
    let file_id = body["data"]["file_id"].as_str().expect("file_id").to_owned();
    let (status, _, bytes) = download(
        &server,
        &format!("/chatgroups/{group}/share_files/{file_id}"),
        &[("authorization", &format!("Bearer {bob}"))],
    )
    .await;
    assert_eq!((status, bytes.as_slice()), (200, &b"shared bytes"[..]));
    let (status, body) =
        server.call(Method::DELETE, &format!("/chatgroups/{group}/share_files/{file_id}"), Some(&alice), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = download(
        &server,
        &format!("/chatgroups/{group}/share_files/{file_id}"),
        &[("authorization", &format!("Bearer {bob}"))],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn chat_files_round_trip_on_local_storage() {
    on_every_backend!(chat_files_round_trip);
}

#[tokio::test]
async fn chat_files_round_trip_on_s3() {
    let Ok(endpoint) = std::env::var("QUN_TEST_S3_ENDPOINT") else {
        println!(
            "NOTICE: QUN_TEST_S3_ENDPOINT is not set: the S3 test is SKIPPED (e.g. QUN_TEST_S3_ENDPOINT=http://127.0.0.1:5055 with moto_server -p 5055)"
        );
        return;
    };
    let bucket = format!("qun-test-{}", rand_suffix());
    // moto creates a bucket on an unsigned PUT; object_store cannot create buckets.
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.expect("create bucket");
    assert!(created.status().is_success(), "creating bucket {bucket}: {}", created.status());
    let server = TestServer::start_with("sqlite", |config| {
        config.storage = qun_server::config::StorageConfig::S3(qun_server::config::S3Config {
            bucket: bucket.clone(),
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".to_owned(),
            access_key_id: Some("test".to_owned()),
            secret_access_key: Some("test".to_owned()),
            allow_http: true,
        });
    })
    .await;
    chat_files_round_trip(server).await;
    // The objects really are in the bucket (listed through S3, not the local disk).
    let listing = reqwest::Client::new().get(format!("{endpoint}/{bucket}?list-type=2")).send().await.expect("list");
    let xml = listing.text().await.expect("listing body");
    assert!(xml.contains("chatfiles/"), "{xml}");
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}-{nanos}", std::process::id())
}

#[tokio::test]
async fn oversize_and_malformed_uploads_are_refused_and_leave_nothing() {
    let server = TestServer::start("sqlite").await;
    server.users(&["alice"]).await;
    let alice = server.login("alice").await;

    let form = Form::new().part("file", file_part(vec![7u8; TEN_MB + 1], "big.bin", "application/zip"));
    let (status, body) = upload_with(&server, Some(&alice), form, &[("restrict-access", "true")]).await;
    assert_eq!((status, &body["error"]), (413, &json!("request_entity_too_large")), "{body}");
    // Far over: cut off by the body limit, still our 413.
    let form = Form::new().part("file", file_part(vec![7u8; TEN_MB + 200_000], "big.bin", "application/zip"));
    let (status, body) = upload_with(&server, Some(&alice), form, &[]).await;
    assert_eq!((status, &body["error"]), (413, &json!("request_entity_too_large")), "{body}");
    let form = Form::new().part("attachment", file_part(b"x".to_vec(), "a.txt", "text/plain"));
    let (status, body) = upload_with(&server, Some(&alice), form, &[]).await;
    assert_eq!((status, &body["error"]), (400, &json!("upload_error")), "{body}");
    let (status, body) = server.call(Method::POST, "/chatfiles", Some(&alice), Some(json!({"file": "x"}))).await;
    assert_eq!((status, &body["error"]), (400, &json!("upload_error")), "{body}");
    let form = Form::new().part("file", file_part(b"x".to_vec(), "a.txt", "text/plain"));
    let (status, _) = upload_with(&server, Some("not-a-token"), form, &[]).await;
    assert_eq!(status, 401);
    assert!(stored_objects(&server).await.is_empty(), "refused uploads store nothing");

    // Exactly 10 MB is accepted; a decodable image that fits the box has no thumbnail object.
    let form = Form::new().part("file", file_part(vec![9u8; TEN_MB], "limit.bin", "application/zip"));
    let (status, body) = upload_with(&server, Some(&alice), form, &[]).await;
    assert_eq!(status, 200, "{body}");
    let uuid = body["entities"][0]["uuid"].as_str().unwrap().to_owned();
    let (status, content_type, bytes) = download(&server, &format!("/chatfiles/{uuid}"), &[]).await;
    assert_eq!((status, content_type.as_str(), bytes.len()), (200, "application/zip", TEN_MB));
    let (_, _) = (upload(&server, &alice, noisy_png(100, 100), "small.png", "image/png").await, ());
    let objects = stored_objects(&server).await;
    assert_eq!(objects.iter().filter(|name| name.ends_with("/file")).count(), 2, "{objects:?}");
    assert_eq!(objects.iter().filter(|name| name.ends_with("/meta.json")).count(), 2, "{objects:?}");
    assert!(!objects.iter().any(|name| name.ends_with("/thumbnail")), "{objects:?}");
}

#[tokio::test]
async fn expired_files_are_refused_then_swept_away() {
    let server =
        TestServer::start_with("sqlite", |config| config.chatfile_retention = Some(Duration::from_secs(2))).await;
    server.users(&["alice"]).await;
    let alice = server.login("alice").await;
    let (uuid, secret) = upload(&server, &alice, noisy_png(400, 300), "cat.png", "image/png").await;
    assert_eq!(stored_objects(&server).await.len(), 3, "file, thumbnail and metadata");
    let path = format!("/chatfiles/{uuid}?share-secret={secret}");
    assert_eq!(download(&server, &path, &[]).await.0, 200);

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut refused_as_expired = false;
    loop {
        let (status, _, body) = download(&server, &path, &[]).await;
        let error = error_of(status, &body);
        refused_as_expired |= error.1 == "file_expired";
        if refused_as_expired && stored_objects(&server).await.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still there: {error:?} {:?}", stored_objects(&server).await);
        assert!(status == 200 || status == 404, "{error:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Swept: now it is simply not there.
    let (status, _, body) = download(&server, &path, &[]).await;
    assert_eq!(error_of(status, &body).1, "entity_not_found");
}

/// Agora: recalling a message deletes its attachment. Only the sender's own upload goes: a
/// message can name anyone's file, and a recall must not delete another user's.
#[tokio::test]
async fn a_recalled_message_takes_its_senders_attachment_along_and_nobody_elses() {
    use qun_client::pb::message_body::{Type, content};
    use qun_client::{MessageBody, Target, pb};

    let server = TestServer::start(crate::harness::backends()[0]).await;
    server.users(&["ann", "ben"]).await;
    let (ann_token, ben_token) = (server.login("ann").await, server.login("ben").await);
    let (anns, anns_secret) = upload(&server, &ann_token, b"ann's file".to_vec(), "a.txt", "text/plain").await;
    let (bens, bens_secret) = upload(&server, &ben_token, b"ben's file".to_vec(), "b.txt", "text/plain").await;
    let url = |uuid: &str| format!("http://{}/qun/test/chatfiles/{uuid}", server.address);
    let file = |uuid: &str| pb::message_body::Content {
        r#type: Some(content::Type::File as i32),
        remote_path: Some(url(uuid)),
        ..Default::default()
    };
    let ann = crate::harness::Device::connect(&server, "ann").await;
    let to_ben = Target::User("ben".into());
    let body = MessageBody { contents: vec![file(&anns), file(&bens)], ..Default::default() };
    let sent = ann.connection.send(&to_ben, body).await.expect("file message");
    let recall =
        MessageBody { r#type: Some(Type::Recall as i32), ack_message_id: Some(sent.server_id), ..Default::default() };
    ann.connection.send(&to_ben, recall).await.expect("recall");

    let secret = |s: &str| format!("share-secret={s}");
    let (status, _, _) = download(&server, &format!("/chatfiles/{anns}?{}", secret(&anns_secret)), &[]).await;
    assert_eq!(status, 404, "the sender's attachment went with the message");
    let (status, _, bytes) = download(&server, &format!("/chatfiles/{bens}?{}", secret(&bens_secret)), &[]).await;
    assert_eq!((status, bytes.as_slice()), (200, b"ben's file".as_slice()), "another user's file stays");
}
