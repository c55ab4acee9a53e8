//! The SDK's conversation list calls (see [`crate::services::conversations`]), each for the
//! caller's own list (the app token acts for any user):
//! - `GET /sdk/user/{me}/user_channels/list?limit&cursor&need_mark[&is_top]`
//!   (`getServerConversations`, `getServerPinnedConversations` with `is_top=true`);
//! - `GET /sdk/user/{me}/user_channels/mark/search?limit&cursor&mark`
//!   (`getServerConversationsByFilter`);
//! - `POST /sdk/user/{me}/user_channel/top` `{type, to}` / `DELETE …?type&to` (`pinConversation`);
//! - `POST` / `DELETE /sdk/user/{me}/user_channels/mark` `{mark, targets}`
//!   (`addConversationMark` / `removeConversationMark`);
//! - `DELETE /user/{me}/user_channel` `{channel, type, delete_roam}` (`deleteConversation`; the
//!   REST API spells it `/users/{u}/user_channel`).
//!
//! The page cursor is the offset of the next page as text; empty on the last page.

use axum::extract::{Path, State};
use axum::response::Response;
use qun_core::UserName;
use qun_proto::ErrorCode;
use qun_proto::msync::{Message, MessageBody, Meta};
use qun_proto::rest::conversations::{
    CHAT, ChannelInfo, ConversationPage, DeleteConversation, DeleteResult, GROUP_CHAT, LastMessage, MarkRequest,
    MarkResult, PinRequest, PinState,
};
use qun_proto::rest::messages::HistoryPayload;
use qun_store::{QueueKey, TimelineItem};

use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::conversations::{self, ConversationView, Listing, MARKS};
use crate::services::groups::parse_group_id;
use crate::services::parse_user;
use crate::state::AppState;

/// Conversations per page at most.
const PAGE_MAX: u32 = 100;

/// `GET /sdk/user/{me}/user_channels/list`.
pub(crate) async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let listing = if ctx.flag_param("is_top") { Listing::Pinned } else { Listing::All };
    page(&state, &ctx, &user, listing, 20).await
}

/// `GET /sdk/user/{me}/user_channels/mark/search`.
pub(crate) async fn list_marked(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let mark = parse_mark(ctx.param("mark"))?;
    page(&state, &ctx, &user, Listing::Marked(mark), 10).await
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    user: &str,
    listing: Listing,
    default_limit: u32,
) -> Result<Response, HttpError> {
    let me = caller_self(ctx, user)?;
    let limit = ctx.number_param("limit", default_limit, 1..=PAGE_MAX)?;
    let offset = match ctx.param("cursor").map(str::trim) {
        None | Some("") => 0,
        Some(raw) => {
            raw.parse::<usize>().map_err(|_| HttpError::new(ErrorCode::IllegalArgument, "cursor is not ours"))?
        }
    };
    let (views, next) = conversations::list(state, &ctx.app, &me, listing, offset, limit as usize).await?;
    let channel_infos = views.iter().filter_map(channel_info).collect();
    Ok(ctx.data(ConversationPage { channel_infos, cursor: next.map(|n| n.to_string()).unwrap_or_default() }))
}

/// A conversation as the SDK reads it (a stored message that cannot be read is left out).
fn channel_info(view: &ConversationView) -> Option<ChannelInfo> {
    let TimelineItem::Message(bytes) = &view.newest.item else { return None };
    let meta = Meta::decode(bytes.as_slice()).ok()?;
    let body: MessageBody = meta.decode_payload().ok()?;
    let name = |jid: &Option<qun_proto::msync::Jid>| jid.as_ref().and_then(|j| j.name.clone()).unwrap_or_default();
    let (session_to, session_type) = match &view.conversation {
        QueueKey::Group(group) => (group.to_string(), GROUP_CHAT),
        QueueKey::Chat(peer) => (peer.to_string(), CHAT),
        QueueKey::Personal => return None,
    };
    let payload = serde_json::to_string(&HistoryPayload::from_message(&body)).ok()?;
    Some(ChannelInfo {
        session_to,
        session_type: session_type.to_owned(),
        is_top: view.pinned_ms.is_some(),
        update_top_status_time: view.pinned_ms.unwrap_or(0),
        unread_num: view.unread,
        meta: LastMessage {
            id: view.newest.id.to_string(),
            from: name(&meta.from),
            to: name(&meta.to),
            timestamp: view.newest.created_ms,
            payload,
        },
        marks: (0..MARKS).filter(|mark| view.marks & (1 << mark) != 0).map(|mark| format!("mark_{mark}")).collect(),
    })
}

/// `POST /sdk/user/{me}/user_channel/top`.
pub(crate) async fn pin(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<PinRequest>,
) -> Result<Response, HttpError> {
    set_pinned(&state, &ctx, &user, request.kind.as_deref(), request.to.as_deref(), true).await
}

/// `DELETE /sdk/user/{me}/user_channel/top?type&to`.
pub(crate) async fn unpin(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    set_pinned(&state, &ctx, &user, ctx.param("type"), ctx.param("to"), false).await
}

async fn set_pinned(
    state: &AppState,
    ctx: &Ctx,
    user: &str,
    kind: Option<&str>,
    to: Option<&str>,
    pinned: bool,
) -> Result<Response, HttpError> {
    let me = caller_self(ctx, user)?;
    let conversation = conversation_key(kind, to)?;
    let pinned_ms = conversations::pin(state, &ctx.app, &me, &conversation, pinned).await?;
    Ok(ctx.data(PinState { is_top: pinned_ms.is_some(), update_top_status_time: pinned_ms.unwrap_or(0) }))
}

/// `POST /sdk/user/{me}/user_channels/mark`.
pub(crate) async fn add_mark(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<MarkRequest>,
) -> Result<Response, HttpError> {
    set_mark(&state, &ctx, &user, request, true).await
}

/// `DELETE /sdk/user/{me}/user_channels/mark`.
pub(crate) async fn remove_mark(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<MarkRequest>,
) -> Result<Response, HttpError> {
    set_mark(&state, &ctx, &user, request, false).await
}

async fn set_mark(
    state: &AppState,
    ctx: &Ctx,
    user: &str,
    request: MarkRequest,
    marked: bool,
) -> Result<Response, HttpError> {
    let me = caller_self(ctx, user)?;
    let mark = parse_mark(request.mark.as_deref())?;
    let targets = request.targets.unwrap_or_default();
    let keys = targets
        .iter()
        .map(|target| conversation_key(Some(&target.kind), Some(&target.to)))
        .collect::<Result<Vec<_>, _>>()?;
    let ignored = conversations::mark(state, &ctx.app, &me, keys.clone(), mark, marked).await?;
    let ignore =
        targets.into_iter().zip(keys).filter(|(_, key)| ignored.contains(key)).map(|(target, _)| target).collect();
    Ok(ctx.data(MarkResult { ignore }))
}

/// `DELETE /user/{me}/user_channel` (and `/users/{u}/user_channel`).
pub(crate) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<DeleteConversation>,
) -> Result<Response, HttpError> {
    let me = caller_self(&ctx, &user)?;
    let conversation = conversation_key(request.kind.as_deref(), request.channel.as_deref())?;
    conversations::delete(&state, &ctx.app, &me, &conversation, request.delete_roam.unwrap_or(false)).await?;
    Ok(ctx.data(DeleteResult { result: "ok".to_owned() }))
}

/// The path's user, who must be the caller (or the app acting for them).
fn caller_self(ctx: &Ctx, user: &str) -> Result<UserName, HttpError> {
    let me = parse_user(user)?;
    ctx.require_self_or_admin(&me)?;
    Ok(me)
}

/// A conversation named by its type (`chat`, or `groupChat` / `groupchat`) and target.
fn conversation_key(kind: Option<&str>, to: Option<&str>) -> Result<QueueKey, HttpError> {
    let to = to
        .filter(|to| !to.is_empty())
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "name the conversation"))?;
    match kind {
        Some(kind) if kind.eq_ignore_ascii_case(CHAT) || kind == "singleChat" => Ok(QueueKey::Chat(parse_user(to)?)),
        Some(kind) if kind.eq_ignore_ascii_case(GROUP_CHAT) => Ok(QueueKey::Group(parse_group_id(to)?)),
        _ => Err(HttpError::new(ErrorCode::InvalidParameter, "the conversation type must be chat or groupChat")),
    }
}

/// `mark_0` … `mark_19`.
fn parse_mark(raw: Option<&str>) -> Result<u8, HttpError> {
    raw.and_then(|raw| raw.strip_prefix("mark_"))
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| *n < MARKS)
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "mark must be mark_0 to mark_19"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_conversation_types_read_as_the_sdk_writes_them() {
        assert_eq!(parse_mark(Some("mark_0")).ok(), Some(0));
        assert_eq!(parse_mark(Some("mark_19")).ok(), Some(19));
        for bad in [None, Some("mark_20"), Some("3"), Some("mark_-1")] {
            assert!(parse_mark(bad).is_err(), "{bad:?}");
        }
        let bob = QueueKey::Chat(UserName::parse("bob").unwrap());
        assert_eq!(conversation_key(Some("chat"), Some("bob")).ok(), Some(bob.clone()));
        assert_eq!(conversation_key(Some("singleChat"), Some("bob")).ok(), Some(bob));
        for kind in ["groupChat", "groupchat"] {
            assert!(matches!(conversation_key(Some(kind), Some("123")), Ok(QueueKey::Group(_))), "{kind}");
        }
        assert!(conversation_key(Some("chatroom"), Some("123")).is_err());
        assert!(conversation_key(Some("chat"), None).is_err());
    }
}
