//! Users and tokens (agora-chat-api.md §1).

use serde::{Deserialize, Serialize};

/// `POST /token`. Which fields matter depends on `grant_type`.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    pub grant_type: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds; 0 = never expires.
    #[serde(default)]
    pub ttl: Option<i64>,
    #[serde(default, rename = "autoCreateUser")]
    pub auto_create_user: Option<bool>,
    /// Sent by the SDK (client ms); ignored.
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// The app-token reply.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppTokenResponse {
    pub access_token: String,
    /// Seconds until expiry (0 for a token that never expires).
    pub expires_in: i64,
    pub application: String,
}

/// The user-token reply.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserTokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub user: UserEntity,
}

/// A user as Agora shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserEntity {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub modified: i64,
    pub username: String,
    pub activated: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nickname: Option<String>,
}

/// One user in `POST /users` (the body is one of these or an array of them).
#[derive(Debug, Deserialize)]
pub struct RegisterUser {
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub nickname: Option<String>,
}

/// A user the batch registration could not create.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegisterFailure {
    pub username: String,
    #[serde(rename = "registerUserFailReason")]
    pub register_user_fail_reason: String,
}

/// `PUT /users/{u}/password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub newpassword: String,
}

/// `PUT /users/{u}`: the fields Qun stores (others are accepted and ignored).
#[derive(Debug, Deserialize)]
pub struct UpdateUser {
    #[serde(default)]
    pub nickname: Option<String>,
}

/// `data` of password change.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResultData {
    pub result: bool,
}

/// `data` of `GET /sdk/users/{u}/token/expires`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenExpiry {
    /// Absolute expiry, ms since epoch.
    pub expires_in: i64,
}

/// `GET /sdk/users/{u}/token/expires`: the envelope (with [`TokenExpiry`] as `data`) plus
/// `expire_timestamp` at the top level, which is what the SDK's `renewToken` reads (as an
/// absolute time in ms) to re-arm its expiry timers; without it they got NaN and fired at once.
#[derive(Debug, Serialize)]
pub struct TokenExpiryReply<E: Serialize> {
    #[serde(flatten)]
    pub envelope: E,
    pub expire_timestamp: i64,
}

/// Qun's own `GET` / `PUT /settings/registration`: the app's open registration (anyone may
/// register users, without an app token). The request body and the reply's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSetting {
    pub open: bool,
}
