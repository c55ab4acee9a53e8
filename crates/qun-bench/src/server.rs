//! The processes under test: the `qun` server on a copy of a prepared data directory (the
//! "fixture": users registered once, since each registration costs an argon2 hash), and the
//! calibration baselines (this binary's `baseline-ws` / `baseline-http`), each pinned with
//! `taskset` when asked.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use qun_client::RestClient;
use serde::{Deserialize, Serialize};
use tokio::process::Child;

use crate::setup;
use crate::sysinfo;

/// The credentials of the default app of a server the bench starts.
pub const CLIENT_ID: &str = "qun-bench";
pub const CLIENT_SECRET: &str = "qun-bench-secret-not-for-production";
/// Org and app of the default app `qun#demo`.
pub const ORG: &str = "qun";
pub const APP: &str = "demo";

/// A process the bench started; stopped with SIGTERM (then SIGKILL) by [`Process::stop`].
pub struct Process {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl Process {
    /// Stops the process: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        sysinfo::terminate(self.pid);
        if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Where the bench finds the `qun` binary: `--qun-bin`, else next to this binary.
pub fn default_qun_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("qun")))
        .unwrap_or_else(|| PathBuf::from("qun"))
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn command(program: &Path, cpus: Option<&str>) -> tokio::process::Command {
    match cpus {
        Some(cpus) => {
            let mut command = tokio::process::Command::new("taskset");
            command.arg("-c").arg(cpus).arg(program);
            command
        }
        None => tokio::process::Command::new(program),
    }
}

/// Starts `qun serve` on `data_dir`, pinned to `cpus` when given, and waits for `/health`.
pub async fn start_qun(qun_binary: &Path, data_dir: &Path, cpus: Option<&str>) -> anyhow::Result<Process> {
    let port = free_port()?;
    let mut command = command(qun_binary, cpus);
    command
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .env("QUN_CLIENT_ID", CLIENT_ID)
        .env("QUN_CLIENT_SECRET", CLIENT_SECRET)
        // The fleet puts up to 10,000 connections on each loopback source address
        // (`fleet::CONNECTIONS_PER_SOURCE_ADDRESS`), above the server's default per-address cap.
        .env("QUN_MAX_CONNECTIONS_PER_IP", "50000")
        .env("QUN_LOG", std::env::var("QUN_LOG").unwrap_or_else(|_| "warn".to_owned()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = command.spawn().with_context(|| format!("starting {}", qun_binary.display()))?;
    wait_ready(child, format!("http://127.0.0.1:{port}"), "/health").await
}

/// Starts this binary with `args` (a baseline server taking `--listen`), pinned when asked.
pub async fn start_baseline(args: &[&str], cpus: Option<&str>) -> anyhow::Result<Process> {
    let port = free_port()?;
    let exe = std::env::current_exe()?;
    let mut command = command(&exe, cpus);
    command
        .args(args)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = command.spawn().context("starting a baseline server")?;
    wait_ready(child, format!("http://127.0.0.1:{port}"), "/health").await
}

async fn wait_ready(mut child: Child, base_url: String, path: &str) -> anyhow::Result<Process> {
    let pid = child.id().context("server pid")?;
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited at start ({status})");
        }
        if http.get(format!("{base_url}{path}")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(Process { child, pid, base_url });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill().await;
    bail!("the server at {base_url} was not ready within 30 s")
}

/// A prepared data directory with `users` registered users and a never-expiring token each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fixture {
    #[serde(skip)]
    pub data_dir: PathBuf,
    pub users: Vec<String>,
    pub tokens: Vec<String>,
}

/// The user names of a fixture.
pub fn user_name(index: usize) -> String {
    format!("b{index:05}")
}

/// Returns the fixture of at least `users` users under `root`, building it when missing
/// (registration is slow on purpose: argon2 for each user). Building runs the server on
/// every core.
pub async fn fixture(qun_binary: &Path, root: &Path, users: usize) -> anyhow::Result<Fixture> {
    if let Some(fixture) = existing_fixture(root, users) {
        return Ok(fixture);
    }
    let dir = root.join(format!("fixture-{users}"));
    let manifest = dir.join("fixture.json");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data"))?;
    eprintln!("building the fixture of {users} users in {} (once; argon2 per user)", dir.display());
    let started = std::time::Instant::now();
    let server = start_qun(qun_binary, &dir.join("data"), None).await?;
    let built = async {
        let rest = RestClient::new(&server.base_url, ORG, APP);
        let admin = rest.with_token(rest.app_token(CLIENT_ID, CLIENT_SECRET).await?);
        let names: Vec<String> = (0..users).map(user_name).collect();
        setup::register_users(&admin, &names).await?;
        let tokens = setup::user_tokens(&admin, &names).await?;
        anyhow::Ok(Fixture { data_dir: dir.join("data"), users: names, tokens })
    }
    .await;
    server.stop(Duration::from_secs(30)).await;
    let fixture = built?;
    std::fs::write(&manifest, serde_json::to_vec(&fixture)?)?;
    eprintln!("fixture ready in {:.0} s", started.elapsed().as_secs_f64());
    Ok(fixture)
}

/// The smallest complete fixture under `root` with at least `users` users.
fn existing_fixture(root: &Path, users: usize) -> Option<Fixture> {
    let mut found: Vec<Fixture> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("fixture-"))
        .filter_map(|entry| {
            let text = std::fs::read_to_string(entry.path().join("fixture.json")).ok()?;
            let mut fixture: Fixture = serde_json::from_str(&text).ok()?;
            fixture.data_dir = entry.path().join("data");
            (fixture.users.len() >= users).then_some(fixture)
        })
        .collect();
    found.sort_by_key(|fixture| fixture.users.len());
    found.into_iter().next()
}

/// A fresh copy of the fixture's data directory for one run.
pub fn copy_data_dir(fixture: &Fixture, to: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(to);
    copy_tree(&fixture.data_dir, to)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
