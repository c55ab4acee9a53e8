//! Stopping and starting the real `qun` binary: SIGTERM makes every websocket save its
//! cursors before it closes, and the process exits within the grace period; after a restart
//! on the same data nothing acknowledged comes again and nothing stored is missing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qun_client::{Connection, Incoming, RestClient, websocket_url};
use reqwest::Method;
use serde_json::json;

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
        let child = Command::new(env!("CARGO_BIN_EXE_qun"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("QUN_CLIENT_ID", CLIENT_ID)
            .env("QUN_CLIENT_SECRET", CLIENT_SECRET)
            .env("QUN_APPKEY", "qun#life")
            .env("QUN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start qun");
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
    tokio::time::sleep(Duration::from_millis(200)).await;

    let took = server.terminate();
    assert!(took < Duration::from_secs(8), "the stop took {took:?}");
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
