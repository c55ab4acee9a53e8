//! The Qun server: the REST API, services and configuration behind the `qun` binary.
//!
//! Layout:
//! - [`config`]: flags, environment, TOML file.
//! - [`state`]: the cheap, cloneable handle every request gets (store, ids, apps).
//! - [`http`]: the axum router, the envelope and error replies, authentication of callers.
//! - [`rest`]: one module per REST area; handlers parse, call a service, fill `qun-proto` types.
//! - [`services`]: the operations themselves (users, groups): read, decide with
//!   `qun_core::rules`, commit through `qun_store`, record events.
//!
//! - [`storage`]: where file bytes live (local disk or an S3-compatible bucket).
//! - [`gateway`]: the msync websocket: login, sends, pulls, and the hub of online sessions.
//!
//! Invariant: this crate is the only one that knows HTTP and websockets.

pub mod auth;
pub mod chat_cli;
pub mod config;
pub mod data_dir;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod lifecycle;
pub mod rest;
pub mod services;
pub mod state;
pub mod storage;
pub mod telemetry;

use std::future::{Future, IntoFuture};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::time::Instant;

pub use state::AppState;

/// Starts the server with `config` and runs until `shutdown` completes. The data directory
/// is locked first (see [`data_dir`]), in every database mode, and stays locked until this
/// returns: a second server on the same directory fails here.
pub async fn serve(config: config::Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let _data_dir_lock = data_dir::lock(&config.data_dir)?;
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let state = AppState::open(config).await?;
    run(listener, state, shutdown).await
}

/// How long a stop may take: in-flight requests, websockets saving their cursors and closing,
/// the message writer committing what was queued. What is still running then is dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves requests on `listener` until `shutdown` completes, then stops within
/// [`SHUTDOWN_GRACE`]: no new connections; every task is told to stop (see [`lifecycle`]);
/// in-flight requests finish; then the server waits for every task.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, backend = state.store.backend(), "qun listening");
    let lifecycle = state.lifecycle.clone();
    let stopping = lifecycle.clone();
    let serving = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(async move { stopping.stopping().await })
        .into_future();
    let mut serving = tokio::spawn(serving);
    tokio::select! {
        () = shutdown => {}
        ended = &mut serving => {
            lifecycle.stop();
            return Ok(ended??);
        }
    }
    lifecycle.stop();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    if tokio::time::timeout_at(deadline, &mut serving).await.is_err() {
        tracing::warn!("requests still in flight at the end of the grace period are dropped");
        serving.abort();
    }
    let left = lifecycle.wait(deadline.saturating_duration_since(Instant::now())).await;
    if left > 0 {
        tracing::warn!(tasks = left, "tasks still running at the end of the grace period are dropped");
    }
    tracing::info!("qun stopped");
    Ok(())
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested");
}
