//! The request context every handler takes: the app of the path, the authenticated caller,
//! and what the success envelope needs (method, path, query, timing).

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use qun_core::UserName;
use qun_proto::ErrorCode;
use qun_proto::rest::{Envelope, EnvelopeContext};
use qun_store::AppRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::HttpError;
use crate::auth;
use crate::ids::now_ms;
use crate::services::Caller;
use crate::state::AppState;

/// The request context (see the module docs).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub app: AppRecord,
    /// `None` when the request carried no Authorization header.
    pub caller: Option<Caller>,
    pub method: Method,
    /// Scheme and host the request used (`http://chat.example.com`), from the `Host` header
    /// and `X-Forwarded-Proto`; `http://localhost` without a Host header.
    pub base_url: String,
    /// The path after `/{org}/{app}`.
    pub path: String,
    pub query: BTreeMap<String, Vec<String>>,
    pub started: Instant,
    /// Expiry of the caller's token, ms since epoch (`None`: anonymous or never expires).
    pub token_expires_ms: Option<i64>,
}

impl Ctx {
    /// The caller, or 401 when the request is anonymous.
    pub fn caller(&self) -> Result<&Caller, HttpError> {
        self.caller.as_ref().ok_or_else(|| HttpError::new(ErrorCode::Unauthorized, "Unable to authenticate (OAuth)"))
    }

    /// 401 unless the caller holds an app token.
    pub fn require_app_admin(&self) -> Result<(), HttpError> {
        match self.caller()? {
            Caller::AppAdmin => Ok(()),
            Caller::User(_) => Err(HttpError::new(ErrorCode::ForbiddenOp, "this call needs an app token")),
        }
    }

    /// 403 unless the caller is the app admin or the user `name` themself.
    pub fn require_self_or_admin(&self, name: &UserName) -> Result<(), HttpError> {
        match self.caller()? {
            Caller::AppAdmin => Ok(()),
            Caller::User(user) if user == name => Ok(()),
            Caller::User(_) => Err(HttpError::new(ErrorCode::ForbiddenOp, "a user may only do this for themself")),
        }
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).and_then(|values| values.first()).map(String::as_str)
    }

    /// A numeric query parameter within `range`, or `default` when absent.
    pub fn number_param(
        &self,
        name: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, HttpError> {
        match self.param(name) {
            None | Some("") => Ok(default),
            Some(raw) => raw.parse::<u32>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                HttpError::new(
                    ErrorCode::IllegalArgument,
                    format!("{name} must be a number from {} to {}", range.start(), range.end()),
                )
            }),
        }
    }

    pub fn flag_param(&self, name: &str) -> bool {
        self.param(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// An envelope for this request with `data` and `entities`.
    pub fn envelope<D: Serialize, E: Serialize>(&self, data: Option<D>, entities: Vec<E>) -> Envelope<D, E> {
        Envelope::new(
            EnvelopeContext {
                method: self.method.as_str().to_owned(),
                base_url: self.base_url.clone(),
                app_uuid: self.app.uuid.clone(),
                org: self.app.org.clone(),
                app: self.app.name.clone(),
                path: self.path.clone(),
                params: self.query.clone(),
                timestamp_ms: now_ms() as i64,
                duration_ms: self.started.elapsed().as_millis() as i64,
            },
            data,
            entities,
        )
    }

    /// The common reply: an envelope with `data` only.
    pub fn data<D: Serialize>(&self, data: D) -> Response {
        Json(self.envelope::<D, ()>(Some(data), Vec::new())).into_response()
    }

    /// An envelope with `data` and its `count`.
    pub fn counted<T: Serialize>(&self, data: Vec<T>) -> Response {
        let mut envelope = self.envelope::<Vec<T>, ()>(None, Vec::new());
        envelope.count = Some(data.len() as u64);
        envelope.data = Some(data);
        Json(envelope).into_response()
    }
}

/// The context of a route open to callers without a token (the token grant, registration):
/// the same as [`Ctx`], whose `caller` is `None` for them.
pub struct OpenCtx(pub Ctx);

impl FromRequestParts<AppState> for OpenCtx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(OpenCtx(Ctx::resolve(parts, state).await?))
    }
}

/// Every other route: a request without a token is refused (401) here, before its body or
/// query is looked at, so an anonymous caller learns nothing of what a call expects.
impl FromRequestParts<AppState> for Ctx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::resolve(parts, state).await?;
        ctx.caller()?;
        Ok(ctx)
    }
}

impl Ctx {
    /// The app of the path, the caller of the token (if any), and the request's text checked.
    async fn resolve(parts: &mut Parts, state: &AppState) -> Result<Ctx, HttpError> {
        let started = Instant::now();
        // Inside the nested router `parts.uri` has lost the `/{org}/{app}` prefix.
        let full_uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let full_path = full_uri.path().to_owned();
        let mut segments = full_path.splitn(4, '/').skip(1);
        let (org, app_name) = (segments.next().unwrap_or(""), segments.next().unwrap_or(""));
        let rest = segments.next().map(|rest| format!("/{rest}")).unwrap_or_default();
        let app = state.app(org, app_name).await?.ok_or_else(|| {
            HttpError::new(ErrorCode::AppNotFound, format!("Could not find application for {org}/{app_name} from URI"))
        })?;
        let (caller, token_expires_ms) = authenticate(&parts.headers, &app, state).await?;
        // Path segments and query values reach the store as text too (file ids, cursors…).
        let query = parse_query(full_uri.query().unwrap_or(""));
        if percent_decode(&full_path).contains('\0')
            || query.iter().any(|(key, values)| key.contains('\0') || values.iter().any(|v| v.contains('\0')))
        {
            return Err(nul_refused());
        }
        Ok(Ctx {
            app,
            caller,
            method: parts.method.clone(),
            base_url: base_url(&parts.headers),
            path: rest,
            query,
            started,
            token_expires_ms,
        })
    }
}

async fn authenticate(
    headers: &HeaderMap,
    app: &AppRecord,
    state: &AppState,
) -> Result<(Option<Caller>, Option<i64>), HttpError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else { return Ok((None, None)) };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| HttpError::new(ErrorCode::Unauthorized, "Unable to authenticate (OAuth)"))?;
    let record =
        state.store.token(&auth::token_hash(token), now_ms() as i64).await?.ok_or_else(|| {
            HttpError::new(ErrorCode::Unauthorized, "Unable to authenticate due to expired access token")
        })?;
    if record.app_id != app.id {
        return Err(HttpError::new(ErrorCode::BadAccessToken, "Unable to authenticate due to corrupt access token"));
    }
    let caller = match record.user {
        None => Caller::AppAdmin,
        Some(user) => Caller::User(user),
    };
    Ok((Some(caller), record.expires_ms))
}

/// `http://{Host}` (`https` behind a proxy that says `X-Forwarded-Proto: https`).
fn base_url(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let host = header("host").unwrap_or("localhost");
    let https = header("x-forwarded-proto")
        .and_then(|protos| protos.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The one rule for NUL (U+0000): refused in every text a request carries (JSON bodies,
/// path segments, query values). PostgreSQL cannot store it in text; SQLite can, so without
/// this the same call would answer 500 on one backend and 200 on the other.
fn nul_refused() -> HttpError {
    HttpError::new(ErrorCode::IllegalArgument, "text must not contain NUL (U+0000)")
}

/// Whether JSON text holds an escaped NUL (`\u0000`) inside a string. JSON can carry NUL only
/// escaped (a raw control character is not JSON), and a backslash starts an escape only after
/// an even number of backslashes: `\\u0000` is a backslash followed by the text `u0000`.
fn json_has_escaped_nul(json: &[u8]) -> bool {
    const NUL: &[u8] = b"u0000";
    let mut backslashes = 0usize;
    for (i, &byte) in json.iter().enumerate() {
        if byte == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && json[i..].starts_with(NUL) {
            return true;
        }
        backslashes = 0;
    }
    false
}

fn parse_query(query: &str) -> BTreeMap<String, Vec<String>> {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in url_pairs(query) {
        params.entry(key).or_default().push(value);
    }
    params
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key), percent_decode(value))
    })
}

/// Decodes `%XX` and `+` in a URL component; invalid escapes are kept as they are.
pub(crate) fn percent_decode(raw: &str) -> String {
    fn hex(byte: u8) -> Option<u8> {
        (byte as char).to_digit(16).map(|digit| digit as u8)
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) => hex(high).zip(hex(low)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON body; an empty body reads as `{}`. Parse errors answer `json_parse`; a NUL in any
/// text (a value or a key) answers `illegal_argument` (see [`nul_refused`]).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| HttpError::new(ErrorCode::PayloadTooLarge, e.body_text()))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let value = serde_json::from_slice(text)
            .map_err(|e| HttpError::new(ErrorCode::JsonParse, format!("Unexpected JSON: {e}")))?;
        if json_has_escaped_nul(text) {
            return Err(nul_refused());
        }
        Ok(JsonBody(value))
    }
}

/// A form-encoded body (`application/x-www-form-urlencoded`, e.g. the SDK's user attributes):
/// its pairs in order. A NUL in a key or a value answers `illegal_argument`, as in JSON bodies.
#[derive(Debug)]
pub struct FormBody(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = String::from_request(request, state)
            .await
            .map_err(|e| HttpError::new(ErrorCode::IllegalArgument, e.body_text()))?;
        let pairs: Vec<(String, String)> = url_pairs(body.trim()).collect();
        if pairs.iter().any(|(key, value)| key.contains('\0') || value.contains('\0')) {
            return Err(nul_refused());
        }
        Ok(FormBody(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let params = parse_query("pagenum=1&pagesize=20&ids=a%2Cb&x&name=a+b&bad=%zz");
        assert_eq!(params["pagenum"], vec!["1"]);
        assert_eq!(params["ids"], vec!["a,b"]);
        assert_eq!(params["x"], vec![""]);
        assert_eq!(params["name"], vec!["a b"]);
        assert_eq!(params["bad"], vec!["%zz"]);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn escaped_nul_is_found_and_escaped_backslashes_are_not_nul() {
        for (json, nul) in [
            (r#"{"a":"x\u0000"}"#, true),
            (r#"{"a\u0000":1}"#, true),
            (r#"["\\\u0000"]"#, true),
            (r#"{"a":"x\\u0000"}"#, false),
            (r#"{"a":"\\\\u0000"}"#, false),
            (r#"{"a":"u0000","b":"\\","c":"\u0001"}"#, false),
        ] {
            assert_eq!(json_has_escaped_nul(json.as_bytes()), nul, "{json}");
            // The same answer as looking at the parsed text.
            fn holds_nul(value: &serde_json::Value) -> bool {
                match value {
                    serde_json::Value::String(text) => text.contains('\0'),
                    serde_json::Value::Array(items) => items.iter().any(holds_nul),
                    serde_json::Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
                    _ => false,
                }
            }
            assert_eq!(holds_nul(&serde_json::from_str(json).unwrap()), nul, "{json}");
        }
    }

    #[test]
    fn the_base_url_follows_host_and_forwarded_proto() {
        let mut headers = HeaderMap::new();
        assert_eq!(base_url(&headers), "http://localhost");
        headers.insert("host", "chat.example.com:8080".parse().unwrap());
        assert_eq!(base_url(&headers), "http://chat.example.com:8080");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(base_url(&headers), "https://chat.example.com:8080");
    }
}
