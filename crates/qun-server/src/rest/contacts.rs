//! Contacts and users' blocklists over REST: the SDK's calls (a user token, the path naming
//! the caller) and the app administrator's (any user in the path). What each call sends and
//! reads is in `qun_proto::rest::contacts`; the rules are `services::contacts`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use qun_core::UserName;
use qun_core::limits::BATCH_MAX;
use qun_proto::ErrorCode;
use qun_proto::rest::contacts::{
    ContactApplication, ContactEntry, ContactRemark, ContactsPage, ContactsSetting, Usernames,
};
use qun_proto::rest::users::ResultData;

use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::contacts::Answer;
use crate::services::users::user_entity;
use crate::services::{contacts, parse_user, store_error, user_not_found};
use crate::state::AppState;

type UserPath = Path<(String, String, String)>;
type UserPairPath = Path<(String, String, String, String)>;

/// Contacts in one list reply at most (Agora's contact limit: all of them).
const CONTACTS_LIST_MAX: u32 = qun_core::limits::CONTACTS_MAX as u32;

/// `POST /users/{me}/contacts/apply` `{usernames: [to], reason}` (`addContact`).
pub(crate) async fn apply(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, me)): UserPath,
    JsonBody(body): JsonBody<ContactApplication>,
) -> Result<Response, HttpError> {
    let me = owner(&ctx, &me)?;
    let targets = usernames(&body.usernames)?;
    let reason = body.reason.unwrap_or_default();
    if qun_core::limits::chars(&reason) > qun_core::limits::REQUEST_MESSAGE_MAX_CHARS {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "reason is longer than 512 characters"));
    }
    for target in &targets {
        contacts::request(&state, ctx.app.id, &me, target, &reason).await?;
    }
    Ok(ctx.data(ResultData { result: true }))
}

/// `POST /users/{me}/contacts/accept/users/{from}` (`acceptContactInvite`).
pub(crate) async fn accept(state: State<AppState>, ctx: Ctx, path: UserPairPath) -> Result<Response, HttpError> {
    answer(state, ctx, path, Answer::Accept).await
}

/// `POST /users/{me}/contacts/decline/users/{from}` (`declineContactInvite`).
pub(crate) async fn decline(state: State<AppState>, ctx: Ctx, path: UserPairPath) -> Result<Response, HttpError> {
    answer(state, ctx, path, Answer::Decline).await
}

async fn answer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, me, from)): UserPairPath,
    answer: Answer,
) -> Result<Response, HttpError> {
    let me = owner(&ctx, &me)?;
    contacts::answer(&state, ctx.app.id, &me, &parse_user(&from)?, answer).await?;
    Ok(ctx.data(ResultData { result: true }))
}

/// `GET /users/{u}/contacts/users[?needReturnRemark=true]`: `data` is the names
/// (`getContacts`); with the flag, `entities` also has each with its remark (`getAllContacts`).
pub(crate) async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): UserPath,
) -> Result<Response, HttpError> {
    let user = owner(&ctx, &user)?;
    let all = contacts::contacts(&state, ctx.app.id, &user, None, CONTACTS_LIST_MAX).await?;
    let names: Vec<String> = all.iter().map(|contact| contact.name.to_string()).collect();
    let entities = if ctx.flag_param("needReturnRemark") { entries(all) } else { Vec::new() };
    let mut envelope = ctx.envelope(Some(names), entities);
    envelope.count = envelope.data.as_ref().map(|names| names.len() as u64);
    Ok(Json(envelope).into_response())
}

/// `GET /users/{u}/contacts?limit=&cursor=` (`getContactsWithCursor`): a page in name order;
/// the cursor is the last name, `""` after the last page.
pub(crate) async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): UserPath,
) -> Result<Response, HttpError> {
    let user = owner(&ctx, &user)?;
    let limit = ctx.number_param("limit", 20, 1..=50)?;
    let after = cursor(&ctx)?;
    let found = contacts::contacts(&state, ctx.app.id, &user, after.as_ref(), limit + 1).await?;
    let more = found.len() > limit as usize;
    let contacts = entries(found.into_iter().take(limit as usize).collect());
    let cursor = if more { contacts.last().map(|c| c.username.clone()).unwrap_or_default() } else { String::new() };
    Ok(ctx.data(ContactsPage { contacts, cursor }))
}

/// `POST /users/{u}/contacts/users/{c}`: the app administrator makes them contacts; answers
/// the contact's entity.
pub(crate) async fn add(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user, contact)): UserPairPath,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let (user, contact) = (parse_user(&user)?, parse_user(&contact)?);
    contacts::add(&state, ctx.app.id, &user, &contact).await?;
    entity_reply(&state, &ctx, &contact).await
}

/// `DELETE /users/{u}/contacts/users/{c}` (`deleteContact`); answers the contact's entity.
pub(crate) async fn remove(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user, contact)): UserPairPath,
) -> Result<Response, HttpError> {
    let user = owner(&ctx, &user)?;
    let contact = parse_user(&contact)?;
    contacts::remove(&state, ctx.app.id, &user, &contact).await?;
    entity_reply(&state, &ctx, &contact).await
}

/// `PUT /users/{u}/contacts/users/{c}` `{remark}` (`setContactRemark`).
pub(crate) async fn set_remark(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user, contact)): UserPairPath,
    JsonBody(body): JsonBody<ContactRemark>,
) -> Result<Response, HttpError> {
    let user = owner(&ctx, &user)?;
    contacts::set_remark(&state, ctx.app.id, &user, &parse_user(&contact)?, &body.remark).await?;
    Ok(ctx.data(ResultData { result: true }))
}

/// `GET /users/{u}/blocks/users[?pageSize=&cursor=]` (`getBlocklist`): names in name order
/// (all of them, 500 at most, by default), `cursor` when there are more.
pub(crate) async fn blocklist(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): UserPath,
) -> Result<Response, HttpError> {
    let user = owner(&ctx, &user)?;
    let max = qun_core::limits::USER_BLOCKLIST_MAX as u32;
    let limit = ctx.number_param("pageSize", max, 1..=max)?;
    let after = cursor(&ctx)?;
    let mut names = contacts::blocklist(&state, ctx.app.id, &user, after.as_ref(), limit + 1).await?;
    let more = names.len() > limit as usize;
    names.truncate(limit as usize);
    let names: Vec<String> = names.iter().map(UserName::to_string).collect();
    let mut envelope = ctx.envelope::<_, ()>(None, Vec::new());
    envelope.count = Some(names.len() as u64);
    envelope.cursor = more.then(|| names.last().cloned()).flatten();
    envelope.data = Some(names);
    Ok(Json(envelope).into_response())
}

/// `POST /users/{u}/blocks/users` and `POST /sdk/user/{me}/blocks` `{usernames}`
/// (`addUsersToBlocklist`): `data` is the users now blocked.
pub(crate) async fn block(
    state: State<AppState>,
    ctx: Ctx,
    path: UserPath,
    body: JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    change_blocklist(state, ctx, path, body, true).await
}

/// `DELETE /sdk/user/{me}/blocks` `{usernames}` (`removeUserFromBlocklist`): `data` is the
/// users taken off.
pub(crate) async fn unblock_many(
    state: State<AppState>,
    ctx: Ctx,
    path: UserPath,
    body: JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    change_blocklist(state, ctx, path, body, false).await
}

async fn change_blocklist(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): UserPath,
    JsonBody(body): JsonBody<Usernames>,
    add: bool,
) -> Result<Response, HttpError> {
    let user = owner(&ctx, &user)?;
    let users = usernames(&body.usernames)?;
    let changed = if add {
        contacts::block(&state, ctx.app.id, &user, &users).await?
    } else {
        contacts::unblock(&state, ctx.app.id, &user, &users).await?
    };
    Ok(ctx.data(changed.iter().map(UserName::to_string).collect::<Vec<_>>()))
}

/// `DELETE /users/{u}/blocks/users/{b}`: answers the unblocked user's entity.
pub(crate) async fn unblock_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user, blocked)): UserPairPath,
) -> Result<Response, HttpError> {
    let user = owner(&ctx, &user)?;
    let blocked = parse_user(&blocked)?;
    if contacts::unblock(&state, ctx.app.id, &user, std::slice::from_ref(&blocked)).await?.is_empty() {
        return Err(HttpError::new(ErrorCode::ResourceNotFound, format!("user {blocked} is not blocked by {user}")));
    }
    entity_reply(&state, &ctx, &blocked).await
}

/// `GET /settings/contacts` (Qun's own call): whether 1:1 chat needs contacts.
pub(crate) async fn setting(ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    Ok(ctx.data(ContactsSetting { contacts_only: ctx.app.settings.contacts_only_chat }))
}

/// `PUT /settings/contacts` `{"contacts_only": bool}` (Qun's own call, Agora's console
/// switch): turns the check on or off; answers the new setting.
pub(crate) async fn set_setting(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<ContactsSetting>,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let settings = qun_store::AppSettings { contacts_only_chat: body.contacts_only, ..ctx.app.settings.clone() };
    let app = state.update_app_settings(&ctx.app, settings).await?;
    tracing::info!(app_id = app.id, contacts_only = body.contacts_only, "contacts-only chat changed");
    Ok(ctx.data(ContactsSetting { contacts_only: app.settings.contacts_only_chat }))
}

/// The user the path names, who must be the caller (or the caller the app administrator).
fn owner(ctx: &Ctx, raw: &str) -> Result<UserName, HttpError> {
    let user = parse_user(raw)?;
    ctx.require_self_or_admin(&user)?;
    Ok(user)
}

fn usernames(raw: &[String]) -> Result<Vec<UserName>, HttpError> {
    if raw.is_empty() || raw.len() > BATCH_MAX {
        return Err(HttpError::new(ErrorCode::IllegalArgument, format!("usernames must name 1 to {BATCH_MAX} users")));
    }
    Ok(raw.iter().map(|name| parse_user(name)).collect::<Result<_, _>>()?)
}

fn cursor(ctx: &Ctx) -> Result<Option<UserName>, HttpError> {
    Ok(ctx.param("cursor").filter(|raw| !raw.is_empty()).map(parse_user).transpose()?)
}

fn entries(contacts: Vec<qun_store::ContactRecord>) -> Vec<ContactEntry> {
    contacts
        .into_iter()
        .map(|contact| ContactEntry { username: contact.name.to_string(), remark: contact.remark })
        .collect()
}

async fn entity_reply(state: &AppState, ctx: &Ctx, user: &UserName) -> Result<Response, HttpError> {
    let record = state.store.user(ctx.app.id, user).await.map_err(store_error)?.ok_or_else(|| user_not_found(user))?;
    Ok(Json(ctx.envelope::<(), _>(None, vec![user_entity(&record)])).into_response())
}
