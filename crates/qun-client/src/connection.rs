//! A logged-in msync connection: the login handshake, and the cheap cloneable handle through
//! which an application sends, heartbeats and closes. The reading, pulling and acking happen in
//! the connection's one background task (`driver`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use qun_proto::msync::{self, Command as MsyncCommand, KeyValue, MessageBody, Provision, StatusCode};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::driver::{self, Command};
use crate::error::{Error, Result};
use crate::frames::{self, LoginFrame, Target};
use crate::incoming::{Incoming, ReceiveMode};

/// Commands (sends, heartbeats, close) waiting for the connection's task: callers wait when
/// it is full, so a fast sender cannot queue without limit.
const COMMAND_QUEUE: usize = 64;

/// How a connection behaves. `Default` is the SDK's behaviour.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `Provision.deviceName` (the SDK sends `"webim"`).
    pub device_name: String,
    /// `Provision.version` (the SDK sends its own version).
    pub version: String,
    /// This connection's resource; by default `qun_<device>_<ms>` like the SDK's
    /// `webim_web_<ms>`. The server's reply may replace it.
    pub resource: Option<String>,
    /// How much of each message to decode (see [`ReceiveMode`]).
    pub receive_mode: ReceiveMode,
    /// Capacity of the [`Incoming`] channel. When it is full the connection stops reading
    /// (and so stops acknowledging) until the application catches up.
    pub incoming_capacity: usize,
    /// Send a heartbeat (UNREAD) when nothing arrived for this long (SDK: 30 s).
    pub heartbeat_interval: Duration,
    /// How long a send waits for its ack (SDK: 15 s).
    pub ack_timeout: Duration,
    /// How long to wait for the websocket and for the login reply (SDK: 10 s each).
    pub login_timeout: Duration,
    /// The local (source) address to connect from, port chosen by the kernel; `None` lets the
    /// kernel pick. A load generator spreads thousands of connections over several loopback
    /// addresses (127.0.0.x), since each address has only so many ephemeral ports.
    pub local_address: Option<std::net::IpAddr>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            device_name: "qun-client".to_owned(),
            version: concat!("qun-client-", env!("CARGO_PKG_VERSION")).to_owned(),
            resource: None,
            receive_mode: ReceiveMode::Full,
            incoming_capacity: 256,
            heartbeat_interval: Duration::from_secs(30),
            ack_timeout: Duration::from_secs(15),
            login_timeout: Duration::from_secs(10),
            local_address: None,
        }
    }
}

/// The outcome of an accepted send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The message's server id: recipients receive the message under this id.
    pub server_id: u64,
    /// The client meta id the message went up with (pass it to
    /// [`Connection::resend_with_meta_id`] to resend the same message).
    pub meta_id: u64,
    /// Server time of the ack, ms since the Unix epoch.
    pub timestamp: u64,
}

/// Running totals of one connection, cheap to keep (relaxed atomics) and to read at any time,
/// also after the [`Incoming`] receiver was dropped.
#[derive(Debug, Default)]
pub struct Counters {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    /// Messages received (in either receive mode), own echoes not included.
    pub messages: AtomicU64,
    /// Group events received.
    pub group_events: AtomicU64,
    /// This connection's own messages that came back in a pull and were dropped.
    pub own_echoes: AtomicU64,
    /// Sends acknowledged OK / refused.
    pub acks_ok: AtomicU64,
    pub acks_refused: AtomicU64,
    /// Pull batches received.
    pub batches: AtomicU64,
    /// Frames that could not be decoded (skipped).
    pub bad_frames: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The value of one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What the handle and the task both need.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) login: LoginFrame,
    pub(crate) ack_timeout: Duration,
    pub(crate) counters: Counters,
    /// Set by [`Connection::close`] before it asks the task to close, so that a task waiting
    /// for room in a full [`Incoming`] channel gives up waiting.
    pub(crate) closing: watch::Sender<bool>,
}

/// A handle to one logged-in connection. Clone it freely (one task reads stdin and sends while
/// another prints, say); the connection logs out when [`Connection::close`] is called or the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub struct Connection {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl Connection {
    /// Connects to `ws_url` (e.g. `ws://127.0.0.1:8080/websocket`), logs `user` in with `token`
    /// as the device `device_uuid`, asks for the unread summary and starts pulling. Returns the
    /// handle and the channel of everything the server delivers, ending with
    /// [`Incoming::Closed`].
    pub async fn connect(
        ws_url: &str,
        app_key: &str,
        user: &str,
        token: &str,
        device_uuid: &str,
    ) -> Result<(Connection, mpsc::Receiver<Incoming>)> {
        Connection::connect_with(ws_url, app_key, user, token, device_uuid, ConnectOptions::default()).await
    }

    /// [`Connection::connect`] with options.
    pub async fn connect_with(
        ws_url: &str,
        app_key: &str,
        user: &str,
        token: &str,
        device_uuid: &str,
        options: ConnectOptions,
    ) -> Result<(Connection, mpsc::Receiver<Incoming>)> {
        let login_timeout = timeout_error("login reply", options.login_timeout);
        let started_ms = frames::now_ms();
        let mut login = LoginFrame {
            app_key: app_key.to_owned(),
            user: user.to_owned(),
            token: token.to_owned(),
            device_uuid: device_uuid.to_owned(),
            device_name: options.device_name.clone(),
            resource: options.resource.clone().unwrap_or_else(|| format!("qun_{device_uuid}_{started_ms}")),
            version: options.version.clone(),
            session_id: format!("{started_ms}:"),
        };
        // Small buffers: a benchmark holds thousands of these, and tungstenite zero-fills the
        // free part of the read buffer before every read (at 8 KB that was a tenth of a
        // generator core in a 19,000-member room). Pull batches can still be large.
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(8 * 1024)
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20));
        let mut socket = tokio::time::timeout(options.login_timeout, open_websocket(ws_url, config, &options))
            .await
            .map_err(|_| timeout_error("websocket connection", options.login_timeout))??;

        socket.send(WsMessage::Binary(frames::provision(&login))).await?;
        let reply = tokio::time::timeout(options.login_timeout, async {
            loop {
                match socket.next().await {
                    Some(Ok(WsMessage::Binary(frame))) => return Ok(frame),
                    Some(Ok(WsMessage::Close(_))) | None => return Err(Error::Closed),
                    Some(Err(error)) => return Err(Error::from(error)),
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await
        .map_err(|_| login_timeout)??;
        let reply = msync::decode_msync(reply).map_err(|e| Error::Protocol(format!("login reply: {e}")))?;
        if reply.known_command() != Some(MsyncCommand::Provision) {
            return Err(Error::Protocol(format!("login answered with command {:?}", reply.command)));
        }
        let reply: Provision = reply.decode_payload().map_err(|e| Error::Protocol(format!("login reply: {e}")))?;
        let status = reply.status.unwrap_or_else(msync::Status::ok);
        // The raw value: the generated getter would take an unknown code for OK.
        if status.error_code.unwrap_or(StatusCode::Ok as i32) != StatusCode::Ok as i32 {
            let _ = socket.close(None).await;
            return Err(Error::LoginRefused {
                code: status.error_code.unwrap_or_default(),
                reason: status.reason.unwrap_or_default(),
            });
        }
        if let Some(resource) = reply.resource.filter(|r| !r.is_empty()) {
            login.resource = resource;
        }
        // The SDK's first request: which queues have something for me.
        socket.send(WsMessage::Binary(frames::unread())).await?;

        let shared = Arc::new(Shared {
            login,
            ack_timeout: options.ack_timeout,
            counters: Counters::default(),
            closing: watch::Sender::new(false),
        });
        let (commands, command_receiver) = mpsc::channel(COMMAND_QUEUE);
        let (incoming, incoming_receiver) = mpsc::channel(options.incoming_capacity.max(1));
        tokio::spawn(driver::run(socket, shared.clone(), command_receiver, incoming, options));
        Ok((Connection { commands, shared }, incoming_receiver))
    }

    /// The logged-in user.
    pub fn user(&self) -> &str {
        &self.shared.login.user
    }

    /// `org#app`.
    pub fn app_key(&self) -> &str {
        &self.shared.login.app_key
    }

    /// The resource the server adopted for this connection.
    pub fn resource(&self) -> &str {
        &self.shared.login.resource
    }

    /// The connection's running totals.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    /// Sends a text message to a group and waits for the ack.
    pub async fn send_group_text(&self, group: &str, text: &str, ext: Vec<KeyValue>) -> Result<Sent> {
        let target = Target::Group(group.to_owned());
        self.send(&target, frames::text_body(self.user(), &target, text, ext)).await
    }

    /// Sends a 1:1 text message and waits for the ack.
    pub async fn send_user_text(&self, peer: &str, text: &str, ext: Vec<KeyValue>) -> Result<Sent> {
        let target = Target::User(peer.to_owned());
        self.send(&target, frames::text_body(self.user(), &target, text, ext)).await
    }

    /// Sends any message body to `target` under a new client meta id and waits for the ack.
    /// Unset `type`, `from` and `to` of the body are filled in as the SDK fills them.
    pub async fn send(&self, target: &Target, body: MessageBody) -> Result<Sent> {
        self.resend_with_meta_id(frames::next_meta_id(), target, body).await
    }

    /// Sends `body` under a meta id of the caller's choosing, e.g. the one of an earlier send
    /// whose ack was lost: the server answers a resend with the first send's server id.
    pub async fn resend_with_meta_id(&self, meta_id: u64, target: &Target, body: MessageBody) -> Result<Sent> {
        let login = &self.shared.login;
        let frame = frames::send_meta(frames::message_meta(&login.app_key, &login.user, meta_id, target, body));
        let (reply, ack) = oneshot::channel();
        let exchange = async {
            self.commands.send(Command::Send { meta_id, frame, reply }).await.map_err(|_| Error::Closed)?;
            ack.await.map_err(|_| Error::Closed)?
        };
        // As the SDK: no ack within the timeout is a failed send (the SDK also reconnects).
        tokio::time::timeout(self.shared.ack_timeout, exchange)
            .await
            .map_err(|_| timeout_error("send ack", self.shared.ack_timeout))?
    }

    /// Sends a text message to a chat room with the SDK's priority tag (`chatroom_msg_tag`:
    /// 0 high, 1 normal, 2 low; `None` sends none) and waits for the ack. The server acks a
    /// message it dropped under load too: the ack says it was accepted, not delivered.
    pub async fn send_room_text(&self, room: &str, text: &str, priority: Option<i64>) -> Result<Sent> {
        let target = Target::Room(room.to_owned());
        let login = &self.shared.login;
        let meta_id = frames::next_meta_id();
        let body = frames::text_body(self.user(), &target, text, Vec::new());
        let mut meta = frames::message_meta(&login.app_key, &login.user, meta_id, &target, body);
        meta.ext = priority.map(frames::room_priority).into_iter().collect();
        let ack = self.request(meta_id, frames::send_meta(meta)).await?;
        Ok(Sent { server_id: ack.server_id.unwrap_or(0), meta_id, timestamp: ack.timestamp.unwrap_or(0) })
    }

    /// Joins a chat room (MUC JOIN over the websocket, as the SDK's `joinChatRoom`), leaving
    /// the others first with `leave_others`. Returns what the ack's `chatroomInfo` says about
    /// the room and this user (`is_all_mute`, `member_count`, `mute_duration`, ...). The room's
    /// recent messages follow as incoming messages.
    pub async fn join_room(&self, room: &str, leave_others: bool) -> Result<serde_json::Value> {
        self.join_room_with_ext(room, leave_others, "").await
    }

    /// [`Connection::join_room`] with the `ext` the SDK's `joinChatRoom(roomId, ext)` sends: the
    /// other members get it with their memberPresence event.
    pub async fn join_room_with_ext(&self, room: &str, leave_others: bool, ext: &str) -> Result<serde_json::Value> {
        let login = &self.shared.login;
        let meta_id = frames::next_meta_id();
        let presence = frames::RoomPresence::Join { leave_others, ext };
        let meta = frames::room_presence_meta(&login.app_key, &login.user, meta_id, room, presence);
        let ack = self.request(meta_id, frames::send_meta(meta)).await?;
        let info = ack
            .metas
            .first()
            .and_then(|meta| meta.decode_payload::<msync::MucBody>().ok())
            .and_then(|body| body.status)
            .and_then(|status| status.chatroom_info)
            .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
            .and_then(|mut info| info.get_mut(login.user.as_str()).map(serde_json::Value::take))
            .unwrap_or(serde_json::Value::Null);
        Ok(info)
    }

    /// Leaves a chat room (MUC LEAVE, as the SDK's `leaveChatRoom`).
    pub async fn leave_room(&self, room: &str) -> Result<()> {
        let login = &self.shared.login;
        let meta_id = frames::next_meta_id();
        let meta = frames::room_presence_meta(&login.app_key, &login.user, meta_id, room, frames::RoomPresence::Leave);
        self.request(meta_id, frames::send_meta(meta)).await.map(|_| ())
    }

    /// Sends an uplink frame carrying meta `meta_id` and waits for its whole ack.
    async fn request(&self, meta_id: u64, frame: bytes::Bytes) -> Result<msync::CommSyncDl> {
        let (reply, ack) = oneshot::channel();
        let exchange = async {
            self.commands.send(Command::Request { meta_id, frame, reply }).await.map_err(|_| Error::Closed)?;
            ack.await.map_err(|_| Error::Closed)?
        };
        tokio::time::timeout(self.shared.ack_timeout, exchange)
            .await
            .map_err(|_| timeout_error("ack", self.shared.ack_timeout))?
    }

    /// Sends a heartbeat (UNREAD) now; the server answers with the unread summary, and the
    /// connection pulls what it lists. The connection also does this by itself.
    pub async fn heartbeat(&self) -> Result<()> {
        self.commands.send(Command::Heartbeat).await.map_err(|_| Error::Closed)
    }

    /// Logs out (LOGOUT, as the 4.x SDK's `close()`), closes the websocket and waits until the
    /// connection's task is done. Pending sends fail with [`Error::Closed`]. Closing a closed
    /// connection does nothing.
    pub async fn close(&self) {
        self.shared.closing.send_replace(true);
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Close { done }).await.is_ok() {
            let _ = finished.await;
        }
    }
}

/// The websocket handshake, from `options.local_address` when one is set.
async fn open_websocket(
    ws_url: &str,
    config: WebSocketConfig,
    options: &ConnectOptions,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>> {
    let Some(local_address) = options.local_address else {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true).await?;
        return Ok(socket);
    };
    let request = ws_url.into_client_request()?;
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(Error::Protocol(format!("only ws:// URLs can be used with a local address: {ws_url}")));
    }
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let remote = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Error::Protocol(format!("resolving {host}: {e}")))?
        .find(|address| address.is_ipv4() == local_address.is_ipv4())
        .ok_or_else(|| Error::Protocol(format!("{host} has no address of the local address's family")))?;
    let tcp = if local_address.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
        .and_then(|socket| {
            socket.bind(std::net::SocketAddr::new(local_address, 0))?;
            Ok(socket)
        })
        .map_err(|e| Error::Protocol(format!("binding {local_address}: {e}")))?;
    let stream = tcp.connect(remote).await.map_err(|e| Error::Protocol(format!("connecting to {remote}: {e}")))?;
    stream.set_nodelay(true).map_err(|e| Error::Protocol(format!("nodelay: {e}")))?;
    let (socket, _) =
        tokio_tungstenite::client_async_with_config(request, MaybeTlsStream::Plain(stream), Some(config)).await?;
    Ok(socket)
}

fn timeout_error(what: &'static str, after: Duration) -> Error {
    Error::Timeout { what, seconds: after.as_secs() }
}
