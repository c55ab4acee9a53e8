//! Starts a real server on port 0 and offers logged-in clients.

use std::time::Duration;

use qun_client::{ConnectOptions, Connection, Incoming, RestClient};
use tokio::sync::mpsc;

/// How long a test waits for something the server should deliver at once.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A running server with its own data directory, and an app-administrator client.
pub(crate) struct TestServer {
    pub(crate) base_url: String,
    pub(crate) ws_url: String,
    /// The server's state, to look at what it holds (online sessions).
    pub(crate) state: qun_server::AppState,
    /// REST with the app token.
    pub(crate) admin: RestClient,
    _data_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub(crate) async fn start() -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config = qun_server::config::Config::for_tests(data_dir.path(), None);
        let state = qun_server::AppState::open(config).await.expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = shutdown_rx.await;
            };
            qun_server::run(listener, server_state, stopped).await.expect("server run");
        });
        let base_url = format!("http://{address}");
        let rest = RestClient::new(&base_url, "qun", "test");
        let app_token = rest.app_token("test-client", "test-secret").await.expect("app token");
        TestServer {
            ws_url: qun_client::websocket_url(&base_url),
            base_url,
            state,
            admin: rest.with_token(app_token),
            _data_dir: data_dir,
            shutdown: Some(shutdown),
        }
    }

    /// A client without a token.
    pub(crate) fn anonymous(&self) -> RestClient {
        RestClient::new(&self.base_url, "qun", "test")
    }

    /// Registers users, each with the password `pw-<name>`.
    pub(crate) async fn users(&self, names: &[&str]) {
        let passwords: Vec<String> = names.iter().map(|name| format!("pw-{name}")).collect();
        let users: Vec<(&str, &str)> = names.iter().copied().zip(passwords.iter().map(String::as_str)).collect();
        let failures = self.admin.register(&users).await.expect("register");
        assert!(failures.is_empty(), "{failures:?}");
    }

    /// A user token by password login.
    pub(crate) async fn login(&self, name: &str) -> String {
        self.anonymous().login(name, &format!("pw-{name}")).await.expect("login")
    }

    /// Logs `name` in over REST and connects the device `device`.
    pub(crate) async fn connect(&self, name: &str, device: &str) -> (Connection, mpsc::Receiver<Incoming>) {
        self.connect_with(name, device, ConnectOptions::default()).await
    }

    pub(crate) async fn connect_with(
        &self,
        name: &str,
        device: &str,
        options: ConnectOptions,
    ) -> (Connection, mpsc::Receiver<Incoming>) {
        let token = self.login(name).await;
        Connection::connect_with(&self.ws_url, "qun#test", name, &token, device, options).await.expect("connect")
    }

    /// Waits until the server holds `n` sessions.
    pub(crate) async fn wait_for_sessions(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.state.hub.session_count() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} sessions, expected {n}",
                self.state.hub.session_count()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The next item of the channel, within [`WAIT`].
pub(crate) async fn next(incoming: &mut mpsc::Receiver<Incoming>) -> Incoming {
    tokio::time::timeout(WAIT, incoming.recv()).await.expect("nothing arrived in time").expect("channel open")
}

/// The next message (other items are skipped).
pub(crate) async fn next_message(incoming: &mut mpsc::Receiver<Incoming>) -> Incoming {
    loop {
        let item = next(incoming).await;
        if matches!(item, Incoming::Message { .. } | Incoming::MessageId { .. }) {
            return item;
        }
        assert_ne!(item, Incoming::Closed, "closed while waiting for a message");
    }
}

/// The next group event with msync operation `operation` (other items are skipped).
pub(crate) async fn next_event(incoming: &mut mpsc::Receiver<Incoming>, operation: i32) -> Incoming {
    loop {
        let item = next(incoming).await;
        match &item {
            Incoming::GroupEvent { operation: op, .. } if *op == operation => return item,
            Incoming::Closed => panic!("closed while waiting for event {operation}"),
            _ => {}
        }
    }
}

/// Asserts nothing but items `skip` accepts arrives for a short while.
pub(crate) async fn assert_quiet(incoming: &mut mpsc::Receiver<Incoming>, skip: impl Fn(&Incoming) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(item) = tokio::time::timeout_at(deadline, incoming.recv()).await {
        let item = item.expect("channel open");
        assert!(skip(&item), "unexpected {item:?}");
    }
}
