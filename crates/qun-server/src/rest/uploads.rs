//! Receiving an uploaded file (multipart part `file`) and naming it in a download: shared by
//! chat files (`rest::chatfiles`) and group shared files (`rest::group_content`).
//!
//! A file is received whole into memory, never more than [`MAX_UPLOAD_BYTES`] of it: the
//! size is counted chunk by chunk as it streams in and the upload is refused at the first
//! byte over. `FileStorage::upload_turn` bounds how many are received at once, and
//! [`RECEIVE_TIMEOUT`] how long one may take, so clients trickling bytes cannot hold every
//! turn for long.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use object_store::PutPayload;
use qun_core::limits;

pub(crate) use crate::storage::MAX_UPLOAD_BYTES;

/// The body limit of the upload routes: the largest file plus room for the multipart framing
/// (boundaries, part headers, small fields), so a file just over the limit is still read and
/// refused with our reply rather than cut off by the transport.
pub(crate) const UPLOAD_BODY_LIMIT_BYTES: usize = MAX_UPLOAD_BYTES + 64 * 1024;

/// Not an Agora limit: keeps stored metadata and the download's Content-Disposition small.
const FILE_NAME_MAX_CHARS: usize = 256;
/// A text field kept beside the file (e.g. `thumbnail-width`) is short.
const FIELD_MAX_BYTES: usize = 256;
/// The longest an upload may take to arrive: 10 MB in 5 minutes is 280 kbit/s, slower than
/// any phone that can send a photo.
pub(crate) const RECEIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// A file received in full, in the chunks it arrived in (no copy).
#[derive(Debug)]
pub(crate) struct ReceivedFile {
    /// The name to keep: see [`file_name`].
    pub(crate) name: String,
    /// The part's Content-Type, if it named one.
    pub(crate) content_type: Option<String>,
    pub(crate) size: usize,
    chunks: Vec<Bytes>,
}

impl ReceivedFile {
    /// The bytes as an object store payload (the chunks, not copied).
    pub(crate) fn payload(&self) -> PutPayload {
        self.chunks.iter().cloned().collect()
    }
}

/// The upload's file and the text fields asked for.
#[derive(Debug)]
pub(crate) struct UploadForm {
    pub(crate) file: ReceivedFile,
    pub(crate) fields: BTreeMap<String, String>,
}

/// Why an upload was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UploadRefused {
    #[error("the file is larger than {MAX_UPLOAD_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    Malformed(String),
}

impl From<MultipartError> for UploadRefused {
    fn from(error: MultipartError) -> Self {
        // The route's body limit: the file with its framing is too large.
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadRefused::TooLarge
        } else {
            UploadRefused::Malformed(error.body_text())
        }
    }
}

/// Reads the whole multipart body: the first part named `file` (refused past
/// [`MAX_UPLOAD_BYTES`]) and the text parts named in `fields` (before or after it; the web
/// SDK appends `thumbnail-width` after the file). Other parts are read and dropped. Refused
/// when it takes longer than [`RECEIVE_TIMEOUT`].
pub(crate) async fn receive_upload(multipart: &mut Multipart, fields: &[&str]) -> Result<UploadForm, UploadRefused> {
    receive_within(RECEIVE_TIMEOUT, multipart, fields).await
}

async fn receive_within(
    timeout: Duration,
    multipart: &mut Multipart,
    fields: &[&str],
) -> Result<UploadForm, UploadRefused> {
    tokio::time::timeout(timeout, receive_parts(multipart, fields)).await.unwrap_or_else(|_| {
        Err(UploadRefused::Malformed(format!("the upload did not arrive within {} ms", timeout.as_millis())))
    })
}

async fn receive_parts(multipart: &mut Multipart, fields: &[&str]) -> Result<UploadForm, UploadRefused> {
    let mut file = None;
    let mut texts = BTreeMap::new();
    while let Some(mut field) = multipart.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" && file.is_none() {
            let kept_name = file_name(field.file_name())?;
            let content_type = field.content_type().map(str::to_owned);
            let (mut chunks, mut size) = (Vec::new(), 0usize);
            while let Some(chunk) = field.chunk().await? {
                size += chunk.len();
                if size > MAX_UPLOAD_BYTES {
                    return Err(UploadRefused::TooLarge);
                }
                chunks.push(chunk);
            }
            file = Some(ReceivedFile { name: kept_name, content_type, size, chunks });
        } else if fields.contains(&name.as_str()) {
            let mut text = Vec::new();
            while let Some(chunk) = field.chunk().await? {
                text.extend_from_slice(&chunk);
                if text.len() > FIELD_MAX_BYTES {
                    return Err(UploadRefused::Malformed(format!("the field {name:?} is too long")));
                }
            }
            let text = String::from_utf8(text)
                .map_err(|_| UploadRefused::Malformed(format!("the field {name:?} is not UTF-8 text")))?;
            texts.insert(name, text);
        } else {
            while field.chunk().await?.is_some() {}
        }
    }
    let file = file.ok_or_else(|| UploadRefused::Malformed("the multipart part \"file\" is missing".to_owned()))?;
    Ok(UploadForm { file, fields: texts })
}

/// Reads and discards what is left of a multipart body: closing a connection with unread
/// request bytes makes the kernel reset it, and the client may then lose our error reply.
/// The route's body limit bounds what this reads.
pub(crate) async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// The name to keep for an uploaded file: its last path component (some browsers send a
/// full path), without control characters; "file" when it has none.
pub(crate) fn file_name(sent: Option<&str>) -> Result<String, UploadRefused> {
    let sent = sent.unwrap_or("");
    let last = sent.rsplit(['/', '\\']).next().unwrap_or(sent);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if limits::chars(cleaned) > FILE_NAME_MAX_CHARS {
        return Err(UploadRefused::Malformed(format!("the file name is longer than {FILE_NAME_MAX_CHARS} characters")));
    }
    Ok(if cleaned.is_empty() { "file".to_owned() } else { cleaned.to_owned() })
}

/// A request header's value as text, if it has one.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// How a download is shown: `attachment` (saved) or `inline` (shown), with the name twice:
/// plain ASCII for old clients, RFC 5987 UTF-8 for the rest.
pub(crate) fn content_disposition(disposition: &str, file_name: &str) -> HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_file_names_keep_their_last_component() {
        assert_eq!(file_name(Some("C:\\fakepath\\report.pdf")).ok().as_deref(), Some("report.pdf"));
        assert_eq!(file_name(Some("a/b/c.txt")).ok().as_deref(), Some("c.txt"));
        assert_eq!(file_name(Some("bad\u{0}name")).ok().as_deref(), Some("badname"));
        assert_eq!(file_name(None).ok().as_deref(), Some("file"));
        assert!(file_name(Some(&"n".repeat(257))).is_err());
    }

    #[test]
    fn content_disposition_is_a_valid_header_for_any_name() {
        assert_eq!(
            content_disposition("attachment", "résumé \"v2\".txt").to_str().ok(),
            Some("attachment; filename=\"r_sum_ _v2_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.txt")
        );
        assert_eq!(
            content_disposition("inline", "a.png").to_str().ok(),
            Some("inline; filename=\"a.png\"; filename*=UTF-8''a.png")
        );
    }

    /// A multipart body that sends the start of a `file` part and then nothing, ever.
    async fn stalled_upload() -> Multipart {
        use axum::extract::FromRequest;
        use futures_util::StreamExt;
        let start = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\nabc";
        let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(start)) })
            .chain(futures_util::stream::pending());
        let request = axum::http::Request::builder()
            .header("content-type", "multipart/form-data; boundary=b")
            .body(axum::body::Body::from_stream(body))
            .unwrap();
        Multipart::from_request(request, &()).await.unwrap()
    }

    #[tokio::test]
    async fn a_stalled_upload_is_refused_after_the_timeout() {
        let mut multipart = stalled_upload().await;
        let started = std::time::Instant::now();
        let refused = receive_within(Duration::from_millis(100), &mut multipart, &[]).await.unwrap_err();
        assert_eq!(refused, UploadRefused::Malformed("the upload did not arrive within 100 ms".into()));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn a_file_in_chunks_is_one_payload() {
        let file = ReceivedFile {
            name: "f".into(),
            content_type: None,
            size: 6,
            chunks: vec![Bytes::from_static(b"abc"), Bytes::from_static(b"def")],
        };
        assert_eq!(file.payload().content_length(), 6);
    }
}
