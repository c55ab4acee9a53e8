//! Stopping and starting the real `qun` binary: SIGTERM makes every websocket save its
//! cursors before it closes, and the process exits within the grace period; after a restart
//! on the same data nothing acknowledged comes again and nothing stored is missing.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use qun_client::{Connection, Incoming, RestClient, websocket_url};
use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const CLIENT_ID: &str = "lifecycle-id";
const CLIENT_SECRET: &str = "lifecycle-secret-0123456789";
const PASSWORD: &str = "pw-123456";
/// How long a test waits for something that should arrive at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// The `qun` binary serving `data_dir` on `port` (SQLite, the embedded default).
struct Process {
    child: Child,
    base: String,
}

impl Process {
    async fn start(data_dir: &std::path::Path, port: u16) -> Process {
        let mut command = Process::command(data_dir, port);
        command.env("QUN_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::inherit());
        Process::start_with(command, port).await
    }

    /// `qun serve` on `data_dir` and `port` with the test app; output and logs still to set.
    fn command(data_dir: &std::path::Path, port: u16) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_qun"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("QUN_CLIENT_ID", CLIENT_ID)
            .env("QUN_CLIENT_SECRET", CLIENT_SECRET)
            .env("QUN_APPKEY", "qun#life")
            .env_remove("QUN_LOG_FORMAT");
        command
    }

    /// Spawns `command` and waits until it answers `/health` on `port`.
    async fn start_with(mut command: Command, port: u16) -> Process {
        let child = command.spawn().expect("start qun");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        while reqwest::get(format!("{base}/health")).await.is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Process { child, base }
    }

    /// Sends SIGTERM and waits for the exit; returns how long it took.
    fn terminate(mut self) -> Duration {
        let started = Instant::now();
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "qun exited with {status}");
        started.elapsed()
    }

    /// Sends SIGTERM, waits for the exit and returns what the process wrote to its stdout and
    /// stderr (both must have been piped).
    fn terminate_with_output(mut self) -> (String, String) {
        let mut stdout = self.child.stdout.take().expect("stdout piped");
        let mut stderr = self.child.stderr.take().expect("stderr piped");
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).expect("read stdout");
            text
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).expect("read stderr");
            text
        });
        self.terminate();
        (stdout.join().expect("stdout reader"), stderr.join().expect("stderr reader"))
    }

    async fn rest(&self) -> RestClient {
        let rest = RestClient::new(&self.base, "qun", "life");
        let token = rest.app_token(CLIENT_ID, CLIENT_SECRET).await.expect("app token");
        rest.with_token(token)
    }

    async fn connect(&self, user: &str, device: &str) -> (Connection, tokio::sync::mpsc::Receiver<Incoming>) {
        let rest = RestClient::new(&self.base, "qun", "life");
        let token = rest.login(user, PASSWORD).await.expect("login");
        Connection::connect(&websocket_url(&self.base), "qun#life", user, &token, device).await.expect("connect")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// The texts of the next `n` messages (events skipped).
async fn texts(incoming: &mut tokio::sync::mpsc::Receiver<Incoming>, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < n {
        match tokio::time::timeout(PATIENCE, incoming.recv()).await {
            Ok(Some(Incoming::Message { text, .. })) => texts.push(text),
            Ok(Some(_)) => {}
            other => panic!("after {texts:?}: {other:?}"),
        }
    }
    texts
}

#[tokio::test]
async fn sigterm_saves_what_was_acknowledged_and_loses_nothing_stored() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = Process::start(data_dir.path(), port).await;
    let rest = server.rest().await;
    rest.register(&[("ann", PASSWORD), ("ben", PASSWORD)]).await.expect("register");
    let group = rest.create_group("ann", &["ben"], false).await.expect("group");

    let (ann, _ann_incoming) = server.connect("ann", "ann-phone").await;
    let (_ben, mut ben_incoming) = server.connect("ben", "ben-phone").await;
    let sent: Vec<String> = (0..30).map(|i| format!("before {i}")).collect();
    for text in &sent {
        ann.send_group_text(&group, text, Vec::new()).await.expect("send");
    }
    // Ben's device reads (and so acknowledges) all 30; its cursor is in memory only (saved
    // every 10 s), so only the shutdown can have saved it.
    assert_eq!(texts(&mut ben_incoming, 30).await, sent);
    // A request half sent (its head, then nothing) stays in flight through the stop: it is
    // closed at the end of the grace, and the process exits then.
    let mut half_sent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    half_sent.write_all(b"POST /qun/life/token HTTP/1.1\r\nhost: qun\r\n").await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Waited for off the test's runtime: the stopping server asks Ben's connection to
    // acknowledge what it pushed, and Ben's client must be running to answer.
    let took = tokio::task::spawn_blocking(move || server.terminate()).await.expect("terminate");
    let grace = qun_server::SHUTDOWN_GRACE;
    assert!(took < grace + Duration::from_millis(1_500), "the stop took {took:?}");
    // Same data, same device: nothing acknowledged comes again; what is new comes once.
    let server = Process::start(data_dir.path(), port).await;
    let (_ben, mut ben_incoming) = server.connect("ben", "ben-phone").await;
    let (ann, _ann_incoming) = server.connect("ann", "ann-phone").await;
    ann.send_group_text(&group, "after", Vec::new()).await.expect("send");
    assert_eq!(texts(&mut ben_incoming, 1).await, ["after"], "acknowledged messages came again");
    // And every message is stored.
    let token = RestClient::new(&server.base, "qun", "life").login("ben", PASSWORD).await.expect("login");
    let ben_rest = RestClient::new(&server.base, "qun", "life").with_token(token);
    let body = json!({"queue": format!("{group}@conference.easemob.com"), "start": -1, "pull_number": 50});
    let page = ben_rest.call_ok(Method::POST, "/users/ben/messageroaming", Some(body)).await.expect("history");
    assert_eq!(page["data"]["msgs"].as_array().map(Vec::len), Some(31), "{page}");
    server.terminate();
}

/// Waits up to `limit` for `child` to exit on its own; kills it if it does not.
fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn read_all(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    pipe.expect("piped").read_to_string(&mut text).expect("read");
    text
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_refuses_to_start_and_names_the_first() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let first = Process::start(data_dir.path(), free_port()).await;

    let mut second = Process::command(data_dir.path(), free_port())
        .env("QUN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the second qun");
    let status = exit_within(&mut second, Duration::from_secs(5)).expect("the second server is still running");
    assert!(!status.success(), "the second server exited with {status}");
    let stderr = read_all(second.stderr.take());
    assert!(stderr.contains(&format!("pid {}", first.child.id())), "{stderr}");
    assert!(stderr.contains(&data_dir.path().canonicalize().expect("canonical").display().to_string()), "{stderr}");

    let health = reqwest::get(format!("{}/health", first.base)).await.expect("the first still answers");
    assert!(health.status().is_success(), "{health:?}");
    first.terminate();
    // Once the first is gone, the directory is free again.
    Process::start(data_dir.path(), free_port()).await.terminate();
}

/// A server started with its logs at info, stdout and stderr piped, `QUN_LOG_FORMAT=format`,
/// stopped at once: what it wrote to stdout and to stderr.
async fn output_of_a_run(format: &str) -> (String, String) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut command = Process::command(data_dir.path(), port);
    command.env("QUN_LOG", "info").env("QUN_LOG_FORMAT", format).stdout(Stdio::piped()).stderr(Stdio::piped());
    Process::start_with(command, port).await.terminate_with_output()
}

#[tokio::test]
async fn logs_go_to_stderr_without_colour_when_it_is_not_a_terminal() {
    let (stdout, stderr) = output_of_a_run("text").await;
    assert_eq!(stdout, "", "stdout is not for logs");
    assert!(stderr.contains("qun listening"), "{stderr}");
    assert!(stderr.contains("qun stopped"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "colour escapes in a pipe: {stderr:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let (stdout, stderr) = output_of_a_run("json").await;
    assert_eq!(stdout, "", "stdout is not for logs");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in &lines {
        let object: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        assert!(object["message"].is_string(), "no message: {line}");
    }
    assert!(lines.iter().any(|line| line.contains("\"qun listening\"")), "{stderr}");
}

#[test]
fn an_unknown_log_format_is_refused_at_start() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut child = Process::command(data_dir.path(), free_port())
        .env("QUN_LOG_FORMAT", "xml")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qun");
    let status = exit_within(&mut child, Duration::from_secs(5)).expect("qun started with QUN_LOG_FORMAT=xml");
    assert!(!status.success(), "{status}");
    let stderr = read_all(child.stderr.take());
    assert!(stderr.contains(r#"QUN_LOG_FORMAT must be "text" or "json""#), "{stderr}");
}

/// An app token for the default app with these credentials: the status of the grant.
async fn grant(server: &Process, client_id: &str, client_secret: &str) -> u16 {
    let body = json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret});
    let (status, _) =
        RestClient::new(&server.base, "qun", "life").call(Method::POST, "/token", Some(body)).await.expect("token");
    status
}

#[tokio::test]
async fn configured_credentials_apply_at_every_start_and_generated_ones_work() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let start = |configure: fn(&mut Command)| {
        let mut command = Process::command(data_dir.path(), port);
        command.env("QUN_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::piped());
        configure(&mut command);
        Process::start_with(command, port)
    };

    // First start, nothing configured: generated, printed once, and they work.
    let server = start(|c| {
        c.env_remove("QUN_CLIENT_ID").env_remove("QUN_CLIENT_SECRET");
    })
    .await;
    let (stdout, _) = {
        let status = grant(&server, "nobody", "nothing").await;
        assert_eq!(status, 401);
        server.terminate_with_output()
    };
    let printed = stdout.lines().find(|l| l.starts_with("Generated the credentials")).expect("printed once");
    let field = |name: &str| printed.split(&format!("{name}=")).nth(1).unwrap().split(' ').next().unwrap().to_owned();
    let (generated_id, generated_secret) = (field("client_id"), field("client_secret"));
    let server = start(|c| {
        c.env_remove("QUN_CLIENT_ID").env_remove("QUN_CLIENT_SECRET");
    })
    .await;
    assert_eq!(grant(&server, &generated_id, &generated_secret).await, 200);
    let (stdout, _) = server.terminate_with_output();
    assert!(!stdout.contains("Generated"), "printed again: {stdout}");

    // Configured ones replace them (the command's default CLIENT_ID/SECRET).
    let server = start(|_| {}).await;
    assert_eq!(grant(&server, CLIENT_ID, CLIENT_SECRET).await, 200);
    assert_eq!(grant(&server, &generated_id, &generated_secret).await, 401);
    server.terminate_with_output();

    // Started again without them: the app keeps the configured ones, nothing is generated.
    let server = start(|c| {
        c.env_remove("QUN_CLIENT_ID").env_remove("QUN_CLIENT_SECRET");
    })
    .await;
    assert_eq!(grant(&server, CLIENT_ID, CLIENT_SECRET).await, 200);
    let (stdout, _) = server.terminate_with_output();
    assert!(!stdout.contains("Generated"), "{stdout}");

    // Half a pair is refused at start.
    let mut command = Process::command(data_dir.path(), port);
    command.env_remove("QUN_CLIENT_SECRET").stdout(Stdio::null()).stderr(Stdio::piped());
    let output = command.output().expect("run qun");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("go together"), "{:?}", output.stderr);
}

/// The crash test: the real server under mixed load (websocket sends to a group and 1:1, REST
/// sends, group operations) is killed with SIGKILL at a random moment, restarted on the same
/// data, and loaded again, `QUN_CRASH_ROUNDS` times (3 by default; the documented long run
/// uses 50). Then every send that was acknowledged — over the websocket or with a 200 over
/// REST — is in the members' next sync exactly once, and nothing else is.
#[tokio::test]
async fn acknowledged_sends_survive_kill_9_under_load_exactly_once() {
    crash_rounds(None).await;
    match qun_store::testing::postgres_test_url() {
        Some(base) => crash_rounds(Some(qun_store::testing::fresh_postgres_database(&base).await)).await,
        None => println!("crash test: PostgreSQL skipped (QUN_TEST_DATABASE_URL is not set)"),
    }
}

/// [`acknowledged_sends_survive_kill_9_under_load_exactly_once`] on SQLite (`None`) or on the
/// PostgreSQL database `database_url`.
async fn crash_rounds(database_url: Option<String>) {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    let rounds: usize = std::env::var("QUN_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    // Bob reads everything once at the end: messages and group events stay within the
    // 200-item offline store.
    let per_round = (150 / rounds.max(1)).clamp(1, 60);
    // Group operations in about five of the rounds, 3 events each.
    let operations_every = (rounds / 5).max(1);
    let data_dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let start = || async {
        let mut command = Process::command(data_dir.path(), port);
        command.env("QUN_LOG", "error").stdout(Stdio::null()).stderr(Stdio::inherit());
        if let Some(url) = &database_url {
            command.env("QUN_DATABASE_URL", url);
        }
        Process::start_with(command, port).await
    };
    let mut server = start().await;
    let rest = server.rest().await;
    rest.register(&[("ann", PASSWORD), ("bob", PASSWORD), ("cat", PASSWORD)]).await.expect("users");
    let group = rest.create_group("ann", &["bob", "cat"], true).await.expect("group");
    // Every acknowledged send: id → what it was.
    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    for round in 0..rounds {
        let (ann, _ann_incoming) = server.connect("ann", "ann-crash").await;
        let rest = server.rest().await;
        let stop = tokio_util::sync::CancellationToken::new();
        let sender = tokio::spawn({
            let (acked, group, stop) = (acked.clone(), group.clone(), stop.clone());
            async move {
                for i in 0..per_round {
                    let text = format!("round {round} message {i}");
                    let sent = if i % 3 == 2 {
                        ann.send_user_text("bob", &text, Vec::new()).await
                    } else {
                        ann.send_group_text(&group, &text, Vec::new()).await
                    };
                    match sent {
                        Ok(sent) => acked.lock().unwrap().insert(sent.server_id, text),
                        Err(_) => return,
                    };
                    if stop.is_cancelled() {
                        return;
                    }
                }
            }
        });
        let rest_sender = tokio::spawn({
            let (acked, group, rest) = (acked.clone(), group.clone(), rest.clone());
            async move {
                for i in 0..per_round / 6 {
                    let text = format!("round {round} rest {i}");
                    let body = json!({"from": "cat", "to": [group], "type": "txt", "body": {"msg": text}});
                    let Ok((200, reply)) = rest.call(Method::POST, "/messages/chatgroups", Some(body)).await else {
                        return;
                    };
                    if let Some(id) = reply["data"][&group].as_str().and_then(|id| id.parse().ok()) {
                        acked.lock().unwrap().insert(id, text);
                    }
                }
            }
        });
        let operations = tokio::spawn({
            let (group, rest) = (group.clone(), rest.clone());
            async move {
                // A few: group events share the 200-item offline window with the messages.
                let events = if round % operations_every == 0 { 3 } else { 0 };
                for i in 0..events {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let body = json!({"announcement": format!("round {round} #{i}")});
                    if rest.call(Method::POST, &format!("/chatgroups/{group}/announcement"), Some(body)).await.is_err()
                    {
                        return;
                    }
                }
            }
        });
        let wait = Duration::from_millis(100 + rand::random::<u64>() % 400);
        tokio::time::sleep(wait).await;
        // SIGKILL: no shutdown, no saved cursors, no drained writer.
        server.child.kill().expect("kill -9");
        server.child.wait().expect("wait");
        stop.cancel();
        let _ = tokio::join!(sender, rest_sender, operations);
        server = start().await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= rounds, "some sends were acknowledged: {}", acked.len());
    assert!(acked.len() <= 200, "within the offline store: {}", acked.len());

    // Bob, offline all along, syncs: every acknowledged group and 1:1 send once.
    let (_bob, mut incoming) = server.connect("bob", "bob-crash").await;
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut texts_by_id = BTreeMap::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(2), incoming.recv()).await {
            Ok(Some(Incoming::Message { id, text, .. })) => {
                *seen.entry(id).or_default() += 1;
                texts_by_id.insert(id, text);
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("bob's connection closed"),
            Err(_) => break,
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing: Vec<_> = acked.iter().filter(|(id, _)| !seen.contains_key(id)).collect();
    assert!(missing.is_empty(), "acknowledged but lost after kill -9: {missing:?}");
    for (id, text) in &acked {
        assert_eq!(texts_by_id.get(id), Some(text), "message {id} as sent");
    }
    let backend = if database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "crash test on {backend}: {rounds} kill -9 rounds, {} acknowledged sends, all delivered once",
        acked.len()
    );
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (port, metrics_port) = (free_port(), free_port());
    let mut command = Process::command(data_dir.path(), port);
    command
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .env("QUN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let server = Process::start_with(command, port).await;
    let on_main = reqwest::get(format!("{}/metrics", server.base)).await.expect("main listener");
    assert_eq!(on_main.status(), 404, "not on the public address");
    let on_own = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.expect("metrics listener");
    assert_eq!(on_own.status(), 200);
    assert!(on_own.text().await.expect("text").contains("qun_build_info{"));
    assert!(server.terminate() < Duration::from_secs(6), "the metrics listener does not hold the stop");
}
