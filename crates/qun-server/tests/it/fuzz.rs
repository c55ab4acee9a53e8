//! Fuzzing what the network can send: msync frames (before and after login) and REST bodies
//! and query strings, mutated from a corpus of valid ones, against the real server.
//!
//! A seeded mutation fuzzer on the stable toolchain: valid inputs are taken apart and mutated at
//! every layer (the outer `MSync` frame, its payload, a `Meta`'s payload, JSON) — bits flipped,
//! bytes overwritten, inserted, deleted, truncated, chunks duplicated, huge varint lengths
//! claimed, two inputs spliced. It fails when anything panics in the server (a panic hook counts
//! them), when a REST call answers 5xx, or when the server is no longer healthy and able to
//! deliver a message afterwards.
//!
//! `QUN_FUZZ_CASES` (default 300 per target) sets the number of cases, `QUN_FUZZ_SECONDS` runs
//! each target for that long instead, and `QUN_FUZZ_SEED` replays a seed (the failing seed is
//! printed). The documented long run: `QUN_FUZZ_SECONDS=600 cargo test -p qun-server --test it
//! fuzz -- --nocapture`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use qun_client::frames::{self, LoginFrame, RoomPresence, Target};
use qun_proto::msync::{self, MSync, Message as _, Meta};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::{Device, TestServer};

/// Panics anywhere in this process since the hook was installed.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

/// How long or how many cases each target runs, and from which seed.
struct Budget {
    cases: usize,
    until: Option<Instant>,
    seed: u64,
}

impl Budget {
    fn from_env() -> Budget {
        let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        Budget {
            cases: number("QUN_FUZZ_CASES").unwrap_or(300) as usize,
            until: number("QUN_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s)),
            seed: number("QUN_FUZZ_SEED").unwrap_or_else(|| rand::rng().random()),
        }
    }

    fn more(&self, done: usize) -> bool {
        match self.until {
            Some(until) => Instant::now() < until,
            None => done < self.cases,
        }
    }
}

/// One random change of `input` (see the module docs).
fn mutate(rng: &mut StdRng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..9) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = *[0x00, 0x7f, 0x80, 0xff, rng.random()].get(rng.random_range(0..5)).unwrap_or(&0);
            }
            2 => {
                let i = rng.random_range(0..=len);
                let extra: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                out.splice(i..i, extra);
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let end = (i + rng.random_range(1..=8)).min(len);
                out.drain(i..end);
            }
            4 if len > 0 => out.truncate(rng.random_range(0..len)),
            5 if len > 1 => {
                let i = rng.random_range(0..len);
                let end = (i + rng.random_range(1..=32)).min(len);
                let chunk = out[i..end].to_vec();
                out.splice(i..i, chunk);
            }
            // A length or number as large as a varint can say.
            6 => {
                let i = rng.random_range(0..=len);
                out.splice(i..i, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
            }
            7 if !corpus.is_empty() => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    out
}

/// A mutated frame: sometimes the outer bytes, sometimes the payload inside a valid frame, and
/// sometimes a meta's payload inside a valid meta inside a valid frame.
fn mutated_frame(rng: &mut StdRng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let seed = &corpus[rng.random_range(0..corpus.len())];
    let Ok(mut frame) = MSync::decode(seed.as_slice()) else { return mutate(rng, seed, corpus) };
    match rng.random_range(0..3) {
        0 => mutate(rng, seed, corpus),
        1 => {
            let payload = frame.payload.clone().unwrap_or_default();
            frame.payload = Some(mutate(rng, &payload, &[]).into());
            frame.encode_to_vec()
        }
        _ => {
            // CommSyncUL { meta: Meta { payload } }: mutate the innermost payload.
            let payload = frame.payload.clone().unwrap_or_default();
            match msync::CommSyncUl::decode(payload.as_ref()) {
                Ok(mut sync) if sync.meta.is_some() => {
                    let meta = sync.meta.as_mut().expect("checked");
                    let inner = meta.payload.clone().unwrap_or_default();
                    meta.payload = Some(mutate(rng, &inner, &[]).into());
                    frame.payload = Some(sync.encode_to_vec().into());
                    frame.encode_to_vec()
                }
                _ => mutate(rng, seed, corpus),
            }
        }
    }
}

/// Valid uplink frames of `user`: login, unread, pulls, sends of every kind, a room join, a
/// receipt, a logout.
fn frame_corpus(user: &str, token: &str, group: &str, room: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let app_key = "qun#test";
    let login = LoginFrame {
        app_key: app_key.into(),
        user: user.into(),
        token: token.into(),
        device_uuid: format!("{user}-fuzz"),
        device_name: "webim".into(),
        resource: format!("{user}-fuzz"),
        version: "1.4.0".into(),
        session_id: "fuzz".into(),
    };
    let send = |target: Target, text: &str| {
        let body = frames::text_body(user, &target, text, vec![frames::ext::int("n", 1)]);
        frames::send_meta(frames::message_meta(app_key, user, frames::next_meta_id(), &target, body))
    };
    let receipt = {
        let target = Target::User("bob".into());
        let mut body = frames::message_body(user, &target);
        body.set_type(msync::pb::message_body::Type::ReadAck);
        body.ack_message_id = Some(12345);
        frames::send_meta(frames::message_meta(app_key, user, frames::next_meta_id(), &target, body))
    };
    let join = frames::send_meta(frames::room_presence_meta(
        app_key,
        user,
        frames::next_meta_id(),
        room,
        RoomPresence::Join { leave_others: false, ext: "x" },
    ));
    let corpus = vec![
        frames::provision(&login),
        frames::unread(),
        frames::pull(&msync::Jid::group(app_key, group), None),
        frames::pull(&msync::Jid::user(app_key, "bob"), Some(1)),
        send(Target::Group(group.into()), "to the group"),
        send(Target::User("bob".into()), "to bob"),
        send(Target::Room(room.into()), "to the room"),
        receipt,
        join,
        frames::send_meta(Meta { id: Some(1), ..Default::default() }),
        frames::logout(&login),
    ];
    let corpus: Vec<Vec<u8>> = corpus.into_iter().map(|frame: Bytes| frame.to_vec()).collect();
    (corpus[0].clone(), corpus)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer) -> Socket {
    let url = format!("ws://{}/websocket", server.address);
    tokio_tungstenite::connect_async(url).await.expect("websocket").0
}

/// Sends `frame`, then reads what comes back for a moment. False when the server closed.
async fn exchange(socket: &mut Socket, frame: Vec<u8>) -> bool {
    if socket.send(WsMessage::Binary(frame.into())).await.is_err() {
        return false;
    }
    loop {
        match tokio::time::timeout(Duration::from_millis(20), socket.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(WsMessage::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return false,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The server still works: healthy, and a message reaches a member of a new group. (Fresh
/// users: what the fuzz did to ann and bob — thousands of groups made, mutes — is not the
/// question here.)
async fn still_serving(server: &TestServer) {
    let health = server.client.get(server.url("//health")).send().await.expect("health");
    assert_eq!(health.status(), 200);
    server.users(&["after1", "after2"]).await;
    let group = server.group("after1", &["after2"], json!({})).await;
    let sender = Device::connect(server, "after1").await;
    let mut receiver = Device::connect(server, "after2").await;
    sender.connection.send_group_text(&group, "after the fuzz", Vec::new()).await.expect("send");
    assert_eq!(receiver.texts(1).await, ["after the fuzz"]);
}

async fn fuzz_server() -> (TestServer, String, String) {
    count_panics();
    let server = TestServer::start(crate::harness::backends()[0]).await;
    server.users(&["ann", "bob"]).await;
    let group = server.group("ann", &["bob"], json!({})).await;
    let (status, body) = server
        .admin(
            Method::POST,
            "/chatrooms",
            Some(json!({"name": "r", "description": "d", "owner": "ann", "members": ["bob"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let room = body["data"]["id"].as_str().expect("room id").to_owned();
    (server, group, room)
}

#[tokio::test]
async fn msync_frames_from_the_network_never_crash_or_wedge_the_server() {
    let (server, group, room) = fuzz_server().await;
    let token = server.login("ann").await;
    let (login, corpus) = frame_corpus("ann", &token, &group, &room);
    let budget = Budget::from_env();
    let mut rng = StdRng::seed_from_u64(budget.seed);
    println!("msync fuzz seed {} (QUN_FUZZ_SEED to replay)", budget.seed);
    let panics_before = PANICS.load(Ordering::SeqCst);
    let (mut cases, mut logged_in) = (0, None::<Socket>);
    while budget.more(cases) {
        cases += 1;
        if rng.random_bool(0.2) {
            // Before login: the login decoder gets the mutated frame.
            let mut socket = connect(&server).await;
            exchange(&mut socket, mutated_frame(&mut rng, &corpus)).await;
            continue;
        }
        let mut socket = match logged_in.take() {
            Some(socket) => socket,
            None => {
                let mut socket = connect(&server).await;
                assert!(exchange(&mut socket, login.clone()).await, "a valid login is answered");
                socket
            }
        };
        if exchange(&mut socket, mutated_frame(&mut rng, &corpus)).await {
            logged_in = Some(socket);
        }
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), panics_before, "a panic with seed {}", budget.seed);
    println!("msync fuzz: {cases} cases");
    still_serving(&server).await;
}

/// Valid REST calls (method, path, body) that take a body or a query.
fn rest_corpus(group: &str, room: &str) -> Vec<(Method, String, Value)> {
    vec![
        (Method::POST, "/users".into(), json!([{"username": "zed", "password": "pw-zed", "nickname": "z"}])),
        (Method::POST, "/token".into(), json!({"grant_type": "password", "username": "ann", "password": "pw-ann"})),
        (Method::PUT, "/users/ann".into(), json!({"nickname": "Ann"})),
        (Method::POST, "/chatgroups".into(), json!({"groupname": "g", "public": true, "owner": "ann", "maxusers": 50})),
        (Method::PUT, format!("/chatgroups/{group}"), json!({"groupname": "g2", "description": "d", "custom": "c"})),
        (Method::POST, format!("/chatgroups/{group}/users"), json!({"usernames": ["bob"]})),
        (Method::POST, format!("/chatgroups/{group}/mute"), json!({"usernames": ["bob"], "mute_duration": 1000})),
        (Method::POST, format!("/chatgroups/{group}/announcement"), json!({"announcement": "hi"})),
        (Method::PUT, format!("/metadata/chatgroup/{group}/user/bob"), json!({"metaData": {"nickname": "b"}})),
        (Method::POST, format!("/chatgroups/{group}/ban"), json!({})),
        (Method::POST, "/chatrooms".into(), json!({"name": "r", "description": "d", "owner": "ann", "maxusers": 100})),
        (Method::PUT, format!("/chatrooms/{room}"), json!({"name": "r2", "description": "d"})),
        (Method::POST, format!("/chatrooms/{room}/mute"), json!({"usernames": ["bob"], "mute_duration": 1000})),
        (
            Method::PUT,
            format!("/metadata/chatroom/{room}/user/ann"),
            json!({"metaData": {"k": "v"}, "autoDelete": "DELETE"}),
        ),
        (Method::PUT, format!("/chatrooms/{room}/delivery"), json!({"history_size": 5, "rate_limit_per_second": 10})),
        (
            Method::POST,
            "/messages/chatgroups".into(),
            json!({"from": "ann", "to": [group], "type": "txt", "body": {"msg": "m"}, "ext": {"a": 1}}),
        ),
        (
            Method::POST,
            "/messages/users".into(),
            json!({"from": "ann", "to": ["bob"], "type": "txt", "body": {"msg": "m"}}),
        ),
        (
            Method::POST,
            "/users/ann/messageroaming".into(),
            json!({"queue": format!("{group}@conference.easemob.com"), "start": -1, "pull_number": 10, "is_positive": false}),
        ),
        (Method::GET, format!("/chatgroups/{group}/users?pagenum=1&pagesize=10"), Value::Null),
        (Method::GET, format!("/chatrooms/{room}/users?pagenum=1&pagesize=10"), Value::Null),
        (Method::GET, "/chatgroups?limit=10&cursor=abc".into(), Value::Null),
    ]
}

#[tokio::test]
async fn rest_bodies_and_queries_from_the_network_never_answer_5xx() {
    let (server, group, room) = fuzz_server().await;
    let corpus = rest_corpus(&group, &room);
    let texts: Vec<Vec<u8>> = corpus.iter().map(|(_, _, body)| body.to_string().into_bytes()).collect();
    let budget = Budget::from_env();
    let mut rng = StdRng::seed_from_u64(budget.seed);
    println!("REST fuzz seed {} (QUN_FUZZ_SEED to replay)", budget.seed);
    let panics_before = PANICS.load(Ordering::SeqCst);
    let mut cases = 0;
    while budget.more(cases) {
        cases += 1;
        let (method, path, body) = &corpus[rng.random_range(0..corpus.len())];
        let (path, body) = if body.is_null() || rng.random_bool(0.3) {
            // The query string (and the path's ids) mutated; the body as it was.
            let mutated = mutate(&mut rng, path.as_bytes(), &[]);
            let path: String = String::from_utf8_lossy(&mutated)
                .chars()
                .filter(|c| !c.is_control() && *c != '#' && *c != ' ')
                .collect();
            (format!("/{}", path.trim_start_matches('/')), body.to_string().into_bytes())
        } else {
            (path.clone(), mutate(&mut rng, body.to_string().as_bytes(), &texts))
        };
        let url = format!("{}{}", server.url(""), path);
        let Ok(url) = reqwest::Url::parse(&url) else { continue };
        let response = server
            .client
            .request(method.clone(), url)
            .bearer_auth(&server.app_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        assert!(status < 500, "{method} {path} answered {status} (seed {})", budget.seed);
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), panics_before, "a panic with seed {}", budget.seed);
    println!("REST fuzz: {cases} cases");
    still_serving(&server).await;
}
