//! The Qun server: the REST API, services and configuration behind the `qun` binary.
//!
//! Layout:
//! - [`config`]: flags, environment, TOML file.
//! - [`state`]: the cheap, cloneable handle every request gets (store, ids, apps).
//! - [`http`]: the accept loop (connection caps, request deadlines), the axum router, the
//!   envelope and error replies, authentication of callers.
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
pub mod rate;
pub mod rest;
pub mod services;
pub mod state;
pub mod storage;
pub mod telemetry;

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::time::Instant;

pub use state::AppState;

/// Starts the server with `config` and runs until `shutdown` completes. The data directory
/// is locked first (see [`data_dir`]), in every database mode, and stays locked until this
/// returns: a second server on the same directory fails here. The process's open-file limit
/// is raised as far as it may go (every connection is a file).
pub async fn serve(config: config::Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let _data_dir_lock = data_dir::lock(&config.data_dir)?;
    http::limits::raise_open_file_limit();
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let metrics_listener = match config.metrics_listen {
        Some(address) => Some(TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?),
        None => None,
    };
    let state = AppState::open(config).await?;
    if let Some(listener) = metrics_listener {
        serve_metrics(listener, &state)?;
    }
    run(listener, state, shutdown).await
}

/// `/metrics` on a listener of its own (`--metrics-listen`), until the server stops.
fn serve_metrics(listener: TcpListener, state: &AppState) -> anyhow::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "metrics listening");
    let lifecycle = state.lifecycle.clone();
    let router = http::metrics_router(state.clone());
    state.lifecycle.spawn(async move {
        let stopping = async move { lifecycle.stopping().await };
        if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stopping).await {
            tracing::error!(%error, "the metrics listener failed");
        }
    });
    Ok(())
}

/// How long a stop may take: in-flight requests, websockets saving their cursors and closing,
/// the message writer committing what was queued. What is still running then is dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves requests on `listener` until `shutdown` completes, then stops within
/// [`SHUTDOWN_GRACE`]: no new connections; every task is told to stop (see [`lifecycle`]);
/// requests in flight may finish until the grace ends, when the connections still open are
/// closed; then the server waits for every task, until the same deadline.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let settings = http::serve::HttpSettings::from_config(&state.config);
    tracing::info!(%address, backend = state.store.backend(), "qun listening");
    let lifecycle = state.lifecycle.clone();
    let server = http::serve::start(listener, http::router(state), settings, lifecycle.clone());
    tokio::select! {
        () = shutdown => {}
        () = lifecycle.stopping() => {}
    }
    lifecycle.stop();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let cut = server.stop(deadline).await;
    if cut > 0 {
        tracing::warn!(connections = cut, "connections still busy at the end of the grace period are closed");
    }
    let left = lifecycle.wait(deadline.saturating_duration_since(Instant::now())).await;
    if left > 0 {
        tracing::warn!(tasks = left, "tasks still running at the end of the grace period are dropped");
    }
    tracing::info!("qun stopped");
    Ok(())
}

/// Completes on ctrl-c or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a SIGTERM that arrives as soon as the server answers (a
/// supervisor's, a test's) then stops it rather than killing the process unstopped. Call it
/// inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (terminate, interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    };
    async move {
        #[cfg(unix)]
        {
            /// Completes when `signal` arrives; never if its handler could not be installed.
            async fn received(signal: std::io::Result<tokio::signal::unix::Signal>) {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "a signal handler could not be installed");
                        std::future::pending::<()>().await;
                    }
                }
            }
            tokio::select! {
                () = received(terminate) => {}
                () = received(interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown requested");
    }
}
