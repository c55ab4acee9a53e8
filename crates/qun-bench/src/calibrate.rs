//! What this machine can do without Qun, measured in the same run so that every Qun figure
//! can be read as a ratio:
//!
//! - `baseline-ws`: a bare broadcast websocket server (tokio + tokio-tungstenite). Every frame
//!   a client sends goes to every other client; each client's writer sends all frames that
//!   are waiting with one flush (one write syscall per batch), as a good fan-out server does.
//! - `baseline-http`: an axum server whose handlers do nothing but answer `{}` on the same
//!   paths S6 loads.
//! - loopback probes: the cost of one small `send()` and of one `writev()` of many small
//!   frames on a loopback TCP socket.

use std::io::{IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames one baseline client may lag behind before it misses some (counted as dropped).
const BROADCAST_BACKLOG: usize = 65_536;
/// Frames a baseline writer sends per flush at most.
const FLUSH_BATCH: usize = 256;

/// `qun-bench baseline-ws --listen ADDR`: runs until killed. `GET /health` over plain HTTP
/// is answered too (by the websocket port: a request without an upgrade gets `200 ok`).
pub fn run_broadcast_server(listen: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let (hub, _) = broadcast::channel::<(u64, Bytes)>(BROADCAST_BACKLOG);
        let next_client = Arc::new(AtomicU64::new(1));
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let hub = hub.clone();
            let me = next_client.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut peek = [0u8; 512];
                let Ok(n) = stream.peek(&mut peek).await else { return };
                let head = String::from_utf8_lossy(&peek[..n]).to_ascii_lowercase();
                if !head.contains("upgrade: websocket") {
                    answer_health(stream).await;
                    return;
                }
                // Small read buffers, as a server holding many connections must have (the
                // default is 128 KiB per connection).
                let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(64 * 1024);
                let Ok(socket) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
                    return;
                };
                let (mut sink, mut source) = socket.split();
                let mut feed = hub.subscribe();
                tokio::spawn(async move {
                    let mut batch = Vec::with_capacity(FLUSH_BATCH);
                    loop {
                        match feed.recv().await {
                            Ok(first) => batch.push(first),
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                        while batch.len() < FLUSH_BATCH {
                            match feed.try_recv() {
                                Ok(next) => batch.push(next),
                                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                                Err(_) => break,
                            }
                        }
                        for (from, frame) in batch.drain(..) {
                            if from != me && sink.feed(WsMessage::Binary(frame)).await.is_err() {
                                return;
                            }
                        }
                        if sink.flush().await.is_err() {
                            return;
                        }
                    }
                });
                while let Some(Ok(message)) = source.next().await {
                    if let WsMessage::Binary(frame) = message {
                        let _ = hub.send((me, frame));
                    }
                }
            });
        }
    })
}

async fn answer_health(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = [0u8; 1024];
    let _ = stream.read(&mut buffer).await;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
}

/// `qun-bench baseline-http --listen ADDR`: empty handlers on S6's paths.
pub fn run_empty_http_server(listen: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let empty = || async { ([("content-type", "application/json")], "{}") };
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/{org}/{app}/users/{user}", get(empty))
            .route("/{org}/{app}/messages/users", axum::routing::post(empty));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, router).await?;
        anyhow::Ok(())
    })
}

/// The cost of small writes on loopback TCP.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LoopbackProbe {
    pub frame_bytes: usize,
    /// Wall µs per `send()` of one frame.
    pub send_us: f64,
    pub frames_per_writev: usize,
    /// Wall µs per `writev()` of `frames_per_writev` frames, and per frame in it.
    pub writev_us: f64,
    pub writev_us_per_frame: f64,
}

/// Measures one `send()` per frame against one `writev()` per batch, with a reader thread
/// draining the other end.
pub fn loopback_probe() -> anyhow::Result<LoopbackProbe> {
    const FRAME: usize = 64;
    const SENDS: usize = 100_000;
    const PER_WRITEV: usize = 64;
    const WRITEVS: usize = 10_000;
    let send_us = time_writes(SENDS, |stream, frame| {
        stream.write_all(frame)?;
        Ok(())
    })?;
    let writev_us = time_writes(WRITEVS, |stream, frame| {
        let slices: Vec<IoSlice<'_>> = (0..PER_WRITEV).map(|_| IoSlice::new(frame)).collect();
        let mut written = stream.write_vectored(&slices)?;
        // Rarely partial on loopback; finish plainly if so.
        while written < FRAME * PER_WRITEV {
            let rest = (FRAME * PER_WRITEV - written).min(FRAME);
            stream.write_all(&frame[..rest])?;
            written += rest;
        }
        Ok(())
    })?;
    Ok(LoopbackProbe {
        frame_bytes: FRAME,
        send_us,
        frames_per_writev: PER_WRITEV,
        writev_us,
        writev_us_per_frame: writev_us / PER_WRITEV as f64,
    })
}

fn time_writes(
    calls: usize,
    mut write: impl FnMut(&mut TcpStream, &[u8]) -> std::io::Result<()>,
) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; 1 << 20];
        while stream.read(&mut buffer)? > 0 {}
        Ok(())
    });
    let mut stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let frame = [7u8; 64];
    let started = Instant::now();
    for _ in 0..calls {
        write(&mut stream, &frame)?;
    }
    let elapsed = started.elapsed();
    drop(stream);
    let _ = reader.join();
    Ok(elapsed.as_secs_f64() * 1e6 / calls as f64)
}
