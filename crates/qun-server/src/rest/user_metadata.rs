//! User attributes over REST (`/metadata/user/…`): `updateUserInfo` sends them form-encoded;
//! a user sets only their own, the app administrator anyone's; any caller of the app reads.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use qun_proto::rest::user_metadata::UserMetadataQuery;

use crate::http::{Ctx, FormBody, HttpError, JsonBody};
use crate::services::{parse_user, user_metadata};
use crate::state::AppState;

type UserPath = Path<(String, String, String)>;

/// `PUT /metadata/user/{u}` (form: `nickname=…&avatarurl=…`): `data` is all of the user's
/// attributes after the change. A key given twice takes its last value.
pub(crate) async fn set(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): UserPath,
    FormBody(pairs): FormBody,
) -> Result<Response, HttpError> {
    let user = parse_user(&user)?;
    ctx.require_self_or_admin(&user)?;
    let entries: BTreeMap<String, String> = pairs.into_iter().collect();
    let all = user_metadata::set(&state, ctx.app.id, &user, entries.into_iter().collect()).await?;
    Ok(ctx.data(all))
}

/// `GET /metadata/user/{u}`: `data{key: value}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): UserPath,
) -> Result<Response, HttpError> {
    ctx.caller()?;
    Ok(ctx.data(user_metadata::get(&state, ctx.app.id, &parse_user(&user)?).await?))
}

/// `POST /metadata/user/get` `{targets, properties}` (`fetchUserInfoById`): `data{user: {key: value}}`.
pub(crate) async fn get_many(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<UserMetadataQuery>,
) -> Result<Response, HttpError> {
    ctx.caller()?;
    let users = body.targets.iter().map(|raw| parse_user(raw)).collect::<Result<Vec<_>, _>>()?;
    Ok(ctx.data(user_metadata::get_many(&state, ctx.app.id, &users, &body.properties).await?))
}

/// `DELETE /metadata/user/{u}`: removes all of the user's attributes; `data` is whether there
/// were any.
pub(crate) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): UserPath,
) -> Result<Response, HttpError> {
    let user = parse_user(&user)?;
    ctx.require_self_or_admin(&user)?;
    Ok(ctx.data(user_metadata::delete(&state, ctx.app.id, &user).await?))
}
