//! Chat files: the attachments of image, audio, video and file messages. A client uploads the
//! file (`POST /chatfiles`), sends a message whose body carries the file's URL and share
//! secret, and receivers download it (`GET /chatfiles/{uuid}`).
//!
//! A chat file is three objects in the file storage under `chatfiles/{app_id}/{uuid}/`: `file`
//! (the bytes), `thumbnail` (images only, made at upload) and `meta.json` ([`ChatFileMeta`]:
//! owner, name, content type, size, share secret hash, created time, thumbnail). There is no
//! database table: the metadata object is written last, so a chat file exists exactly when its
//! metadata does; an upload that fails half-way leaves unreferenced objects, which the sweeper
//! removes with the expired ones.
//!
//! **Access.** The uuid is random (122 bits) and the share secret 192 bits. Downloads need no
//! token: the SDK hands the URL to `<img src>` and the like, which send none, and Agora's own
//! download link works the same way. A restricted file (`restrict-access`, which the SDK always
//! sends) needs its share secret, in the `share-secret` header or query parameter.
//!
//! **Retention.** Files older than `chatfile_retention` (7 days by default, Agora's) are
//! refused with `file_expired`; every eighth of the retention (at least every second, at most
//! every hour) the sweeper deletes every object under `chatfiles/` whose last change is older
//! than the retention plus that interval. What bounds the disk is thus the upload rate over
//! the retention period (each upload at most 10 MB plus its thumbnail).

use std::time::Duration;

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetResult, PutPayload};
use qun_proto::{ApiError, ErrorCode, FILE_NO_PERMISSION};
use serde::{Deserialize, Serialize};

use crate::auth;
use crate::ids::now_ms;
use crate::services::Services;
use crate::services::thumbnails::{self, NoThumbnail, ThumbnailBox};
use crate::storage::FileStorage;

/// What is kept of a chat file besides its bytes (`meta.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFileMeta {
    /// The uploading user; `None` for the app administrator.
    pub owner: Option<String>,
    /// The file name the upload gave.
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// Whether downloads must present the share secret.
    pub restricted: bool,
    /// SHA-256 of the share secret, base64url (the secret itself is only in the upload's reply).
    pub secret_hash: String,
    pub created_ms: i64,
    pub thumbnail: Option<ThumbnailMeta>,
}

/// The thumbnail of an image, when it has one of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailMeta {
    pub content_type: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

/// A file to keep, as received.
#[derive(Debug)]
pub struct NewChatFile {
    pub owner: Option<String>,
    pub name: String,
    /// The Content-Type the upload declared, if any.
    pub declared_type: Option<String>,
    pub bytes: PutPayload,
    pub restricted: bool,
    pub thumbnail_box: ThumbnailBox,
}

/// A stored chat file: what the upload's reply says.
#[derive(Debug, Clone)]
pub struct StoredChatFile {
    pub uuid: String,
    pub share_secret: String,
}

/// An object of a chat file ready to send.
#[derive(Debug)]
pub struct ChatFileDownload {
    pub meta: ChatFileMeta,
    /// Which object: the thumbnail when one was asked for and exists, else the file.
    pub content_type: String,
    pub is_thumbnail: bool,
    pub object: GetResult,
}

/// The prefix every chat file object is under (what the sweeper lists).
const CHATFILES_PREFIX: &str = "chatfiles";
/// `meta.json` is a few hundred bytes; anything much larger is not ours.
const META_MAX_BYTES: u64 = 64 * 1024;
/// Bytes of share secret (base64url: 32 characters).
const SECRET_BYTES: usize = 24;

/// Stores a new chat file: its bytes, its thumbnail (images), then its metadata.
pub async fn store(state: &Services, app_id: i64, file: NewChatFile) -> Result<StoredChatFile, ApiError> {
    let storage = &state.files;
    let uuid = crate::services::users::new_uuid();
    let share_secret = auth::random_secret(SECRET_BYTES);
    let leading = leading_bytes(&file.bytes, 16);
    let image_format = thumbnails::image_format(&leading);
    let content_type = declared_content_type(file.declared_type.as_deref())
        .or_else(|| image_format.map(|format| format.to_mime_type().to_owned()))
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let size = file.bytes.content_length() as u64;

    let thumbnail = match image_format {
        Some(_) => thumbnail_of(storage, &file.bytes, file.thumbnail_box).await,
        None => None,
    };
    storage.put(&chatfile_key(app_id, &uuid, "file"), file.bytes).await?;
    let thumbnail = match thumbnail {
        Some(made) => {
            let meta = ThumbnailMeta {
                content_type: made.content_type.to_owned(),
                size: made.bytes.len() as u64,
                width: made.width,
                height: made.height,
            };
            storage.put(&chatfile_key(app_id, &uuid, "thumbnail"), made.bytes.into()).await?;
            Some(meta)
        }
        None => None,
    };
    let meta = ChatFileMeta {
        owner: file.owner,
        name: file.name,
        content_type,
        size,
        restricted: file.restricted,
        secret_hash: secret_hash(&share_secret),
        created_ms: now_ms() as i64,
        thumbnail,
    };
    let meta_json = serde_json::to_vec(&meta).map_err(|error| {
        tracing::error!(%error, "serializing chat file metadata failed");
        ApiError::new(ErrorCode::Internal, "internal error")
    })?;
    storage.put(&chatfile_key(app_id, &uuid, "meta.json"), meta_json.into()).await?;
    tracing::info!(
        app_id, uuid = %uuid, size, content_type = %meta.content_type, restricted = meta.restricted,
        thumbnail = meta.thumbnail.is_some(), "chat file stored"
    );
    Ok(StoredChatFile { uuid, share_secret })
}

/// The chat file `uuid` (its thumbnail if `thumbnail` and it has one), if it exists, has not
/// expired, and `secret` opens it.
pub async fn open(
    state: &Services,
    app_id: i64,
    uuid: &str,
    secret: Option<&str>,
    thumbnail: bool,
) -> Result<ChatFileDownload, ApiError> {
    let not_found = || ApiError::new(ErrorCode::FileNotFound, "file may not exists");
    if !is_uuid(uuid) {
        return Err(not_found());
    }
    let storage = &state.files;
    let raw =
        storage.get_small(&chatfile_key(app_id, uuid, "meta.json"), META_MAX_BYTES).await?.ok_or_else(not_found)?;
    let meta: ChatFileMeta = serde_json::from_slice(&raw).map_err(|error| {
        tracing::error!(app_id, uuid, %error, "unreadable chat file metadata");
        ApiError::new(ErrorCode::Internal, "internal error")
    })?;
    if is_expired(meta.created_ms, state.config.chatfile_retention, now_ms() as i64) {
        return Err(ApiError::new(ErrorCode::FileExpired, format!("file {uuid} is expired")));
    }
    let secret_opens = secret.is_some_and(|secret| secret_hash(secret) == meta.secret_hash);
    if meta.restricted && !secret_opens {
        return Err(ApiError::new(ErrorCode::FileNoPermission, FILE_NO_PERMISSION));
    }
    let (object_name, content_type, is_thumbnail) = match (&meta.thumbnail, thumbnail) {
        (Some(made), true) => ("thumbnail", made.content_type.clone(), true),
        _ => ("file", meta.content_type.clone(), false),
    };
    // Gone under the metadata: the sweeper is removing this file right now.
    let object = storage.get(&chatfile_key(app_id, uuid, object_name)).await?.ok_or_else(not_found)?;
    Ok(ChatFileDownload { meta, content_type, is_thumbnail, object })
}

/// A recalled message's attachments go with it (Agora: "recalling deletes the attachment"):
/// the chat files its contents point at (`remotePath` ending in `/chatfiles/<uuid>`) are
/// deleted, but only those `sender` uploaded — a message may name anyone's file, and a recall
/// must not delete another user's. The metadata goes first: a file stops existing with it.
/// Failures are logged; the sweeper removes what is left when it expires.
pub async fn delete_attachments(state: &Services, app_id: i64, sender: &str, contents: &[Option<String>]) {
    for uuid in contents.iter().flatten().filter_map(|path| attachment_uuid(path)) {
        let storage = &state.files;
        let meta_key = chatfile_key(app_id, uuid, "meta.json");
        let Ok(Some(raw)) = storage.get_small(&meta_key, META_MAX_BYTES).await else { continue };
        let Ok(meta) = serde_json::from_slice::<ChatFileMeta>(&raw) else { continue };
        if meta.owner.as_deref() != Some(sender) {
            continue;
        }
        for object in ["meta.json", "file", "thumbnail"] {
            if let Err(error) = storage.delete(&chatfile_key(app_id, uuid, object)).await {
                tracing::warn!(app_id, uuid, object, error = %error.description, "deleting a recalled attachment failed");
            }
        }
    }
}

/// The chat file uuid a content's `remotePath` points at, if it points at one.
fn attachment_uuid(remote_path: &str) -> Option<&str> {
    let path = remote_path.split(['?', '#']).next()?;
    let (_, tail) = path.rsplit_once("/chatfiles/")?;
    is_uuid(tail).then_some(tail)
}

/// Starts the sweeper that deletes expired chat files, unless they are kept forever.
pub fn start_sweeper(state: &Services) {
    let Some(retention) = state.config.chatfile_retention else { return };
    let every = (retention / 8).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let (storage, lifecycle) = (state.files.clone(), state.lifecycle.clone());
    state.lifecycle.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = lifecycle.stopping() => return,
            }
            // One interval of grace: the store's clock (last_modified) and ours (created_ms)
            // may differ a little, and a file is refused as expired before it vanishes.
            let removed = sweep(&storage, retention + every, now_ms() as i64).await;
            if removed > 0 {
                tracing::info!(objects = removed, "expired chat files removed");
            }
        }
    });
}

/// Deletes every chat file object last changed longer than `retention` before `now_ms`;
/// returns how many. Failures are logged and left for the next sweep.
pub async fn sweep(storage: &FileStorage, retention: Duration, now_ms: i64) -> usize {
    let mut listing = storage.list(&ObjectPath::from(CHATFILES_PREFIX));
    let mut removed = 0;
    while let Some(listed) = listing.next().await {
        let object = match listed {
            Ok(object) => object,
            Err(error) => {
                tracing::warn!(%error, "listing chat files failed; the sweep resumes next time");
                return removed;
            }
        };
        if is_expired(object.last_modified.timestamp_millis(), Some(retention), now_ms)
            && storage.delete(&object.location).await.is_ok()
        {
            removed += 1;
        }
    }
    removed
}

fn secret_hash(secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(auth::token_hash(secret))
}

fn is_expired(created_ms: i64, retention: Option<Duration>, now_ms: i64) -> bool {
    retention.is_some_and(|retention| now_ms.saturating_sub(created_ms) > retention.as_millis() as i64)
}

fn chatfile_key(app_id: i64, uuid: &str, object: &str) -> ObjectPath {
    ObjectPath::from_iter([CHATFILES_PREFIX, &app_id.to_string(), uuid, object])
}

/// A uuid as [`new_uuid`](crate::services::users::new_uuid) writes them, so a client's text
/// never reaches a storage key unchecked.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, byte)| match i {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// The declared Content-Type, if it says more than "some bytes" and is a plain `type/subtype`
/// (parameters dropped): it is sent back as a header to every downloader.
fn declared_content_type(declared: Option<&str>) -> Option<String> {
    let essence = declared?.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/')?;
    let token =
        |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    (token(kind) && token(subtype) && essence != "application/octet-stream").then_some(essence)
}

/// The first `n` bytes of a payload (across its chunks), for sniffing the format.
fn leading_bytes(payload: &PutPayload, n: usize) -> Vec<u8> {
    let mut leading = Vec::with_capacity(n);
    for chunk in payload.as_ref() {
        let wanted = n - leading.len();
        leading.extend_from_slice(&chunk[..wanted.min(chunk.len())]);
        if leading.len() == n {
            break;
        }
    }
    leading
}

/// The thumbnail of an image, made on the blocking pool in the storage's turn; `None` when
/// the image is its own thumbnail or does not decode (its downloads then serve the original).
async fn thumbnail_of(
    storage: &FileStorage,
    bytes: &PutPayload,
    bounds: ThumbnailBox,
) -> Option<thumbnails::Thumbnail> {
    let _turn = storage.thumbnail_turn().await;
    let contiguous: bytes::Bytes = match bytes.as_ref() {
        [one] => one.clone(),
        chunks => chunks.concat().into(),
    };
    let made = tokio::task::spawn_blocking(move || thumbnails::make_thumbnail(&contiguous, bounds)).await;
    match made {
        Ok(Ok(thumbnail)) => Some(thumbnail),
        Ok(Err(NoThumbnail::AlreadySmall | NoThumbnail::NotAnImage)) => None,
        Ok(Err(error @ NoThumbnail::Undecodable(_))) => {
            tracing::info!(%error, "an uploaded image has no thumbnail");
            None
        }
        Err(error) => {
            tracing::error!(%error, "making a thumbnail panicked");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recalled_messages_attachment_is_found_by_its_url() {
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let url = format!("http://host/qun/demo/chatfiles/{uuid}?em-redirect=true&share-secret=x");
        assert_eq!(attachment_uuid(&url), Some(uuid));
        assert_eq!(attachment_uuid(&format!("https://h/o/a/chatfiles/{uuid}")), Some(uuid));
        assert_eq!(attachment_uuid("https://elsewhere/images/cat.png"), None);
        assert_eq!(attachment_uuid("http://host/qun/demo/chatfiles/../../etc"), None);
    }

    #[test]
    fn only_server_made_uuids_are_keys() {
        assert!(is_uuid(&crate::services::users::new_uuid()));
        for bad in [
            "",
            "..",
            "0c0f5f3a-e66b-11e3-8863-f1c202c2b3a",
            "0c0f5f3a/e66b-11e3-8863-f1c202c2b3ae",
            "../../../../../../../../../../../../x",
        ] {
            assert!(!is_uuid(bad), "{bad:?}");
        }
    }

    #[test]
    fn declared_types_are_plain_and_say_something() {
        assert_eq!(declared_content_type(Some("Image/PNG")).as_deref(), Some("image/png"));
        assert_eq!(declared_content_type(Some("text/plain; charset=utf-8")).as_deref(), Some("text/plain"));
        for unusable in [None, Some(""), Some("application/octet-stream"), Some("png"), Some("a/b\r\nX: y"), Some("/x")]
        {
            assert_eq!(declared_content_type(unusable), None, "{unusable:?}");
        }
    }

    #[test]
    fn leading_bytes_cross_chunks() {
        let payload: PutPayload =
            [bytes::Bytes::from_static(b"ab"), bytes::Bytes::from_static(b"cdef")].into_iter().collect();
        assert_eq!(leading_bytes(&payload, 3), b"abc");
        assert_eq!(leading_bytes(&payload, 10), b"abcdef");
    }

    #[test]
    fn expiry_is_strictly_after_the_retention() {
        let week = Some(Duration::from_secs(7 * 24 * 3600));
        let week_ms = 7 * 24 * 3600 * 1000;
        assert!(!is_expired(1_000, week, 1_000 + week_ms));
        assert!(is_expired(1_000, week, 1_001 + week_ms));
        assert!(!is_expired(0, None, i64::MAX), "no retention keeps files forever");
    }
}
