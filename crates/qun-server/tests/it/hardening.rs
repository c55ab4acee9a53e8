//! Hardening (issue 13): slow and silent clients meet deadlines and connection caps, a stop
//! closes what is still open at the end of its grace, the login limiter counts before it
//! checks and per client address, and user tokens create groups at a bounded rate.
//!
//! Clients pick their loopback source address (127.0.0.x) to play distinct addresses. The
//! connection tests run on SQLite only: nothing in them touches the database.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::harness::{Device, TestServer, error_of, on_every_backend};

/// A TCP connection to `server` from the loopback address `from`.
async fn connect_from(from: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from.parse().expect("address"), 0)).expect("bind");
    socket.connect(server).await.expect("connect")
}

/// What the server did with `stream` within `within`: `Some(what it sent)` if it closed the
/// connection, `None` if the connection is still open.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// `GET /health` on a fresh connection from `from`, written by hand; the status line.
async fn health_from(from: &str, server: SocketAddr) -> String {
    let mut stream = connect_from(from, server).await;
    stream.write_all(b"GET /health HTTP/1.1\r\nhost: qun\r\nconnection: close\r\n\r\n").await.expect("write");
    let reply = closed_within(&mut stream, Duration::from_secs(5)).await.expect("the reply ends the connection");
    reply.lines().next().unwrap_or("").to_owned()
}

/// A refused connection is closed at once, with a 503 if the client reads it in time.
fn assert_refused(reply: Option<String>) {
    let reply = reply.expect("a connection above the cap is closed at once");
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 503"), "{reply}");
}

#[tokio::test]
async fn silent_clients_are_capped_per_address_and_cut_off_at_the_head_deadline() {
    let server = TestServer::start_with("sqlite", |config| {
        config.max_connections_per_ip = 3;
        config.request_head_timeout = Duration::from_secs(2);
    })
    .await;
    let address = server.address;
    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(connect_from("127.0.0.3", address).await);
    }
    // One that sends a header line every 300 ms: the deadline is for the whole head.
    let mut trickling = connect_from("127.0.0.3", address).await;
    let trickle = tokio::spawn(async move {
        trickling.write_all(b"GET /health HTTP/1.1\r\n").await.expect("request line");
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if trickling.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
        let reply = closed_within(&mut trickling, Duration::from_secs(1)).await;
        (reply, opened.elapsed())
    });

    // The fourth from that address is refused at once; another address is served.
    let mut fourth = connect_from("127.0.0.3", address).await;
    assert_refused(closed_within(&mut fourth, Duration::from_millis(500)).await);
    assert_eq!(health_from("127.0.0.4", address).await, "HTTP/1.1 200 OK");
    for stream in &mut silent {
        assert_eq!(closed_within(stream, Duration::from_millis(100)).await, None, "still open");
    }

    // A connection that closes frees its slot.
    drop(silent.pop());
    let freed = Instant::now() + Duration::from_secs(1);
    loop {
        let mut stream = connect_from("127.0.0.3", address).await;
        stream.write_all(b"GET /health HTTP/1.1\r\nhost: qun\r\nconnection: close\r\n\r\n").await.expect("write");
        let reply = closed_within(&mut stream, Duration::from_secs(5)).await.unwrap_or_default();
        if reply.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < freed, "the slot was not freed: {reply}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The silent and the trickling clients are cut off at the head deadline, not before.
    let mut last = silent.pop().expect("one left");
    assert_eq!(closed_within(&mut last, Duration::from_secs(3)).await, Some(String::new()));
    let held = opened.elapsed();
    assert!(held >= Duration::from_millis(1_500) && held < Duration::from_secs(4), "held {held:?}");
    let (reply, held) = trickle.await.expect("trickle");
    assert!(reply.is_some(), "the trickling client was not cut off");
    assert!(held >= Duration::from_millis(1_500) && held < Duration::from_secs(4), "held {held:?}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_cut_off() {
    let server = TestServer::start_with("sqlite", |config| {
        config.request_body_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = connect_from("127.0.0.1", server.address).await;
    let started = Instant::now();
    stream
        .write_all(
            b"POST /qun/test/token HTTP/1.1\r\nhost: qun\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"grant_type\":",
        )
        .await
        .expect("write");
    let reply = closed_within(&mut stream, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(reply.is_some(), "the connection is still open after {took:?}");
    assert!(took >= Duration::from_millis(800), "cut off after {took:?}, before the deadline");
    // Whatever it says, it is not a token.
    assert!(!reply.unwrap_or_default().contains("access_token"));
}

#[tokio::test]
async fn websockets_outlive_the_deadlines_hold_their_slots_and_keep_working_at_the_cap() {
    let server = TestServer::start_with("sqlite", |config| {
        config.max_connections_per_ip = 3;
        config.request_head_timeout = Duration::from_secs(1);
        config.request_body_timeout = Duration::from_secs(1);
    })
    .await;
    server.users(&["ann", "ben"]).await;
    let ann = Device::connect(&server, "ann").await;
    let mut ben = Device::connect(&server, "ben").await;
    // Past both deadlines: the REST client's idle connection is closed, the websockets stay.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    ann.connection.send_user_text("ben", "after the deadlines", Vec::new()).await.expect("send");
    assert_eq!(ben.texts(1).await, ["after the deadlines"]);

    // Two websockets and one silent connection fill the cap of 127.0.0.1.
    let _silent = connect_from("127.0.0.1", server.address).await;
    let mut refused = connect_from("127.0.0.1", server.address).await;
    assert_refused(closed_within(&mut refused, Duration::from_millis(500)).await);
    ann.connection.send_user_text("ben", "at the cap", Vec::new()).await.expect("send at the cap");
    assert_eq!(ben.texts(1).await, ["at the cap"]);

    // A websocket that closes frees its slot.
    ann.connection.close().await;
    drop(ann);
    let freed = Instant::now() + Duration::from_secs(2);
    while health_from("127.0.0.1", server.address).await != "HTTP/1.1 200 OK" {
        assert!(Instant::now() < freed, "the websocket's slot was not freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A stop with requests half sent (head, body) and a silent connection: `run` returns within
/// the grace and every one of those connections is closed by then.
#[tokio::test]
async fn a_stop_closes_half_sent_requests_at_the_end_of_the_grace() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = qun_server::config::Config::for_tests(data_dir.path(), None);
    let state = qun_server::AppState::open(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(qun_server::run(listener, state, async move {
        let _ = stopped.await;
    }));
    assert_eq!(health_from("127.0.0.1", address).await, "HTTP/1.1 200 OK");

    let mut half_head = connect_from("127.0.0.1", address).await;
    half_head.write_all(b"POST /qun/test/token HTTP/1.1\r\nhost: qun\r\n").await.expect("write");
    let mut half_body = connect_from("127.0.0.1", address).await;
    half_body
        .write_all(b"POST /qun/test/token HTTP/1.1\r\nhost: qun\r\ncontent-length: 100\r\n\r\n{\"gr")
        .await
        .expect("write");
    let mut silent = connect_from("127.0.0.1", address).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = Instant::now();
    stop.send(()).expect("stop");
    let ended = tokio::time::timeout(qun_server::SHUTDOWN_GRACE + Duration::from_secs(2), running).await;
    let took = stopping.elapsed();
    ended.expect("run did not return within the grace").expect("run task").expect("run");
    assert!(took < qun_server::SHUTDOWN_GRACE + Duration::from_millis(1_500), "the stop took {took:?}");
    for (name, stream) in [("half a head", &mut half_head), ("half a body", &mut half_body), ("silent", &mut silent)] {
        assert!(
            closed_within(stream, Duration::from_millis(500)).await.is_some(),
            "{name}: the connection is still open after the stop"
        );
    }
}

/// A password login from `client` (a loopback address) through a client bound to it.
async fn login_from(server: &TestServer, client: &reqwest::Client, user: &str, password: &str) -> (u16, Value) {
    let body = json!({"grant_type": "password", "username": user, "password": password});
    let reply = client.post(server.url("/token")).json(&body).send().await.expect("login");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

fn client_from(address: &str) -> reqwest::Client {
    let address: IpAddr = address.parse().expect("address");
    reqwest::Client::builder().local_address(address).build().expect("client")
}

#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["erin"]).await;
        let client = client_from("127.0.0.1");
        let guesses = (0..60).map(|i| {
            let (server, client) = (&server, &client);
            async move { login_from(server, client, "erin", &format!("guess-{i}")).await }
        });
        let replies = futures_util::future::join_all(guesses).await;
        let count = |status: u16, error: &str| {
            replies.iter().filter(|(s, body)| error_of(*s, body) == (status, error.to_owned())).count()
        };
        let (checked, limited, busy) =
            (count(400, "invalid_grant"), count(429, "reach_limit"), count(429, "resource_limited"));
        eprintln!(
            "[{}] 60 parallel guesses: {checked} checked, {limited} refused by the limit, {busy} busy",
            server.backend
        );
        assert_eq!(checked + limited + busy, 60, "{replies:?}");
        assert!((1..=10).contains(&checked), "{checked} passwords checked against a limit of 10");
        assert_eq!(limited, 50, "the other 50 are refused before any check");
    });
}

#[tokio::test]
async fn a_guesser_locks_a_user_out_only_from_its_own_address() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["erin"]).await;
        let (guesser, owner) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
        for _ in 0..10 {
            assert_eq!(login_from(&server, &guesser, "erin", "wrong").await.0, 400);
        }
        let (status, body) = login_from(&server, &guesser, "erin", "pw-erin").await;
        assert_eq!(error_of(status, &body), (429, "reach_limit".into()), "locked out from the guesser's address");
        // A forged X-Forwarded-For does not help: the server trusts none by default.
        let forged = guesser
            .post(server.url("/token"))
            .header("x-forwarded-for", "203.0.113.5")
            .json(&json!({"grant_type": "password", "username": "erin", "password": "pw-erin"}))
            .send()
            .await
            .expect("login");
        assert_eq!(forged.status(), 429);
        let (status, body) = login_from(&server, &owner, "erin", "pw-erin").await;
        assert_eq!(status, 200, "the owner logs in from elsewhere: {body}");
    });
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_clients() {
    let server = TestServer::start_with("sqlite", |config| config.trust_forwarded_for = true).await;
    server.users(&["erin"]).await;
    let login_via_proxy = |client_address: &'static str, password: &'static str| {
        let server = &server;
        async move {
            let body = json!({"grant_type": "password", "username": "erin", "password": password});
            let request = server.client.post(server.url("/token")).header("x-forwarded-for", client_address);
            request.json(&body).send().await.expect("login").status().as_u16()
        }
    };
    for _ in 0..10 {
        assert_eq!(login_via_proxy("203.0.113.5", "wrong").await, 400);
    }
    assert_eq!(login_via_proxy("203.0.113.5", "pw-erin").await, 429);
    assert_eq!(login_via_proxy("198.51.100.7", "pw-erin").await, 200);
}

#[tokio::test]
async fn spraying_guesses_over_users_is_limited_per_address_and_the_table_stays_small() {
    on_every_backend!(|server: TestServer| async move {
        let (sprayer, other) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
        // One guess for each of 60 names (none exists: each costs a dummy check all the same).
        for i in 0..60 {
            let (status, body) = login_from(&server, &sprayer, &format!("ghost{i}"), "123456").await;
            assert_eq!(error_of(status, &body), (404, "invalid_grant".into()), "guess {i}");
        }
        let held = server.state.login_throttle.len();
        for i in 60..200 {
            let (status, body) = login_from(&server, &sprayer, &format!("ghost{i}"), "123456").await;
            assert_eq!(error_of(status, &body), (429, "reach_limit".into()), "guess {i}: 60 a minute per address");
        }
        assert_eq!(server.state.login_throttle.len(), held, "refused guesses hold nothing");
        assert!(held <= 61, "60 (user, address) windows and the address's: {held}");
        let (status, _) = login_from(&server, &other, "ghost0", "123456").await;
        assert_eq!(status, 404, "another address is not limited");
    });
}

#[tokio::test]
async fn user_tokens_create_at_most_ten_groups_a_minute() {
    on_every_backend!(|server: TestServer| async move {
        server.users(&["olga", "petr"]).await;
        let olga = server.login("olga").await;
        let create = |token: &str, owner: Option<&str>| {
            let mut body = json!({"groupname": "g", "public": true});
            if let Some(owner) = owner {
                body["owner"] = json!(owner);
            }
            let token = token.to_owned();
            let server = &server;
            async move { server.call(Method::POST, "/chatgroups", Some(&token), Some(body)).await }
        };
        // A refused creation is not counted.
        let (status, _) = server
            .call(Method::POST, "/chatgroups", Some(&olga), Some(json!({"groupname": "g", "public": "yes"})))
            .await;
        assert_eq!(status, 400);
        for i in 0..10 {
            let (status, body) = create(&olga, None).await;
            assert_eq!(status, 200, "group {i}: {body}");
        }
        let (status, body) = create(&olga, None).await;
        assert_eq!(error_of(status, &body), (429, "reach_limit".into()), "{body}");
        assert_eq!(body["error_description"], "a user may create at most 10 groups a minute");
        // The app token is not limited, nor is another user.
        let app_token = server.app_token.clone();
        assert_eq!(create(&app_token, Some("olga")).await.0, 200);
        let petr = server.login("petr").await;
        assert_eq!(create(&petr, None).await.0, 200);
    });
}
