//! What the lean (counting) receivers share: their own websocket, the token login, and the
//! counts the worker reads.
//!
//! Through qun-client (tungstenite) each downlink frame costs an allocation, a zero-filled read
//! buffer and a channel hop, and one generator core runs out near 1.5 M deliveries a second.
//! A lean receiver speaks just enough of the protocol for its venue (`room_counter`,
//! `group_counter`) over [`Socket`]: a plain HTTP upgrade, client frames masked with a zero
//! key (so a payload goes as it is), and downlink frames handed over in place from one reused
//! buffer, to be read with `msync::scan_*` without decoding. It must not decode every message:
//! that is what the full receivers (qun-client) are for.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, bail};
use qun_client::frames::{self, LoginFrame};
use qun_proto::msync::{self, Command, Message, Provision, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::stamp::now_unix_us;

/// The buffer every frame is read into; a larger frame grows it for as long as it lasts.
const BUFFER_BYTES: usize = 16 * 1024;
/// How long the login (and a room join) may take.
pub const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a lean receiver has seen; read by the worker while the receiver's task runs.
#[derive(Debug, Default)]
pub struct Counts {
    /// Chat messages delivered to this receiver.
    pub messages: AtomicU64,
    /// When `messages` last grew (µs since the Unix epoch; 0: never).
    pub last_counted_unix_us: AtomicU64,
    /// Set when the connection ended.
    pub closed: AtomicBool,
}

impl Counts {
    /// Adds `messages` counted just now (nothing for 0).
    pub fn add(&self, messages: u64) {
        if messages > 0 {
            self.messages.fetch_add(messages, Ordering::Relaxed);
            self.last_counted_unix_us.store(now_unix_us(), Ordering::Relaxed);
        }
    }
}

/// Connects and logs in (PROVISION with the token); returns once the server accepted the
/// login. Frames that came after the login reply stay in the socket's buffer.
pub async fn login(ws_url: &str, source: Option<IpAddr>, login: &LoginFrame) -> anyhow::Result<Socket> {
    let mut socket = Socket::connect(ws_url, source).await?;
    socket.send(&frames::provision(login)).await?;
    socket
        .await_answer("login reply", |command, payload| {
            (command == Command::Provision as i32).then(|| {
                Provision::decode(payload).map_err(Into::into).and_then(|reply| accepted("login", reply.status))
            })
        })
        .await?;
    Ok(socket)
}

/// `Ok` for an absent or OK status.
pub fn accepted(what: &str, status: Option<msync::Status>) -> anyhow::Result<()> {
    match status {
        Some(status) if status.error_code.unwrap_or(0) != StatusCode::Ok as i32 => {
            bail!("{what} refused: {:?}", status.reason)
        }
        _ => Ok(()),
    }
}

/// A client websocket on a plain TCP stream: frames in, in place; binary frames out.
pub struct Socket {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Bytes of `buffer` read and not yet consumed: `buffer[start..end]`.
    start: usize,
    end: usize,
    /// Frames queued by [`Socket::queue`], written by the next [`Socket::flush`].
    out: Vec<u8>,
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
        let mut socket = Socket { stream, buffer: vec![0; BUFFER_BYTES], start: 0, end: 0, out: Vec::new() };
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

    /// Sends one binary frame now.
    pub async fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.queue(payload);
        self.flush().await
    }

    /// Queues one binary frame, masked with a zero key (so the payload goes as it is), for the
    /// next [`Socket::flush`].
    pub fn queue(&mut self, payload: &[u8]) {
        let frame = &mut self.out;
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
    }

    /// Writes every queued frame (one write for all of them).
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let written = self.stream.write_all(&self.out).await;
        self.out.clear();
        written
    }

    /// Reads what the stream has, after moving unconsumed bytes to the front (and growing
    /// the buffer when a frame does not fit).
    pub async fn read_more(&mut self) -> std::io::Result<()> {
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
    pub async fn await_answer(
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
    pub fn for_each_frame(&mut self, mut each: impl FnMut(&[u8])) {
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
