//! The accept loop: admits connections within the caps ([`super::limits`]), serves each with
//! hyper's HTTP/1 and the router under the request head and body deadlines, and stops in two
//! steps: gracefully (no new connections; requests in flight finish; idle connections close),
//! then, at the deadline, by closing whatever is still open.
//!
//! axum::serve is not used: it sets no header read deadline (hyper's needs a timer), and its
//! connections outlive it once it is dropped.
//!
//! **Invariant:** an upgraded connection (a websocket) keeps its slot until its socket closes
//! — the slot travels inside the socket ([`Admitted`]) — and no deadline of this module
//! applies to it once upgraded: it has its own heartbeat.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use qun_proto::{ApiError, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::limits::{ConnectionCaps, ConnectionGate, ConnectionSlot};
use crate::config::Config;
use crate::ids::now_ms;
use crate::lifecycle::Lifecycle;

/// How connections are served: the caps and the deadlines.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    pub caps: ConnectionCaps,
    /// For a request's head; an idle keep-alive connection closes after it too.
    pub head_deadline: Duration,
    /// For a request's body, from the end of its head; a large declared body gets more
    /// (see [`body_allowance`]).
    pub body_deadline: Duration,
}

impl HttpSettings {
    /// The configured settings, with the total cap fitted to the open-file limit now in force.
    pub fn from_config(config: &Config) -> HttpSettings {
        let open_files = super::limits::open_file_limit();
        let configured = ConnectionCaps { total: config.max_connections, per_address: config.max_connections_per_ip };
        let caps = ConnectionCaps::fit(configured, open_files);
        tracing::info!(
            open_files = ?open_files,
            max_connections = caps.total,
            max_connections_per_ip = caps.per_address,
            "connection caps"
        );
        HttpSettings { caps, head_deadline: config.request_head_timeout, body_deadline: config.request_body_timeout }
    }
}

/// The running accept loop and its connections (see [`start`]).
#[derive(Debug)]
pub struct HttpServer {
    accepting: JoinHandle<()>,
    connections: TaskTracker,
    cut: CancellationToken,
}

/// Serves `router` on `listener` until `lifecycle` stops; then see [`HttpServer::stop`].
pub fn start(listener: TcpListener, router: Router, settings: HttpSettings, lifecycle: Lifecycle) -> HttpServer {
    let connections = TaskTracker::new();
    let cut = CancellationToken::new();
    let accepting =
        lifecycle.spawn(accept_loop(listener, router, settings, lifecycle.clone(), connections.clone(), cut.clone()));
    HttpServer { accepting, connections, cut }
}

impl HttpServer {
    /// Once the lifecycle is stopping: waits until every connection has ended or `deadline`
    /// passed, then closes those still open. Returns how many were cut (0: a clean stop).
    pub async fn stop(self, deadline: Instant) -> usize {
        if let Err(error) = self.accepting.await {
            tracing::error!(%error, "the accept loop failed");
        }
        self.connections.close();
        if tokio::time::timeout_at(deadline, self.connections.wait()).await.is_ok() {
            return 0;
        }
        let cut = self.connections.len();
        self.cut.cancel();
        // Each connection ends at its next poll, dropping its socket.
        self.connections.wait().await;
        cut
    }
}

/// How long the loop rests after an accept error that is not the connection's own (out of
/// files, out of memory), so it does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    settings: HttpSettings,
    lifecycle: Lifecycle,
    connections: TaskTracker,
    cut: CancellationToken,
) {
    let gate = ConnectionGate::new(settings.caps);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = lifecycle.stopping() => return,
        };
        // No Nagle: a websocket's frames are small and each one is wanted now. With it, a
        // frame written while the peer has not yet acknowledged the previous one waits for
        // that acknowledgement, which the peer delays by up to 40 ms (S2: a tenth of the
        // pushed 1:1 messages arrived 40–50 ms late).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "setting TCP_NODELAY failed");
        }
        match gate.admit(peer.ip()) {
            Ok(slot) => {
                let connection = Admitted { stream, _slot: slot };
                let serving =
                    serve_connection(connection, peer, router.clone(), settings, lifecycle.clone(), cut.clone());
                // Tracked twice: here, to be cut at the end of the grace, and by the lifecycle
                // like every task.
                connections.spawn(lifecycle.track(serving));
            }
            Err(_) => refuse(stream),
        }
    }
}

/// Errors of one connection (it went away before it was accepted), not of the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(error.kind(), ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset)
}

/// Answers a connection above a cap with a 503 in Agora's envelope, if the socket takes it
/// at once, and closes it: nothing is read, nothing waits.
fn refuse(stream: TcpStream) {
    let error = ApiError::new(ErrorCode::Busy, "too many connections");
    let body = serde_json::to_string(&error.envelope(now_ms() as i64, 0)).unwrap_or_default();
    let reply = format!(
        "HTTP/1.1 {} Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        error.code.http_status(),
        body.len()
    );
    let _ = stream.try_write(reply.as_bytes());
}

/// One connection, served until it ends, or until the server stops: then gracefully, and
/// cut when `cut` says the grace is over.
async fn serve_connection(
    connection: Admitted,
    peer: SocketAddr,
    router: Router,
    settings: HttpSettings,
    lifecycle: Lifecycle,
    cut: CancellationToken,
) {
    let base_allowance = settings.body_deadline;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let allowed = body_allowance(base_allowance, request.body().size_hint().exact());
        let mut request = request.map(|body| axum::body::Body::new(DeadlineBody::new(body, allowed)));
        request.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut router.clone(), request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(settings.head_deadline);
    let served = builder.serve_connection(TokioIo::new(connection), service).with_upgrades();
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => return,
        () = lifecycle.stopping() => served.as_mut().graceful_shutdown(),
    }
    tokio::select! {
        _ = served.as_mut() => {}
        () = cut.cancelled() => {}
    }
}

/// An admitted connection's socket with its slot: wherever the socket goes (into a
/// websocket, after an upgrade), the slot goes, and is freed when the socket is dropped.
#[derive(Debug)]
struct Admitted {
    stream: TcpStream,
    _slot: ConnectionSlot,
}

impl AsyncRead for Admitted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The slowest upload a body deadline allows for (a poor mobile uplink, 512 kbit/s): a
/// body of declared length gets this long on top of the base deadline.
const SLOWEST_BODY_BYTES_PER_SEC: u64 = 64 * 1024;
/// The most declared bytes that buy time: the largest body a route accepts (a shared file,
/// with its multipart envelope); a larger one is refused by its route's limit anyway.
const LONGEST_BODY_BYTES: u64 = qun_core::limits::SHARED_FILE_MAX_BYTES as u64 + 64 * 1024;

/// How long a body of `declared` bytes may take: the base deadline, plus the time a slow
/// uplink needs for what was declared, so a 10 MB upload over a poor mobile link is not cut
/// off while a trickle of a small request is.
fn body_allowance(base: Duration, declared: Option<u64>) -> Duration {
    let declared = declared.unwrap_or(0).min(LONGEST_BODY_BYTES);
    base + Duration::from_millis(declared * 1_000 / SLOWEST_BODY_BYTES_PER_SEC)
}

/// A request body that fails once its deadline has passed: a client trickling its body
/// cannot hold the connection (and a handler) beyond it. The timer is only set when a read
/// has to wait, so a body that is already there (or empty) costs none.
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    allowed: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, allowed: Duration) -> DeadlineBody {
        DeadlineBody { inner, deadline: Instant::now() + allowed, allowed, timer: None }
    }
}

/// The error a body past its deadline reads as.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs_f64())]
struct BodyDeadlinePassed(Duration);

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyDeadlinePassed(this.allowed))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_body_buys_the_time_a_slow_uplink_needs_up_to_the_largest_upload() {
        let base = Duration::from_secs(30);
        assert_eq!(body_allowance(base, None), base, "chunked: the base deadline");
        assert_eq!(body_allowance(base, Some(0)), base);
        assert_eq!(body_allowance(base, Some(2_000)), base + Duration::from_millis(30));
        assert_eq!(body_allowance(base, Some(640 * 1024)), base + Duration::from_secs(10));
        let largest = body_allowance(base, Some(LONGEST_BODY_BYTES));
        assert_eq!(largest, base + Duration::from_secs(161));
        assert_eq!(body_allowance(base, Some(u64::MAX)), largest, "a huge claim buys no more");
    }
}
