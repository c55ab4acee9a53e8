//! A chat room member that only counts what the room pushes to it, on a websocket of its own.
//!
//! S4 holds 19,000 members on one generator core. Through qun-client (tungstenite) each pushed
//! frame costs an allocation, a zero-filled read buffer and a channel hop, and the core runs
//! out near 1.5 M room deliveries a second. This member speaks just enough of the protocol to
//! log in (PROVISION), join the room (MUC JOIN, as the SDK) and stay (a heartbeat UNREAD every
//! 30 s): a plain HTTP upgrade, client frames masked with a zero key, and downlink frames
//! parsed in place from one reused buffer, their metas counted by namespace without decoding
//! (`msync::scan_msync`, `msync::scan_pushed_batch`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use qun_client::frames::{self, LoginFrame, RoomPresence};
use qun_proto::msync::{self, CommSyncDl, Command, Message, Provision, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The buffer every frame is read into; a larger frame grows it for as long as it lasts.
const BUFFER_BYTES: usize = 16 * 1024;
/// Heartbeat (UNREAD) interval: the server closes a connection silent for 95 s.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How long the login and the join may take.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// What a counting member has seen; read by the worker while the member's task runs.
#[derive(Debug, Default)]
pub struct Counts {
    /// Chat messages pushed to this member.
    pub messages: AtomicU64,
    /// Set when the connection ended.
    pub closed: AtomicBool,
}

/// Logs in as `login`, joins `room`, and counts from then on (until the connection ends or the
/// returned handle aborts the counting task). Returns once the join was acknowledged OK.
pub async fn join(
    ws_url: &str,
    source: Option<IpAddr>,
    login: LoginFrame,
    room: &str,
) -> anyhow::Result<(Arc<Counts>, tokio::task::AbortHandle)> {
    let mut socket = Socket::connect(ws_url, source).await?;
    socket.send(&frames::provision(&login)).await?;
    socket
        .await_answer("login reply", |command, payload| {
            (command == Command::Provision as i32).then(|| {
                Provision::decode(payload).map_err(Into::into).and_then(|reply| accepted("login", reply.status))
            })
        })
        .await?;

    let meta_id = frames::next_meta_id();
    let presence = RoomPresence::Join { leave_others: false, ext: "" };
    socket
        .send(&frames::send_meta(frames::room_presence_meta(&login.app_key, &login.user, meta_id, room, presence)))
        .await?;
    socket
        .await_answer("join ack", |command, payload| {
            if command != Command::Sync as i32 || msync::scan_pushed_batch(payload).is_some() {
                return None;
            }
            match CommSyncDl::decode(payload) {
                Err(error) => Some(Err(error.into())),
                Ok(ack) if ack.meta_id == Some(meta_id) => Some(accepted("join", ack.status)),
                Ok(_) => None,
            }
        })
        .await?;

    let counts = Arc::new(Counts::default());
    let task = tokio::spawn(count(socket, counts.clone()));
    Ok((counts, task.abort_handle()))
}

/// `Ok` for an absent or OK status.
fn accepted(what: &str, status: Option<msync::Status>) -> anyhow::Result<()> {
    match status {
        Some(status) if status.error_code.unwrap_or(0) != StatusCode::Ok as i32 => {
            bail!("{what} refused: {:?}", status.reason)
        }
        _ => Ok(()),
    }
}

/// Counts until the connection ends, sending a heartbeat now and then.
async fn count(mut socket: Socket, counts: Arc<Counts>) {
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        // What is buffered first: frames that came in the same read as the join ack (the room's
        // recent messages) belong to the time of the join, not to the next read.
        let mut messages = 0;
        socket.for_each_frame(|frame| {
            if let Some((command, payload)) = msync::scan_msync(frame)
                && command == Command::Sync as i32
                && let Some(batch) = msync::scan_pushed_batch(payload)
            {
                messages += u64::from(batch.chat);
            }
        });
        counts.messages.fetch_add(messages, Ordering::Relaxed);
        tokio::select! {
            read = socket.read_more() => if read.is_err() {
                break;
            },
            _ = heartbeat.tick() => {
                if socket.send(&frames::unread()).await.is_err() {
                    break;
                }
            }
        }
    }
    counts.closed.store(true, Ordering::Relaxed);
}

/// A client websocket on a plain TCP stream: frames in, in place; binary frames out.
struct Socket {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Bytes of `buffer` read and not yet consumed: `buffer[start..end]`.
    start: usize,
    end: usize,
}

impl Socket {
    async fn connect(ws_url: &str, source: Option<IpAddr>) -> anyhow::Result<Socket> {
        let rest = ws_url.strip_prefix("ws://").context("only ws:// URLs")?;
        let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
        let remote: SocketAddr = authority.parse().with_context(|| format!("address {authority}"))?;
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let mut stream = socket.connect(remote).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: cXVuLWJlbmNoLWNvdW50ZXI=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut socket = Socket { stream, buffer: vec![0; BUFFER_BYTES], start: 0, end: 0 };
        let head_end = loop {
            if let Some(at) = socket.buffer[..socket.end].windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            socket.read_more().await?;
        };
        let head = String::from_utf8_lossy(&socket.buffer[..head_end]);
        if !head.starts_with("HTTP/1.1 101") {
            bail!("websocket upgrade refused: {}", head.lines().next().unwrap_or_default());
        }
        socket.start = head_end;
        Ok(socket)
    }

    /// Sends one binary frame, masked with a zero key (so the payload goes as it is).
    async fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x82);
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await
    }

    /// Reads what the stream has, after moving unconsumed bytes to the front (and growing
    /// the buffer when a frame does not fit).
    async fn read_more(&mut self) -> std::io::Result<()> {
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buffer.len() {
            self.buffer.resize(self.buffer.len() * 2, 0);
        } else if self.end < BUFFER_BYTES / 2 && self.buffer.len() > BUFFER_BYTES {
            self.buffer.truncate(BUFFER_BYTES);
            self.buffer.shrink_to_fit();
        }
        let read = self.stream.read(&mut self.buffer[self.end..]).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.end += read;
        Ok(())
    }

    /// Reads frames until `answer` recognises one (its msync command and payload), for at most
    /// [`ANSWER_WAIT`].
    async fn await_answer(
        &mut self,
        what: &str,
        mut answer: impl FnMut(i32, &[u8]) -> Option<anyhow::Result<()>>,
    ) -> anyhow::Result<()> {
        tokio::time::timeout(ANSWER_WAIT, async {
            loop {
                let frame = self.next_frame().await?;
                if let Some((command, payload)) = msync::scan_msync(&frame)
                    && let Some(result) = answer(command, payload)
                {
                    return result;
                }
            }
        })
        .await
        .with_context(|| format!("no {what}"))?
    }

    /// The next complete frame's payload (binary or not), reading as needed. For the login.
    async fn next_frame(&mut self) -> anyhow::Result<Vec<u8>> {
        loop {
            if let Some((header, len)) = frame_header(&self.buffer[self.start..self.end])? {
                let payload = self.buffer[self.start + header..self.start + header + len].to_vec();
                self.start += header + len;
                return Ok(payload);
            }
            self.read_more().await?;
        }
    }

    /// Hands every complete binary frame in the buffer to `each`, in place.
    fn for_each_frame(&mut self, mut each: impl FnMut(&[u8])) {
        while let Ok(Some((header, len))) = frame_header(&self.buffer[self.start..self.end]) {
            let opcode = self.buffer[self.start] & 0x0f;
            if opcode == 0x2 {
                each(&self.buffer[self.start + header..self.start + header + len]);
            }
            self.start += header + len;
        }
    }
}

/// A server frame's header length and payload length, if the whole frame is in `bytes`.
/// Server frames are never masked; fragmented messages are not used by the server.
fn frame_header(bytes: &[u8]) -> anyhow::Result<Option<(usize, usize)>> {
    if bytes.len() < 2 {
        return Ok(None);
    }
    if bytes[1] & 0x80 != 0 {
        bail!("a masked frame from the server");
    }
    let (header, len) = match bytes[1] & 0x7f {
        126 if bytes.len() >= 4 => (4, usize::from(u16::from_be_bytes([bytes[2], bytes[3]]))),
        127 if bytes.len() >= 10 => {
            (10, usize::try_from(u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes")))?)
        }
        126 | 127 => return Ok(None),
        len => (2, usize::from(len)),
    };
    Ok((bytes.len() >= header + len).then_some((header, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_of_every_length_form() {
        assert_eq!(frame_header(&[0x82]).unwrap(), None);
        assert_eq!(frame_header(&[0x82, 3, 1, 2]).unwrap(), None, "payload not all there");
        assert_eq!(frame_header(&[0x82, 3, 1, 2, 3]).unwrap(), Some((2, 3)));
        let mut medium = vec![0x82, 126, 0x01, 0x00];
        medium.resize(4 + 256, 7);
        assert_eq!(frame_header(&medium).unwrap(), Some((4, 256)));
        assert_eq!(frame_header(&medium[..100]).unwrap(), None);
        let mut large = vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        large.resize(10 + 65_536, 0);
        assert_eq!(frame_header(&large).unwrap(), Some((10, 65_536)));
        assert!(frame_header(&[0x82, 0x81, 0, 0, 0, 0, 1]).is_err(), "servers do not mask");
    }
}
