//! `POST /token` and `/users…` (agora-chat-api.md §1).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use qun_core::{UserName, limits};
use qun_proto::ErrorCode;
use qun_proto::rest::users::{
    AppTokenResponse, ChangePassword, RegisterFailure, RegisterUser, RegistrationSetting, ResultData, TokenExpiry,
    TokenExpiryReply, TokenRequest, UpdateUser, UserTokenResponse,
};
use serde_json::Value;

use crate::auth;
use crate::http::{ClientAddress, Ctx, HttpError, JsonBody, OpenCtx};
use crate::ids::now_ms;
use crate::services::users::{check_password, issue_token, may_register, prepare_user, user_entity};
use crate::services::{parse_user, store_error};
use crate::state::AppState;
use crate::telemetry::LoginResult;
use qun_proto::ApiError;
use qun_proto::msync::KickReason;

/// `POST /token`: `client_credentials`, `password`, or `inherit` (with an app token).
/// How a password login ended, for the metrics.
fn login_result<T>(checked: &Result<T, ApiError>) -> LoginResult {
    match checked {
        Ok(_) => LoginResult::Ok,
        Err(error) if matches!(error.code, ErrorCode::ReachLimit | ErrorCode::ResourceLimited) => {
            LoginResult::Throttled
        }
        Err(_) => LoginResult::Refused,
    }
}

pub(crate) async fn token(
    State(state): State<AppState>,
    OpenCtx(ctx): OpenCtx,
    ClientAddress(client): ClientAddress,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Response, HttpError> {
    let app = &ctx.app;
    match request.grant_type.as_str() {
        "client_credentials" => {
            let (Some(id), Some(secret)) = (request.client_id.as_deref(), request.client_secret.as_deref()) else {
                return Err(HttpError::new(
                    ErrorCode::InvalidParameter,
                    "client_id and client_secret must be provided",
                ));
            };
            if id != app.client_id || auth::token_hash(secret) != app.client_secret_hash {
                return Err(HttpError::new(ErrorCode::Unauthorized, "invalid client_id or client_secret"));
            }
            let issued = issue_token(&state, app, None, request.ttl).await?;
            Ok(Json(AppTokenResponse {
                access_token: issued.token,
                expires_in: issued.expires_in_secs,
                application: app.uuid.clone(),
            })
            .into_response())
        }
        "password" => {
            let (Some(name), Some(password)) = (request.username.as_deref(), request.password.as_deref()) else {
                return Err(HttpError::new(ErrorCode::InvalidParameter, "username and password must be provided"));
            };
            let checked = check_password(&state, app, name, password, client).await;
            state.metrics.login("rest", login_result(&checked));
            let user = checked?;
            let issued = issue_token(&state, app, Some(&user.name), request.ttl).await?;
            Ok(Json(UserTokenResponse {
                access_token: issued.token,
                expires_in: issued.expires_in_secs,
                user: user_entity(&user),
            })
            .into_response())
        }
        "inherit" => {
            ctx.require_app_admin()?;
            let name = parse_user(request.username.as_deref().unwrap_or(""))?;
            let user = match state.store.user(app.id, &name).await? {
                Some(user) => user,
                None if request.auto_create_user == Some(true) => {
                    let new = prepare_user(Some(name.as_str()), Some(&auth::random_secret(18)), None).await?;
                    match state.store.create_users(app.id, std::slice::from_ref(&new)).await?.pop() {
                        Some(Ok(user)) => user,
                        // Another request created the same user meanwhile.
                        _ => state
                            .store
                            .user(app.id, &name)
                            .await?
                            .ok_or_else(|| HttpError::new(ErrorCode::Busy, "concurrent_operation_error"))?,
                    }
                }
                None => return Err(HttpError::new(ErrorCode::GrantUserNotFound, "user not found")),
            };
            if !user.activated {
                return Err(HttpError::new(ErrorCode::UserNotActivated, "user not activated"));
            }
            let issued = issue_token(&state, app, Some(&user.name), request.ttl).await?;
            Ok(Json(UserTokenResponse {
                access_token: issued.token,
                expires_in: issued.expires_in_secs,
                user: user_entity(&user),
            })
            .into_response())
        }
        other => Err(HttpError::new(ErrorCode::IllegalArgument, format!("unsupported grant_type {other:?}"))),
    }
}

/// `POST /users`: one user (object) or up to 60 (array). Needs an app token unless the app
/// allows open registration (`/settings/registration`).
pub(crate) async fn register(
    State(state): State<AppState>,
    OpenCtx(ctx): OpenCtx,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, HttpError> {
    may_register(&ctx.app, ctx.caller.as_ref())?;
    let (batch, items): (bool, Vec<RegisterUser>) = match body {
        Value::Array(items) => (
            true,
            serde_json::from_value(Value::Array(items))
                .map_err(|e| HttpError::new(ErrorCode::JsonParse, e.to_string()))?,
        ),
        object @ Value::Object(_) => (
            false,
            vec![serde_json::from_value(object).map_err(|e| HttpError::new(ErrorCode::JsonParse, e.to_string()))?],
        ),
        _ => return Err(HttpError::new(ErrorCode::JsonParse, "the body must be a user object or an array of them")),
    };
    if items.is_empty() || items.len() > limits::BATCH_MAX {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "register 1 to 60 users at a time"));
    }
    let mut prepared = Vec::new();
    let mut failures = Vec::new();
    for item in &items {
        match prepare_user(item.username.as_deref(), item.password.as_deref(), item.nickname.as_deref()).await {
            Ok(user) => prepared.push(user),
            // The server is busy hashing: the whole request is refused, not one user.
            Err(error) if error.code == ErrorCode::ResourceLimited => return Err(error.into()),
            Err(error) if batch => failures.push(RegisterFailure {
                username: item.username.clone().unwrap_or_default(),
                register_user_fail_reason: error.description,
            }),
            Err(error) => return Err(error.into()),
        }
    }
    let results = state.store.create_users(ctx.app.id, &prepared).await?;
    let mut entities = Vec::new();
    for (user, result) in prepared.iter().zip(results) {
        match result {
            Ok(record) => entities.push(user_entity(&record)),
            Err(qun_store::StoreError::AlreadyExists) if !batch => {
                return Err(HttpError::new(
                    ErrorCode::DuplicateUniqueProperty,
                    format!("Unique property username has a duplicate value: {}", user.name),
                ));
            }
            Err(qun_store::StoreError::AlreadyExists) => failures.push(RegisterFailure {
                username: user.name.to_string(),
                register_user_fail_reason: "the username already exists".to_owned(),
            }),
            Err(other) => return Err(other.into()),
        }
    }
    let data = batch.then_some(failures);
    Ok(Json(ctx.envelope(data, entities)).into_response())
}

/// `GET /users?limit=&cursor=`: users in name order; the cursor is the last name returned.
pub(crate) async fn list(State(state): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let limit = ctx.number_param("limit", 10, 1..=100)?;
    let after = match ctx.param("cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => Some(parse_user(cursor)?),
        None => None,
    };
    let mut users = state.store.users_page(ctx.app.id, after.as_ref(), limit + 1).await?;
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let mut envelope = ctx.envelope::<(), _>(None, users.iter().map(user_entity).collect());
    envelope.count = Some(users.len() as u64);
    envelope.cursor = more.then(|| users.last().map(|u| u.name.to_string())).flatten();
    Ok(Json(envelope).into_response())
}

/// `GET /users/{u}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, name)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let name = parse_user(&name)?;
    ctx.require_self_or_admin(&name)?;
    let user = existing_user(&state, &ctx, &name).await?;
    Ok(Json(ctx.envelope::<(), _>(None, vec![user_entity(&user)])).into_response())
}

/// `DELETE /users/{u}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, name)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let name = parse_user(&name)?;
    let user = state.store.delete_user(ctx.app.id, &name).await?.ok_or_else(|| user_not_found(&name))?;
    state.delivery.kick_user(ctx.app.id, &name, KickReason::UserRemoved);
    tracing::info!(user = %name, "user deleted");
    Ok(Json(ctx.envelope::<(), _>(None, vec![user_entity(&user)])).into_response())
}

/// `PUT /users/{u}`: the nickname (other fields are accepted and ignored).
pub(crate) async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<UpdateUser>,
) -> Result<Response, HttpError> {
    let name = parse_user(&name)?;
    ctx.require_self_or_admin(&name)?;
    let user = match body.nickname {
        Some(nickname) if limits::chars(&nickname) > limits::NICKNAME_MAX_CHARS => {
            return Err(HttpError::new(ErrorCode::IllegalArgument, "nickname is longer than 100 characters"));
        }
        Some(nickname) => state
            .store
            .set_nickname(ctx.app.id, &name, &nickname, now_ms() as i64)
            .await?
            .ok_or_else(|| user_not_found(&name))?,
        None => existing_user(&state, &ctx, &name).await?,
    };
    Ok(Json(ctx.envelope::<(), _>(None, vec![user_entity(&user)])).into_response())
}

/// `PUT /users/{u}/password`: revokes the user's tokens.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<ChangePassword>,
) -> Result<Response, HttpError> {
    let name = parse_user(&name)?;
    ctx.require_self_or_admin(&name)?;
    if body.newpassword.is_empty() || limits::chars(&body.newpassword) > limits::PASSWORD_MAX_CHARS {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "password must be 1 to 64 characters"));
    }
    let hash = auth::hash_password(body.newpassword).await?;
    if !state.store.set_password(ctx.app.id, &name, &hash, now_ms() as i64).await? {
        return Err(user_not_found(&name));
    }
    state.delivery.kick_user(ctx.app.id, &name, KickReason::PasswordChanged);
    Ok(ctx.data(ResultData { result: true }))
}

/// `POST /users/{u}/activate` and `/deactivate`; deactivation revokes the user's tokens.
pub(crate) async fn set_activated(
    state: AppState,
    ctx: Ctx,
    name: String,
    activated: bool,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let name = parse_user(&name)?;
    let user = state
        .store
        .set_activated(ctx.app.id, &name, activated, now_ms() as i64)
        .await?
        .ok_or_else(|| user_not_found(&name))?;
    if !activated {
        state.delivery.kick_user(ctx.app.id, &name, KickReason::UserRemoved);
    }
    let mut envelope = ctx.envelope::<(), _>(None, vec![user_entity(&user)]);
    envelope.action = if activated { "activate user" } else { "Deactivate user" }.to_owned();
    Ok(Json(envelope).into_response())
}

pub(crate) async fn activate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, name)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    set_activated(state, ctx, name, true).await
}

pub(crate) async fn deactivate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, name)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    set_activated(state, ctx, name, false).await
}

/// `GET /sdk/users/{u}/token/expires`: the expiry of the caller's token (ms since epoch).
/// The SDK calls it with the new token in `renewToken`. A token that never expires answers
/// [`NEVER_EXPIRES_MS`]: the SDK arms a timer for whatever it is told (0 would close the
/// connection at once), capped at 2^31 - 1 ms (24.8 days), after which it reports the token
/// expired and closes; an app with such tokens simply logs in again then.
pub(crate) async fn token_expires(
    ctx: Ctx,
    Path((_, _, name)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let name = parse_user(&name)?;
    ctx.require_self_or_admin(&name)?;
    let expires = ctx.token_expires_ms.unwrap_or(NEVER_EXPIRES_MS);
    let envelope = ctx.envelope::<_, ()>(Some(TokenExpiry { expires_in: expires }), Vec::new());
    Ok(Json(TokenExpiryReply { envelope, expire_timestamp: expires }).into_response())
}

/// `GET /settings/registration` (Qun's own call): whether the app's open registration is on.
pub(crate) async fn registration_setting(ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    Ok(ctx.data(RegistrationSetting { open: ctx.app.settings.open_registration }))
}

/// `PUT /settings/registration` `{"open": bool}` (Qun's own call): turns the app's open
/// registration on or off; answers the new setting. Kept in the store with the app.
pub(crate) async fn set_registration_setting(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<RegistrationSetting>,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let settings = qun_store::AppSettings { open_registration: body.open, ..ctx.app.settings.clone() };
    let app = state.update_app_settings(&ctx.app, settings).await?;
    tracing::info!(app_id = app.id, open = body.open, "open registration changed");
    Ok(ctx.data(RegistrationSetting { open: app.settings.open_registration }))
}

/// What "never" is told as: 9999-12-31, far beyond any timer.
const NEVER_EXPIRES_MS: i64 = 253_402_214_400_000;

async fn existing_user(state: &AppState, ctx: &Ctx, name: &UserName) -> Result<qun_store::UserRecord, HttpError> {
    state.store.user(ctx.app.id, name).await.map_err(store_error)?.ok_or_else(|| user_not_found(name))
}

fn user_not_found(name: &UserName) -> HttpError {
    HttpError::new(ErrorCode::UserNotFound, format!("Service resource not found: username {name} doesn't exist!"))
}
