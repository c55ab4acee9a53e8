//! `qun chat`'s core (`qun_server::chat_cli::chat`, typed lines in, printed lines out, no
//! terminal) against the real server: start-up errors, groups, rooms, `/switch`, and a server
//! that stops (cleanly, or as in a crash) and comes back on the same port and data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use qun_client::{Connection, Incoming, RestClient};
use qun_server::chat_cli::{ChatArgs, Screen, chat};
use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc;

use crate::harness::{Device, PATIENCE, backends};

/// One server's life on a fixed port: its own runtime, so that dropping the runtime stops it
/// as a crash would (no cursor saved, sockets cut).
struct Instance {
    /// Taken when the instance ends (a runtime cannot be dropped where the test awaits).
    runtime: Option<tokio::runtime::Runtime>,
    stopped: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
}

/// The data a server runs on, kept across its instances.
struct Deployment {
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    port: u16,
    base: String,
}

impl Deployment {
    async fn new(backend: &str) -> Deployment {
        let database_url = match backend {
            "postgres" => {
                let base = qun_store::testing::postgres_test_url().expect("postgres url");
                Some(qun_store::testing::fresh_postgres_database(&base).await)
            }
            _ => None,
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let base = format!("http://127.0.0.1:{port}");
        Deployment { data_dir: tempfile::tempdir().expect("temp dir"), database_url, port, base }
    }

    /// Starts a server on the port (waiting for the previous one to let go of it).
    async fn start(&self) -> Instance {
        let listener = bind_when_free(self.port).await;
        let config = qun_server::config::Config::for_tests(self.data_dir.path(), self.database_url.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (stopped, stop) = tokio::sync::oneshot::channel::<()>();
        let served = runtime.spawn(async move {
            let state = qun_server::AppState::open(config).await.expect("server state");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let stop = async move {
                let _ = stop.await;
            };
            qun_server::run(listener, state, stop).await.expect("server run");
        });
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while reqwest::get(format!("{}/health", self.base)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Instance { runtime: Some(runtime), stopped: Some(stopped), served }
    }

    fn rest(&self) -> RestClient {
        RestClient::new(&self.base, "qun", "test")
    }

    async fn admin(&self) -> RestClient {
        let rest = self.rest();
        let token = rest.app_token("test-client", "test-secret").await.expect("app token");
        rest.with_token(token)
    }

    /// `user`'s device `device`, connected over msync.
    async fn device(&self, user: &str, device: &str) -> Device {
        let token = self.rest().login(user, &format!("pw-{user}")).await.expect("login");
        let url = qun_client::websocket_url(&self.base);
        let (connection, incoming) =
            Connection::connect(&url, "qun#test", user, &token, device).await.expect("connect");
        Device { connection, incoming }
    }

    /// `qun chat` as `user`, with `--server 127.0.0.1:PORT` (no scheme) and `place` (e.g.
    /// `--group 42`).
    fn chat(&self, user: &str, place: (&str, &str)) -> ChatUnderTest {
        let server = format!("127.0.0.1:{}", self.port);
        chat_as(args(&server, user, &format!("pw-{user}"), place))
    }
}

impl Instance {
    /// A clean stop: every session saves its cursors and closes.
    async fn stop(mut self) {
        let _ = self.stopped.take().expect("running").send(());
        tokio::time::timeout(PATIENCE, &mut self.served).await.expect("stopped in time").expect("served");
    }

    /// As a crash: every task dropped where it stands, nothing saved on the way out.
    fn crash(self) {
        drop(self);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn bind_when_free(port: u16) -> std::net::TcpListener {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => {
                listener.set_nonblocking(true).expect("non-blocking");
                return listener;
            }
            Err(error) => assert!(tokio::time::Instant::now() < deadline, "port {port}: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn args(server: &str, user: &str, password: &str, (kind, id): (&str, &str)) -> ChatArgs {
    ChatArgs {
        server: server.to_owned(),
        appkey: "qun#test".into(),
        user: user.into(),
        password: password.into(),
        group: (kind == "group").then(|| id.to_owned()),
        room: (kind == "room").then(|| id.to_owned()),
        to: (kind == "to").then(|| id.to_owned()),
        device: None,
    }
}

/// What the chat printed, and the prompts it showed.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<String>>,
    prompts: Mutex<Vec<String>>,
}

impl Screen for Recorder {
    fn print(&self, text: &str) {
        self.lines.lock().unwrap().extend(text.lines().map(str::to_owned));
    }

    fn ready(&self, prompt: &str) {
        self.prompts.lock().unwrap().push(prompt.to_owned());
    }
}

/// A running `qun chat`: type into it, read what it printed.
struct ChatUnderTest {
    input: mpsc::Sender<String>,
    screen: Arc<Recorder>,
    ended: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn chat_as(args: ChatArgs) -> ChatUnderTest {
    let screen = Arc::new(Recorder::default());
    let (input, lines) = mpsc::channel(16);
    let ended = tokio::spawn(chat(args, lines, screen.clone(), std::future::pending()));
    ChatUnderTest { input, screen, ended }
}

impl ChatUnderTest {
    async fn type_line(&self, line: &str) {
        self.input.send(line.to_owned()).await.expect("the chat takes input");
    }

    /// Waits until a printed line satisfies `wanted`; returns it.
    async fn printed(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.screen.lines.lock().unwrap().iter().find(|line| wanted(line)) {
                return line.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "not printed; got {:#?}", self.lines());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many printed lines satisfy `counted`.
    fn count(&self, counted: impl Fn(&str) -> bool) -> usize {
        self.screen.lines.lock().unwrap().iter().filter(|line| counted(line)).count()
    }

    fn lines(&self) -> Vec<String> {
        self.screen.lines.lock().unwrap().clone()
    }

    fn last_prompt(&self) -> Option<String> {
        self.screen.prompts.lock().unwrap().last().cloned()
    }

    /// Ends the input and waits for the chat to end.
    async fn quit(self) -> anyhow::Result<()> {
        drop(self.input);
        tokio::time::timeout(PATIENCE, self.ended).await.expect("the chat ends").expect("no panic")
    }
}

/// The texts of the messages that arrive within a short quiet spell.
async fn arriving_texts(device: &mut Device) -> Vec<String> {
    let items = device.drain(Duration::from_millis(500)).await;
    items
        .into_iter()
        .filter_map(|item| if let Incoming::Message { text, .. } = item { Some(text) } else { None })
        .collect()
}

/// A deployment with alice and bob in alice's group, its first server running.
async fn alice_and_bob(backend: &str) -> (Deployment, Instance, String) {
    let deployment = Deployment::new(backend).await;
    let instance = deployment.start().await;
    let admin = deployment.admin().await;
    let failures = admin.register(&[("alice", "pw-alice"), ("bob", "pw-bob")]).await.expect("register");
    assert!(failures.is_empty(), "{failures:?}");
    let group = admin.create_group("alice", &["bob"], false).await.expect("group");
    (deployment, instance, group)
}

/// Through a stop and a start of the server: bob's chat reconnects by itself, sends the line
/// typed meanwhile once, and shows nothing twice; `stop` is a clean stop or a crash.
async fn survives_a_restart(backend: &str, crash: bool) {
    let (deployment, instance, group) = alice_and_bob(backend).await;
    let mut alice = deployment.device("alice", "alice-phone").await;
    let bob = deployment.chat("bob", ("group", &group));
    let greeting = format!("* connected to {} as bob, in group alice's group ({group}); /help", deployment.base);
    bob.printed(|line| line.starts_with(&greeting)).await;
    assert_eq!(bob.last_prompt().as_deref(), Some("alice's group> "), "the group's name, not its id");

    bob.type_line("hello before").await;
    assert_eq!(alice.texts(1).await, ["hello before"]);
    alice.connection.send_group_text(&group, "hi before", Vec::new()).await.expect("alice sends");
    bob.printed(|line| line.ends_with("] alice: hi before")).await;

    if crash {
        instance.crash();
    } else {
        instance.stop().await;
    }
    bob.printed(|line| line.starts_with("* connection lost; reconnecting in")).await;
    bob.type_line("typed while down").await;
    bob.printed(|line| line == "* offline: sent when the connection is back (1 waiting)").await;

    let _instance = deployment.start().await;
    bob.printed(|line| line == "* reconnected; sending 1 waiting line(s)").await;
    let mut alice = deployment.device("alice", "alice-phone").await;
    let mut alice_saw = arriving_texts(&mut alice).await;
    // After a crash alice's device gets again what it had not saved as read (her own line
    // too, now that she is on a new connection): that is the server's redelivery, which the
    // chat must not show twice.
    alice_saw.retain(|text| !["hello before", "hi before"].contains(&text.as_str()));
    assert_eq!(alice_saw, ["typed while down"], "the queued line arrives once");
    alice.connection.send_group_text(&group, "hi after", Vec::new()).await.expect("alice sends");
    bob.printed(|line| line.ends_with("] alice: hi after")).await;
    // Let whatever the server delivers again arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let shown = |text: &'static str| move |line: &str| line.ends_with(text);
    assert_eq!(bob.count(shown("] alice: hi before")), 1, "shown once: {:#?}", bob.lines());
    assert_eq!(bob.count(shown("] alice: hi after")), 1, "{:#?}", bob.lines());
    assert_eq!(bob.count(shown("bob: hello before")), 0, "bob's own line came back: {:#?}", bob.lines());
    assert_eq!(bob.count(shown("bob: typed while down")), 0, "{:#?}", bob.lines());
    assert_eq!(bob.last_prompt().as_deref(), Some("alice's group> "));
    bob.type_line("/quit").await;
    bob.quit().await.expect("a clean end");
}

#[tokio::test]
async fn chat_survives_a_clean_server_restart() {
    for backend in backends() {
        survives_a_restart(backend, false).await;
    }
}

#[tokio::test]
async fn chat_shows_nothing_twice_after_a_server_crash() {
    for backend in backends() {
        survives_a_restart(backend, true).await;
    }
}

#[tokio::test]
async fn chat_rooms_lists_and_switches() {
    let (deployment, _instance, group) = alice_and_bob("sqlite").await;
    let admin = deployment.admin().await;
    let created = admin
        .call_ok(Method::POST, "/chatrooms", Some(json!({"name": "Lobby", "description": "hi", "owner": "alice"})))
        .await
        .expect("room");
    let room = created["data"]["id"].as_str().expect("room id").to_owned();
    let room_members = async |room: &str| {
        let reply = admin.call_ok(Method::GET, &format!("/chatrooms/{room}/users"), None).await.expect("members");
        reply["data"].as_array().expect("members").iter().filter_map(|m| m["member"].as_str()).count()
    };
    let mut alice = deployment.device("alice", "alice-phone").await;
    alice.connection.join_room(&room, false).await.expect("alice joins");

    let bob = deployment.chat("bob", ("room", &room));
    bob.printed(|line| line.starts_with(&format!("* connected to {} as bob, in room Lobby ({room})", deployment.base)))
        .await;
    assert_eq!(bob.last_prompt().as_deref(), Some("Lobby (room)> "));
    assert_eq!(room_members(&room).await, 1, "bob is in the room");
    bob.type_line("hello room").await;
    assert_eq!(alice.texts(1).await, ["hello room"]);
    alice.connection.send_room_text(&room, "hi bob", None).await.expect("alice sends");
    bob.printed(|line| line.ends_with("] alice: hi bob")).await;

    bob.type_line("/groups").await;
    bob.printed(|line| line == "* your groups (1):").await;
    bob.printed(|line| line == format!("  {group}  alice's group")).await;
    bob.type_line("/rooms").await;
    bob.printed(|line| line == format!("  {room}  Lobby  (here)")).await;

    bob.type_line("/switch group 1").await;
    bob.printed(|line| line == "! group 1 not found").await;
    bob.type_line(&format!("/switch group {group}")).await;
    bob.printed(|line| line == format!("* now in group alice's group ({group})")).await;
    assert_eq!(room_members(&room).await, 0, "bob left the room he switched away from");
    bob.type_line("in the group").await;
    assert_eq!(alice.texts(1).await, ["in the group"]);

    bob.type_line("/switch user alice").await;
    bob.printed(|line| line == "* now in alice (1:1)").await;
    bob.type_line("just you").await;
    assert_eq!(alice.texts(1).await, ["just you"]);
    alice.connection.send_group_text(&group, "group again", Vec::new()).await.expect("alice sends");
    bob.printed(|line| line.ends_with("] (in alice's group) alice: group again")).await;

    bob.type_line(&format!("/switch room {room}")).await;
    bob.printed(|line| line == format!("* now in room Lobby ({room})")).await;
    assert_eq!(room_members(&room).await, 1);
    bob.type_line("/help").await;
    bob.printed(|line| line.starts_with("/switch room ID")).await;
    bob.quit().await.expect("a clean end");
    assert_eq!(room_members(&room).await, 0, "bob left the room at the end");
}

#[tokio::test]
async fn chat_says_what_is_wrong_at_start() {
    let (deployment, _instance, group) = alice_and_bob("sqlite").await;
    let admin = deployment.admin().await;
    admin.register(&[("carol", "pw-carol")]).await.expect("register");
    let public_group = admin.create_group("alice", &[], true).await.expect("public group");
    let server = format!("localhost:{}", deployment.port);
    let unused_port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let nowhere = format!("127.0.0.1:{unused_port}");
    let cases = [
        (args(&server, "bob", "wrong", ("group", &group)), "wrong password for bob".to_owned()),
        (
            args(&server, "nobody", "pw", ("group", &group)),
            format!("there is no user nobody on http://localhost:{}", deployment.port),
        ),
        (args(&server, "bob", "pw-bob", ("group", "1")), "group 1 not found".to_owned()),
        (
            args(&server, "carol", "pw-carol", ("group", &group)),
            format!("group {group} refused you: user: carol is not a member"),
        ),
        (
            args(&server, "carol", "pw-carol", ("group", &public_group)),
            format!("you are not a member of group alice's group ({public_group})"),
        ),
        (args(&server, "bob", "pw-bob", ("room", "1")), "room 1 not found".to_owned()),
        (args(&server, "bob", "pw-bob", ("group", "abc")), "--group: group id must be a decimal number".to_owned()),
        (args(&nowhere, "bob", "pw-bob", ("group", &group)), format!("cannot reach the server at http://{nowhere} (")),
        (args("https://localhost", "bob", "pw-bob", ("group", &group)), "plain http only".to_owned()),
        (
            ChatArgs { appkey: "qun#nope".into(), ..args(&server, "bob", "pw-bob", ("group", &group)) },
            format!("there is no app qun#nope on http://localhost:{} (see --appkey)", deployment.port),
        ),
    ];
    for (args, expected) in cases {
        let described = format!("{args:?}");
        let chat = chat_as(args);
        let error = tokio::time::timeout(PATIENCE, chat.ended).await.expect("ends").expect("no panic");
        let error = format!("{:#}", error.expect_err(&described));
        assert!(error.contains(&expected), "{described}: {error}");
    }
}
