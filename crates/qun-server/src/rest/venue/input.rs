//! What group and room calls read alike from a request: required fields, the user a
//! `/users/{u}/…` call is about, and for creation and modification the owner and first
//! members, `maxusers`, and a modification's fields.

use qun_core::UserName;
use qun_core::limits::BATCH_MAX;
use qun_proto::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::{Ctx, HttpError};
use crate::services::{Caller, parse_user};

/// A required field, or Agora's "X must be provided".
pub(crate) fn required<T>(field: &str, value: Option<T>) -> Result<T, HttpError> {
    value.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, format!("{field} must be provided")))
}

/// The user a `/users/{u}/…` call is about, if the caller is that user or the app.
pub(crate) fn self_or_app(ctx: &Ctx, raw: &str) -> Result<UserName, HttpError> {
    let user = parse_user(raw)?;
    ctx.require_self_or_admin(&user)?;
    Ok(user)
}

/// Members a create call may name.
const CREATE_MEMBERS_MAX: usize = if BATCH_MAX > 100 { BATCH_MAX } else { 100 };

/// The owner of a new venue (the one named, or else the calling user) and the first members
/// named (at most 100).
pub(crate) fn founders(
    caller: &Caller,
    owner: Option<&str>,
    members: Option<Vec<String>>,
) -> Result<(UserName, Vec<UserName>), HttpError> {
    let owner = match (owner, caller) {
        (Some(owner), _) => parse_user(owner)?,
        (None, Caller::User(me)) => me.clone(),
        (None, Caller::AppAdmin) => return required("owner", None),
    };
    let members = members.unwrap_or_default();
    if members.len() > CREATE_MEMBERS_MAX {
        let text = format!("at most {CREATE_MEMBERS_MAX} members may be named at creation");
        return Err(HttpError::new(ErrorCode::IllegalArgument, text));
    }
    let members = members.iter().map(|member| parse_user(member)).collect::<Result<_, _>>()?;
    Ok((owner, members))
}

/// `maxusers` as a request gives it.
pub(crate) fn maxusers(raw: i64) -> Result<u32, HttpError> {
    u32::try_from(raw).map_err(|_| HttpError::new(ErrorCode::InvalidParameter, "maxusers must be a positive number"))
}

/// A modification's body: a JSON object naming only `fields` (any other is refused, as Agora
/// does: "Some of [x] are not valid fields").
pub(crate) fn modification<T: DeserializeOwned>(body: Value, fields: &[&str]) -> Result<T, HttpError> {
    let Value::Object(given) = &body else {
        return Err(HttpError::new(ErrorCode::JsonParse, "the body must be a JSON object"));
    };
    let unknown: Vec<&str> = given.keys().map(String::as_str).filter(|key| !fields.contains(key)).collect();
    if !unknown.is_empty() {
        let text = format!("Some of [{}] are not valid fields", unknown.join(", "));
        return Err(HttpError::new(ErrorCode::InvalidParameter, text));
    }
    serde_json::from_value(body).map_err(|error| HttpError::new(ErrorCode::JsonParse, error.to_string()))
}
