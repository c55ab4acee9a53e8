//! The test harness: starts a real server on port 0 with a fresh database and offers a small
//! REST client with Agora's conventions.

use std::net::SocketAddr;
use std::time::Duration;

use qun_client::{Connection, Incoming};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// How long a test waits for something that should arrive at once.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Which databases to run a test on: SQLite always; PostgreSQL when the environment names one.
pub(crate) fn backends() -> Vec<&'static str> {
    let mut backends = vec!["sqlite"];
    if qun_store::testing::postgres_test_url().is_some() {
        backends.push("postgres");
    }
    backends
}

/// Runs `test` once per backend, each with a fresh server.
macro_rules! on_every_backend {
    ($test:expr) => {
        for backend in $crate::harness::backends() {
            let server = $crate::harness::TestServer::start(backend).await;
            ($test)(server).await;
        }
    };
}
pub(crate) use on_every_backend;

/// A running server with its own data dir and database.
pub(crate) struct TestServer {
    pub(crate) address: SocketAddr,
    pub(crate) client: reqwest::Client,
    #[allow(dead_code)] // handy in assertion messages
    pub(crate) backend: &'static str,
    pub(crate) app_token: String,
    /// The server's state, for looking at what it stored.
    pub(crate) state: qun_server::AppState,
    _data_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub(crate) async fn start(backend: &'static str) -> TestServer {
        TestServer::start_with(backend, |_| {}).await
    }

    /// [`TestServer::start`] with a configuration `configure` changes (e.g. a short grace).
    pub(crate) async fn start_with(
        backend: &'static str,
        configure: impl FnOnce(&mut qun_server::config::Config),
    ) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            "postgres" => {
                let base = qun_store::testing::postgres_test_url().expect("postgres url");
                Some(qun_store::testing::fresh_postgres_database(&base).await)
            }
            _ => None,
        };
        let mut config = qun_server::config::Config::for_tests(data_dir.path(), database_url);
        configure(&mut config);
        let state = qun_server::AppState::open(config).await.expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server_state = state.clone();
        let address = listener.local_addr().expect("address");
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            qun_server::run(listener, state, async move {
                let _ = shutdown_rx.await;
            })
            .await
            .expect("server run");
        });
        let client = reqwest::Client::new();
        let mut server = TestServer {
            address,
            client,
            backend,
            app_token: String::new(),
            state: server_state,
            _data_dir: data_dir,
            shutdown: Some(shutdown),
            task: Some(task),
        };
        let (status, body) = server
            .call(
                Method::POST,
                "/token",
                None,
                Some(
                    json!({"grant_type":"client_credentials","client_id":"test-client","client_secret":"test-secret"}),
                ),
            )
            .await;
        assert_eq!(status, 200, "app token: {body}");
        server.app_token = body["access_token"].as_str().expect("access_token").to_owned();
        server
    }

    /// The URL of `path` under the test app (`/qun/test`), or at the root if it starts with `//`.
    pub(crate) fn url(&self, path: &str) -> String {
        match path.strip_prefix("//") {
            Some(root) => format!("http://{}/{}", self.address, root),
            None => format!("http://{}/qun/test{}", self.address, path),
        }
    }

    /// One call; returns the status and the JSON body (`Value::Null` if not JSON).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A call with the app token.
    pub(crate) async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.app_token.clone();
        self.call(method, path, Some(&token), body).await
    }

    /// Registers users (password "pw-" + name) with the app token.
    pub(crate) async fn users(&self, names: &[&str]) {
        let body: Vec<Value> = names.iter().map(|n| json!({"username": n, "password": format!("pw-{n}")})).collect();
        let (status, reply) = self.admin(Method::POST, "/users", Some(Value::Array(body))).await;
        assert_eq!(status, 200, "register: {reply}");
    }

    /// A user token by password login.
    pub(crate) async fn login(&self, name: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/token",
                None,
                Some(json!({"grant_type":"password","username":name,"password":format!("pw-{name}")})),
            )
            .await;
        assert_eq!(status, 200, "login {name}: {body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Creates a group with the app token and returns its id.
    pub(crate) async fn group(&self, owner: &str, members: &[&str], settings: Value) -> String {
        let mut body = json!({"groupname": "g", "public": true, "owner": owner, "members": members});
        if let (Some(target), Some(extra)) = (body.as_object_mut(), settings.as_object()) {
            for (key, value) in extra {
                target.insert(key.clone(), value.clone());
            }
        }
        let (status, reply) = self.admin(Method::POST, "/chatgroups", Some(body)).await;
        assert_eq!(status, 200, "create group: {reply}");
        reply["data"]["groupid"].as_str().expect("groupid").to_owned()
    }

    /// The group events `user` would receive for `group`, oldest first, each written
    /// `operation:from>to1,to2`: their personal events for the group, then the group-timeline
    /// events after the point they joined that are not addressed to everybody but them.
    pub(crate) async fn events_of(&self, user: &str, group: &str) -> Vec<String> {
        let store = &self.state.store;
        let app = self.state.app("qun", "test").await.expect("store").expect("app");
        let user_name = qun_core::UserName::parse(user).expect("user name");
        let group_id = qun_core::GroupId::parse(group).expect("group id");
        let describe = |event: &qun_core::GroupEvent| {
            let to: Vec<&str> = event.to.iter().map(|u| u.as_str()).collect();
            format!("{}:{}>{}", event.operation.sdk_name(), event.from, to.join(","))
        };
        let mut seen: Vec<String> = store
            .user_events(app.id, &user_name, 0, 10_000)
            .await
            .expect("user events")
            .iter()
            .filter_map(|stored| stored.item.group_event())
            .filter(|event| event.group_id == group_id)
            .map(describe)
            .collect();
        let snapshot =
            store.group_snapshot(app.id, group_id, std::slice::from_ref(&user_name), 0).await.expect("snapshot");
        if let Some(membership) = snapshot.and_then(|s| s.users[0].membership.clone()) {
            let timeline =
                store.group_timeline(app.id, group_id, membership.cursor_seq, 10_000).await.expect("timeline");
            for entry in timeline {
                if let qun_store::TimelineItem::Event(event) = &entry.item
                    && entry.except.as_ref() != Some(&user_name)
                {
                    seen.push(describe(event));
                }
            }
        }
        seen
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The texts of the messages among `items`, in order.
pub(crate) fn texts_in(items: &[Incoming]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            Incoming::Message { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The `error` field of an error envelope, with the status.
/// The msync status and reason of a refused send.
pub(crate) fn refusal(result: Result<qun_client::Sent, qun_client::Error>) -> (i32, String) {
    match result {
        Err(qun_client::Error::SendRefused { code, reason, .. }) => (code, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub(crate) fn error_of(status: u16, body: &Value) -> (u16, String) {
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

/// One user's connection over msync, as the SDK holds it, and what it receives.
pub(crate) struct Device {
    pub(crate) connection: Connection,
    pub(crate) incoming: mpsc::Receiver<Incoming>,
}

impl Device {
    /// Logs `user` in (password login, then the websocket) as the device `<user>-device`.
    pub(crate) async fn connect(server: &TestServer, user: &str) -> Device {
        Device::connect_as(server, user, &format!("{user}-device")).await
    }

    /// Logs `user` in as the device `device` (one user may have several).
    pub(crate) async fn connect_as(server: &TestServer, user: &str, device: &str) -> Device {
        let token = server.login(user).await;
        let url = format!("ws://{}/websocket", server.address);
        let (connection, incoming) = Connection::connect(&url, "qun#test", user, &token, device).await.expect("login");
        Device { connection, incoming }
    }

    /// Everything that arrives within `quiet` of the last item.
    pub(crate) async fn drain(&mut self, quiet: Duration) -> Vec<Incoming> {
        let mut items = Vec::new();
        while let Ok(Some(item)) = tokio::time::timeout(quiet, self.incoming.recv()).await {
            items.push(item);
        }
        items
    }

    /// The next room event with this msync operation.
    pub(crate) async fn event(&mut self, operation: i32) -> Incoming {
        loop {
            match tokio::time::timeout(PATIENCE, self.incoming.recv()).await {
                Ok(Some(item @ Incoming::GroupEvent { operation: op, .. })) if op == operation => return item,
                Ok(Some(Incoming::Closed)) | Ok(None) | Err(_) => panic!("no event {operation}"),
                Ok(Some(_)) => {}
            }
        }
    }

    /// The next `n` messages' texts, in arrival order.
    pub(crate) async fn texts(&mut self, n: usize) -> Vec<String> {
        let mut texts = Vec::new();
        while texts.len() < n {
            match tokio::time::timeout(PATIENCE, self.incoming.recv()).await {
                Ok(Some(Incoming::Message { text, .. })) => texts.push(text),
                Ok(Some(Incoming::Closed)) | Ok(None) => panic!("closed after {texts:?}"),
                Ok(Some(_)) => {}
                Err(_) => panic!("only {} of {n} messages: {texts:?}", texts.len()),
            }
        }
        texts
    }
}
