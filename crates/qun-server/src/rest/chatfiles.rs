//! Chat files, the attachments of image, audio, video and file messages (agora-chat-api.md
//! "Files"; the service and its access rules are in `services::chatfiles`).
//!
//! What the web SDK does (agora-chat 1.4.0, easemob-websdk 4.21.1, read in their bundles):
//! - **Upload**: `POST /chatfiles?chat-type=…&chat-target=…` with the user token,
//!   `restrict-access: true` and a multipart body: part `file`, then the fields
//!   `thumbnail-width` / `thumbnail-height` when the app set them (the REST documentation has
//!   them as headers: both are read, the fields win). It reads `entities[0].uuid` and
//!   `["share-secret"]`; any reply without `entities` rejects the send with
//!   WEBIM_UPLOADFILE_ERROR, so errors keep the table's statuses (401 without a token, 413
//!   past 10 MB, 400 for a malformed body). Files over 7.5 MB are first offered to
//!   `/sdk/chatfiles/part-upload`, which Qun does not serve: the SDK falls back to this call.
//! - **The message** carries `url` = `{apiUrl}/{org}/{app}/chatfiles/{uuid}` and `secret`; a
//!   receiver's SDK makes it `…?em-redirect=true&share-secret={secret}` (and appends
//!   `&thumbnail=true` for an image's `thumb`, `&vframe=true` for a video's).
//! - **Download** (`downloadFile`): a GET of that URL with `share-secret` and `Authorization`
//!   headers. A 403 whose description is "chatfile no permission" is reported as
//!   WEBIM_DOWNLOADFILE_ERROR_NO_PERMISSION, a 404 whose error is `file_expired` as
//!   WEBIM_DOWNLOADFILE_ERROR_EXPIRED. Agora answers `em-redirect=true` with a redirect to its
//!   CDN; Qun serves the bytes itself (what the redirect would lead to), so the parameter is
//!   accepted and ignored. `vframe=true` (a video's first frame) is served like `thumbnail`:
//!   videos are not decoded, so it is the original.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use qun_proto::ErrorCode;
use qun_proto::rest::files::{CHATFILE_TYPE, ChatFileEntity};

use super::uploads::{self, UploadRefused, header_text, receive_upload};
use crate::http::{Ctx, HttpError};
use crate::services::Caller;
use crate::services::chatfiles::{self, NewChatFile};
use crate::services::thumbnails::ThumbnailBox;
use crate::state::AppState;

const THUMBNAIL_WIDTH: &str = "thumbnail-width";
const THUMBNAIL_HEIGHT: &str = "thumbnail-height";
const SHARE_SECRET: &str = "share-secret";

/// `POST /chatfiles` (multipart, part `file`; headers `restrict-access`, `thumbnail-width`,
/// `thumbnail-height`) → envelope with `entities: [{uuid, type: "chatfile", share-secret}]`.
/// A user token or the app token.
pub(crate) async fn upload(
    State(state): State<AppState>,
    ctx: Result<Ctx, HttpError>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, HttpError> {
    // Who calls first (an anonymous caller learns nothing of the body's rules); the body is
    // read to its end either way, so the client sees the answer rather than a reset.
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(error) => {
            if let Ok(mut multipart) = multipart {
                uploads::drain(&mut multipart).await;
            }
            return Err(error);
        }
    };
    let mut multipart =
        multipart.map_err(|rejection| HttpError::new(ErrorCode::UploadFailed, rejection.body_text()))?;
    let turn = state.files.upload_turn().await;
    let form = match receive_upload(&mut multipart, &[THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT]).await {
        Ok(form) => form,
        Err(refused) => {
            uploads::drain(&mut multipart).await;
            tracing::info!(error = %refused, "chat file upload refused");
            let code = match refused {
                UploadRefused::TooLarge => ErrorCode::PayloadTooLarge,
                UploadRefused::Malformed(_) => ErrorCode::UploadFailed,
            };
            return Err(HttpError::new(code, refused.to_string()));
        }
    };
    let side = |name: &str| {
        form.fields
            .get(name)
            .map(String::as_str)
            .or_else(|| header_text(&headers, name))
            .and_then(|v| v.trim().parse().ok())
    };
    let file = NewChatFile {
        owner: match ctx.caller()? {
            Caller::User(user) => Some(user.to_string()),
            Caller::AppAdmin => None,
        },
        bytes: form.file.payload(),
        name: form.file.name,
        declared_type: form.file.content_type,
        restricted: restricts_access(&headers),
        thumbnail_box: ThumbnailBox::requested(side(THUMBNAIL_WIDTH), side(THUMBNAIL_HEIGHT)),
    };
    let stored = chatfiles::store(&state, ctx.app.id, file).await?;
    drop(turn);
    let entity =
        ChatFileEntity { uuid: stored.uuid, kind: CHATFILE_TYPE.to_owned(), share_secret: stored.share_secret };
    Ok(Json(ctx.envelope::<(), _>(None, vec![entity])).into_response())
}

/// `GET /chatfiles/{uuid}` (secret in the `share-secret` header or query parameter;
/// `thumbnail: true` header, or `thumbnail=true` / `vframe=true` query) → the bytes. No token
/// needed (see `services::chatfiles`), so one the SDK sends is not even read.
pub(crate) async fn download(
    State(state): State<AppState>,
    Path((org, app, uuid)): Path<(String, String, String)>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Query(query) = query.map_err(|rejection| HttpError::new(ErrorCode::IllegalArgument, rejection.body_text()))?;
    let app = state.app(&org, &app).await?.ok_or_else(|| {
        HttpError::new(ErrorCode::AppNotFound, format!("Could not find application for {org}/{app} from URI"))
    })?;
    let secret = header_text(&headers, SHARE_SECRET).or(query.get(SHARE_SECRET).map(String::as_str));
    let is_true = |value: Option<&str>| value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let thumbnail = is_true(header_text(&headers, "thumbnail"))
        || is_true(query.get("thumbnail").map(String::as_str))
        || is_true(query.get("vframe").map(String::as_str));
    let found = chatfiles::open(&state, app.id, &uuid, secret, thumbnail).await?;
    // Shown in place when it is media a browser renders safely; saved otherwise, so an upload
    // of HTML or SVG never runs as a page of this origin.
    let disposition = if is_inline_media(&found.content_type) { "inline" } else { "attachment" };
    let name = if found.is_thumbnail { format!("thumbnail-{}", found.meta.name) } else { found.meta.name.clone() };
    let content_type = HeaderValue::from_str(&found.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let reply_headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_LENGTH, HeaderValue::from(found.object.meta.size)),
        (header::CONTENT_DISPOSITION, uploads::content_disposition(disposition, &name)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox")),
        // The bytes under a uuid never change; only the secret's holders may read them.
        (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400, immutable")),
    ];
    Ok((reply_headers, Body::from_stream(found.object.into_stream())).into_response())
}

/// `restrict-access` makes downloads need the share secret. Easemob documents that any value
/// counts; an explicit `false` (or `0`) is taken at its word.
fn restricts_access(headers: &HeaderMap) -> bool {
    header_text(headers, "restrict-access").is_some_and(|value| {
        let value = value.trim();
        !(value.eq_ignore_ascii_case("false") || value == "0")
    })
}

fn is_inline_media(content_type: &str) -> bool {
    let kind = content_type.split('/').next().unwrap_or("");
    matches!(kind, "image" | "audio" | "video") && !content_type.contains("svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_access_is_on_unless_said_off() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("restrict-access", HeaderValue::from_str(value).unwrap());
            restricts_access(&headers)
        };
        assert!(with("true") && with("1") && with("yes") && with(""));
        assert!(!with("false") && !with("FALSE") && !with("0"));
        assert!(!restricts_access(&HeaderMap::new()));
    }

    #[test]
    fn only_plain_media_is_shown_inline() {
        for (content_type, inline) in [
            ("image/png", true),
            ("video/mp4", true),
            ("audio/amr", true),
            ("image/svg+xml", false),
            ("text/html", false),
            ("application/pdf", false),
        ] {
            assert_eq!(is_inline_media(content_type), inline, "{content_type}");
        }
    }
}
