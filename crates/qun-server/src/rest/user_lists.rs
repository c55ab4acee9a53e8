//! Lists of user names in requests: comma-separated in a path (`/users/a,b`) or a
//! `{usernames: [...]}` body. Shared by the group and room handlers.

use qun_core::UserName;
use qun_proto::ErrorCode;
use qun_proto::rest::groups::Usernames;

use crate::http::HttpError;
use crate::services::parse_user;

/// Parses a comma-separated user list from a path, 1 to `max` names, duplicates dropped.
pub(crate) fn path_users(raw: &str, max: usize) -> Result<Vec<UserName>, HttpError> {
    let names: Vec<UserName> =
        raw.split(',').filter(|s| !s.trim().is_empty()).map(parse_user).collect::<Result<_, _>>()?;
    if names.is_empty() || names.len() > max {
        return Err(HttpError::new(ErrorCode::IllegalArgument, format!("name 1 to {max} users")));
    }
    Ok(dedup(names))
}

/// The `usernames` of a body, 1 to `max` of them, duplicates dropped.
pub(crate) fn body_users(body: Usernames, max: usize) -> Result<Vec<UserName>, HttpError> {
    let names =
        body.usernames.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "usernames must be provided"))?;
    path_users(&names.join(","), max)
}

fn dedup(names: Vec<UserName>) -> Vec<UserName> {
    let mut seen = std::collections::HashSet::new();
    names.into_iter().filter(|n| seen.insert(n.clone())).collect()
}

/// Per-user outcomes of a batch call: a value (a mute expiry, or 0) or the refusal's text.
pub(crate) type BatchResults = Vec<(UserName, Result<i64, String>)>;

/// The reply to a call that named users: one object for a single user named in the path (as
/// Agora's single-user calls answer), a list otherwise.
pub(crate) fn one_or_many<T: serde::Serialize>(
    ctx: &crate::http::Ctx,
    mut replies: Vec<T>,
    single: bool,
) -> axum::response::Response {
    if single && replies.len() == 1 { ctx.data(replies.remove(0)) } else { ctx.data(replies) }
}
