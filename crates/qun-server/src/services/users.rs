//! Users and tokens: registration checks, password login, token issue.

use std::net::IpAddr;

use qun_core::{UserName, limits};
use qun_proto::rest::users::UserEntity;
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, NewUser, TokenRecord, UserRecord};

use crate::auth;
use crate::ids::now_ms;
use crate::services::Services;
use crate::services::store_error;

/// An issued token and its lifetime in seconds (0 = never expires).
#[derive(Debug)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in_secs: i64,
}

/// Issues a token for the app admin (`user: None`) or a user. `ttl_secs`: `None` for the
/// default, `Some(0)` for a token that never expires.
pub async fn issue_token(
    state: &Services,
    app: &AppRecord,
    user: Option<&UserName>,
    ttl_secs: Option<i64>,
) -> Result<IssuedToken, ApiError> {
    let default_ttl = if user.is_some() { state.config.user_token_ttl_secs } else { state.config.app_token_ttl_secs };
    let ttl = match ttl_secs {
        None => default_ttl,
        Some(ttl) if ttl >= 0 => ttl,
        Some(_) => return Err(ApiError::new(ErrorCode::IllegalArgument, "ttl must not be negative")),
    };
    let now = now_ms() as i64;
    let (token, hash) = auth::new_token();
    state
        .store
        .insert_token(&TokenRecord {
            hash,
            app_id: app.id,
            user: user.cloned(),
            created_ms: now,
            expires_ms: (ttl > 0).then(|| now.saturating_add(ttl.saturating_mul(1000))),
        })
        .await
        .map_err(store_error)?;
    Ok(IssuedToken { token, expires_in_secs: ttl })
}

/// Checks a password login from `client`, throttling failures per (user, client address) and
/// per client address (see [`auth::LoginThrottle`]): the failure is counted before the
/// password is checked and given back if it was right. An unknown user costs a password check
/// too (against a dummy hash), so the reply's timing does not tell whether the user exists;
/// the reply itself does, as Agora's does (404 "user not found").
pub async fn check_password(
    state: &Services,
    app: &AppRecord,
    name: &str,
    password: &str,
    client: IpAddr,
) -> Result<UserRecord, ApiError> {
    let not_found = || ApiError::new(ErrorCode::GrantUserNotFound, "user not found");
    let user_name = UserName::parse(name).ok();
    let throttled_name = user_name.as_ref().map_or(name, UserName::as_str);
    let Some(attempt) = state.login_throttle.begin(app.id, throttled_name, client, now_ms()) else {
        return Err(ApiError::new(ErrorCode::ReachLimit, "too many failed logins, try again in a minute"));
    };
    let user = match &user_name {
        Some(user_name) => state.store.user(app.id, user_name).await.map_err(store_error)?,
        // No such user can exist.
        None => None,
    };
    let Some(user) = user else {
        auth::verify_against_dummy(password.to_owned()).await?;
        attempt.failed();
        return Err(not_found());
    };
    if !auth::verify_password(password.to_owned(), user.password_hash.clone()).await? {
        attempt.failed();
        return Err(ApiError::new(ErrorCode::InvalidGrant, "invalid password"));
    }
    attempt.succeeded();
    if !user.activated {
        return Err(ApiError::new(ErrorCode::UserNotActivated, "user not activated"));
    }
    Ok(user)
}

/// Whether `caller` may register users in `app`: the app administrator always; anyone else
/// (a user token, or no token) only while the app's open registration is on. The refusal is
/// Agora's, whose text the web SDK matches ("Open registration doesn't allow").
pub fn may_register(app: &AppRecord, caller: Option<&crate::services::Caller>) -> Result<(), ApiError> {
    match caller {
        Some(crate::services::Caller::AppAdmin) => Ok(()),
        _ if app.settings.open_registration => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::RegistrationClosed,
            "Open registration doesn't allow, so register user need token",
        )),
    }
}

/// Validates one registration and hashes its password (429 `resource_limited` when no
/// hashing slot frees up in time).
pub async fn prepare_user(
    raw_name: Option<&str>,
    password: Option<&str>,
    nickname: Option<&str>,
) -> Result<NewUser, ApiError> {
    let raw_name = raw_name.ok_or_else(|| ApiError::new(ErrorCode::InvalidParameter, "username must be provided"))?;
    let name = UserName::parse(raw_name).map_err(|_| {
        ApiError::new(
            ErrorCode::IllegalArgument,
            format!("username {raw_name:?} is not legal: use 1-64 of a-z 0-9 _ - ."),
        )
    })?;
    let password = password.unwrap_or("");
    if password.is_empty() || limits::chars(password) > limits::PASSWORD_MAX_CHARS {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "password must be 1 to 64 characters"));
    }
    let nickname = nickname.unwrap_or("");
    if limits::chars(nickname) > limits::NICKNAME_MAX_CHARS {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "nickname is longer than 100 characters"));
    }
    let password_hash = auth::hash_password(password.to_owned()).await?;
    Ok(NewUser { uuid: new_uuid(), name, password_hash, nickname: nickname.to_owned(), created_ms: now_ms() as i64 })
}

/// A random (v4) UUID string, Agora's user `uuid`.
pub fn new_uuid() -> String {
    let bytes: [u8; 16] = {
        let mut b = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        b
    };
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// A user as Agora shows it.
pub fn user_entity(user: &UserRecord) -> UserEntity {
    UserEntity {
        uuid: user.uuid.clone(),
        kind: "user".to_owned(),
        created: user.created_ms,
        modified: user.modified_ms,
        username: user.name.to_string(),
        activated: user.activated,
        nickname: (!user.nickname.is_empty()).then(|| user.nickname.clone()),
    }
}
