//! Error replies: every error leaves as Agora's error envelope with the status of its row in
//! the error table. Internal details are logged, never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use qun_proto::{ApiError, ErrorCode};
use qun_store::StoreError;

use crate::ids::now_ms;

/// A handler's error: an [`ApiError`] on its way to the client.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl HttpError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        HttpError(ApiError::new(code, description))
    }
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        HttpError(error)
    }
}

impl From<StoreError> for HttpError {
    fn from(error: StoreError) -> Self {
        HttpError(crate::services::store_error(error))
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0.envelope(now_ms() as i64, 0))).into_response()
    }
}

/// Ends every JSON reply with a newline (success and error envelopes, token replies…), in
/// one place: a layer over the whole router (see `http::guarded`), so no handler needs to.
pub(super) async fn json_ends_with_newline(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Vec::from(bytes),
        Err(error) => {
            tracing::error!(%error, "reading a JSON reply failed");
            return HttpError::new(ErrorCode::Internal, "internal error").into_response();
        }
    };
    if bytes.last() != Some(&b'\n') {
        bytes.push(b'\n');
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Any path Qun does not serve answers 404 at once. Logged at debug with the path, so an
/// operator can see which calls their app makes that Qun does not serve yet.
pub(super) async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> HttpError {
    tracing::debug!(%method, path = uri.path(), "no route");
    HttpError::new(ErrorCode::ResourceNotFound, format!("no resource at {}", uri.path()))
}

/// A handler that panicked: logged with what it said, answered 500 in Agora's envelope (the
/// panic's text is not sent). The server goes on; shared state uses locks that do not poison.
pub(super) fn panic_reply(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(not a string)");
    tracing::error!(panic = message, "a request handler panicked");
    HttpError::new(ErrorCode::Internal, "internal error").into_response()
}
