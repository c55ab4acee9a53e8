//! `POST /messages/chatgroups`, `POST /messages/chatrooms`, `POST /messages/users`
//! (agora-chat-api.md §4), the app administrator's recall `POST /messages/msg_recall` and the
//! recall time limit (`/settings/recall`), the SDK's history call
//! `POST /users/{me}/messageroaming`, and its removals from the caller's own history
//! (`DELETE /sdk/message/roaming/…`). Sends go through the same path as the
//! websocket's ([`crate::services::messages::send`]).

use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qun_core::limits::RECALL_TIME_LIMIT_MAX_SECS;
use qun_core::rules::{GroupAction, RoomAction};
use qun_core::{GroupId, RoomId, RoomPriority, UserName};
use qun_proto::ErrorCode;
use qun_proto::msync::{self, KeyValue, Message, MessageBody, pb};
use qun_proto::rest::messages::{
    REMOVED, RecallRefusal, RecallRefused, RecallRequest, RecallSetting, Recalled, RoamingMessage, RoamingPage,
    RoamingRequest, SendMessage, SentMessages, content_type_named,
};
use qun_store::{Conversation, HistoryDirection, QueueKey};
use serde_json::Value;

use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::Caller;
use crate::services::groups::{load_scene, parse_group_id};
use crate::services::history::{self, HistoryFilter};
use crate::services::messages::{self, MESSAGE_MAX_BYTES, Target};
use crate::services::parse_user;
use crate::services::recall;
use crate::services::room_delivery;
use crate::services::rooms::{load_room_scene, parse_room_id};
use crate::state::AppState;

/// Group targets per call (Agora: 3).
const GROUP_TARGETS_MAX: usize = 3;
/// Room targets per call (Agora: 10).
const ROOM_TARGETS_MAX: usize = 10;
/// User targets per call (Agora: 600).
const USER_TARGETS_MAX: usize = 600;
/// History entries per page at most.
const ROAMING_PAGE_MAX: u32 = 50;

/// `POST /messages/chatgroups`.
pub(crate) async fn send_to_groups(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(request): JsonBody<SendMessage>,
) -> Result<Response, HttpError> {
    let targets = targets(&request, GROUP_TARGETS_MAX, "params to's size can't exceed limit 3")?;
    let groups: Vec<GroupId> = targets.iter().map(|t| parse_group_id(t)).collect::<Result<_, _>>()?;
    send_all(&state, &ctx, &request, groups.into_iter().map(Target::Group).collect()).await
}

/// `POST /messages/chatrooms`: one message to each room, to the members in it now (rooms keep
/// no offline messages), at `chatroom_msg_level`, subject to each room's rate threshold like a
/// client's message. Every room and the sender's right to send are checked before anything is
/// sent.
pub(crate) async fn send_to_rooms(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(request): JsonBody<SendMessage>,
) -> Result<Response, HttpError> {
    let targets = targets(&request, ROOM_TARGETS_MAX, "params to's size can't exceed limit 10")?;
    let level = match request.chatroom_msg_level.as_deref() {
        None => RoomPriority::Normal,
        Some(level) => RoomPriority::from_level(level).ok_or_else(|| {
            HttpError::new(ErrorCode::InvalidParameter, "chatroom_msg_level must be high, normal or low")
        })?,
    };
    let rooms: Vec<RoomId> = targets.iter().map(|t| parse_room_id(t)).collect::<Result<_, _>>()?;
    let caller = ctx.caller()?.clone();
    let from = sender(&caller, &request)?;
    let body = message_body(&request, &from)?;
    for room in &rooms {
        let scene = load_room_scene(&state, &ctx.app, &caller, *room, &[]).await?;
        scene.authorize(RoomAction::SendMessage, None)?;
    }
    let mut sent = SentMessages::new();
    for room in rooms {
        let message =
            room_delivery::send_from_rest(&state, &ctx.app, &caller, room, &from, body.clone(), level).await?;
        sent.insert(room.to_string(), message.id.to_string());
    }
    Ok(ctx.data(sent))
}

/// `POST /messages/users`.
pub(crate) async fn send_to_users(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(request): JsonBody<SendMessage>,
) -> Result<Response, HttpError> {
    let targets = targets(&request, USER_TARGETS_MAX, "to must name 1 to 600 users")?;
    let users: Vec<UserName> = targets.iter().map(|t| parse_user(t)).collect::<Result<_, _>>()?;
    send_all(&state, &ctx, &request, users.into_iter().map(Target::User).collect()).await
}

/// Sends one message to each target; checks every target before sending to any, so a bad
/// request sends nothing.
async fn send_all(
    state: &AppState,
    ctx: &Ctx,
    request: &SendMessage,
    targets: Vec<Target>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?.clone();
    let from = sender(&caller, request)?;
    let body = message_body(request, &from)?;
    for target in &targets {
        match target {
            Target::Group(group) => {
                let scene = load_scene(state, &ctx.app, &caller, *group, &[]).await?;
                scene.authorize(GroupAction::SendMessage, None)?;
            }
            Target::User(user) => {
                if state.store.user(ctx.app.id, user).await?.is_none() {
                    return Err(crate::services::user_not_found(user).into());
                }
            }
        }
    }
    let routetype = match request.routetype.as_deref() {
        Some("ROUTE_ONLINE") => Some(pb::meta::RouteType::RouteOnline as i32),
        _ => None,
    };
    let mut sent = SentMessages::new();
    for target in targets {
        let key = match &target {
            Target::Group(group) => group.to_string(),
            Target::User(user) => user.to_string(),
        };
        let message =
            messages::send(state, &ctx.app, &caller, None, target, body.clone(), Vec::new(), None, routetype).await?;
        sent.insert(key, message.id.to_string());
    }
    Ok(ctx.data(sent))
}

/// The request's `to`: 1 to `max` targets, else 400 with `error`.
fn targets<'a>(request: &'a SendMessage, max: usize, error: &str) -> Result<&'a [String], HttpError> {
    let targets = request.to.as_deref().unwrap_or_default();
    if targets.is_empty() || targets.len() > max {
        return Err(HttpError::new(ErrorCode::InvalidParameter, error));
    }
    Ok(targets)
}

/// Who a REST message is from: a user token's user, else `from` (default `admin`; Agora does
/// not check that it exists).
fn sender(caller: &Caller, request: &SendMessage) -> Result<UserName, HttpError> {
    match (caller, request.from.as_deref()) {
        (Caller::User(me), _) => Ok(me.clone()),
        (Caller::AppAdmin, Some("")) => Err(HttpError::new(ErrorCode::InvalidParameter, "from must not be empty")),
        (Caller::AppAdmin, from) => Ok(parse_user(from.unwrap_or("admin"))?),
    }
}

/// Builds the msync body of a REST message: its one content, typed per `type`, and `ext`.
/// `ext` goes into `MessageBody.ext`, where the SDK reads a message's ext (and puts it when
/// it sends); `Meta.ext` is for routing tags such as `chatroom_msg_tag`.
fn message_body(request: &SendMessage, from: &UserName) -> Result<MessageBody, HttpError> {
    use pb::message_body::content::Type as ContentType;
    let body = request
        .body
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "body must be an object"))?;
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| body.get(key).and_then(Value::as_f64);
    let mut content = pb::message_body::Content::default();
    match request.kind.as_deref() {
        Some("txt") => {
            content.set_type(ContentType::Text);
            content.text = Some(
                text("msg").ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "body.msg must be provided"))?,
            );
        }
        Some(kind @ ("img" | "audio" | "video" | "file")) => {
            content.set_type(match kind {
                "img" => ContentType::Image,
                "audio" => ContentType::Voice,
                "video" => ContentType::Video,
                _ => ContentType::File,
            });
            content.remote_path = Some(
                text("url").ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "body.url must be provided"))?,
            );
            content.display_name = text("filename");
            content.secret_key = text("secret");
            content.duration = number("length").map(|n| n as i32);
            content.file_length = number("file_length").map(|n| n as i32);
            content.thumbnail_remote_path = text("thumb");
            content.thumbnail_secret_key = text("thumb_secret");
            if let Some(size) = body.get("size").and_then(Value::as_object) {
                content.size = Some(pb::message_body::content::Size {
                    width: size.get("width").and_then(Value::as_f64),
                    height: size.get("height").and_then(Value::as_f64),
                });
            }
        }
        Some("loc") => {
            content.set_type(ContentType::Location);
            content.latitude = number("lat");
            content.longitude = number("lng");
            content.address = text("addr");
        }
        Some("cmd") => {
            content.set_type(ContentType::Command);
            content.action = Some(
                text("action")
                    .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "body.action must be provided"))?,
            );
        }
        Some("custom") => {
            content.set_type(ContentType::Custom);
            content.custom_event = text("customEvent");
            if let Some(exts) = body.get("customExts").and_then(Value::as_object) {
                content.custom_exts = exts.iter().map(|(k, v)| key_value(k, v)).collect();
            }
        }
        _ => {
            return Err(HttpError::new(
                ErrorCode::InvalidParameter,
                "type must be txt, img, audio, video, file, loc, cmd or custom",
            ));
        }
    }
    let ext = match &request.ext {
        None => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| key_value(k, v)).collect(),
        Some(_) => return Err(HttpError::new(ErrorCode::InvalidParameter, "ext must be an object")),
    };
    let message = MessageBody {
        from: Some(msync::Jid { name: Some(from.to_string()), ..Default::default() }),
        contents: vec![content],
        ext,
        ..Default::default()
    };
    if message.encoded_len() > MESSAGE_MAX_BYTES {
        return Err(HttpError::new(ErrorCode::MessageTooLarge, "message is too large"));
    }
    Ok(message)
}

/// A JSON value as a typed msync `KeyValue`, as the SDK encodes `ext`.
fn key_value(key: &str, value: &Value) -> KeyValue {
    use pb::key_value::{Value as Typed, ValueType};
    let (kind, typed) = match value {
        Value::Bool(b) => (ValueType::Bool, Typed::VarintValue(i64::from(*b))),
        Value::Number(n) if n.is_i64() => (ValueType::Int, Typed::VarintValue(n.as_i64().unwrap_or(0))),
        Value::Number(n) => (ValueType::Double, Typed::DoubleValue(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => (ValueType::String, Typed::StringValue(s.clone())),
        other => (ValueType::JsonString, Typed::StringValue(other.to_string())),
    };
    KeyValue { key: Some(key.to_owned()), r#type: Some(kind as i32), value: Some(typed) }
}

/// `POST /users/{me}/messageroaming` (`getHistoryMessages`): a conversation's history, page by
/// page, newest first or (`is_positive`, the SDK's `searchDirection: 'down'`) oldest first,
/// filtered by `msgType`, `startTime` / `endTime` and `userId` (see [`history`]).
pub(crate) async fn roaming(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, user)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<RoamingRequest>,
) -> Result<Response, HttpError> {
    let me = parse_user(&user)?;
    ctx.require_self_or_admin(&me)?;
    let queue = request
        .queue
        .as_deref()
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "queue must be provided"))?;
    let source = history::resolve(&state, &ctx.app, &me, queue).await?;
    let from_id = match &request.start {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n < 0) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if s.is_empty() || s == "-1" => None,
        Some(Value::String(s)) => Some(
            s.parse::<u64>().map_err(|_| HttpError::new(ErrorCode::IllegalArgument, "start must be a message id"))?,
        ),
        Some(_) => return Err(HttpError::new(ErrorCode::IllegalArgument, "start must be a message id")),
    };
    let direction = if request.is_positive == Some(true) { HistoryDirection::Newer } else { HistoryDirection::Older };
    let types = request
        .msg_type
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            content_type_named(name).ok_or_else(|| {
                HttpError::new(ErrorCode::InvalidParameter, format!("msgType {name:?} is not a message type"))
            })
        })
        .collect::<Result<_, _>>()?;
    let sender = match request.user_id.as_deref() {
        None | Some("") => None,
        Some(sender) => Some(parse_user(sender)?),
    };
    let filter = HistoryFilter { types, sender, since_ms: request.start_time, until_ms: request.end_time };
    let limit = request.pull_number.unwrap_or(20).clamp(1, ROAMING_PAGE_MAX);
    let page = history::page(&state, &ctx.app, &me, &source, from_id, direction, &filter, limit).await?;
    let msgs = page.metas.iter().map(|meta| RoamingMessage { msg: STANDARD.encode(meta) }).collect();
    let next_key = page.next_key.map(|id| id.to_string()).unwrap_or_default();
    Ok(ctx.data(RoamingPage { msgs, next_key, is_last: page.is_last }))
}

/// `DELETE /sdk/message/roaming/{chat|group}/user/{me}?userId|groupId=…&msgIdList=a,b`
/// (`removeHistoryMessages` by ids): the messages leave the caller's history only.
pub(crate) async fn remove_history(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, kind, user)): Path<(String, String, String, String)>,
) -> Result<Response, HttpError> {
    let (me, conversation) = removal_target(&state, &ctx, &kind, &user).await?;
    let ids = ctx
        .param("msgIdList")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.parse::<u64>()
                .map_err(|_| HttpError::new(ErrorCode::InvalidParameter, "msgIdList must list message ids"))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    history::remove_messages(&state, &ctx.app, &me, &conversation, &ids).await?;
    Ok(ctx.data(REMOVED))
}

/// `DELETE /sdk/message/roaming/{chat|group}/user/{me}/time?userId|groupId=…&delTime=ms`
/// (`removeHistoryMessages` by time): everything before `delTime` leaves the caller's history.
pub(crate) async fn remove_history_before(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, kind, user)): Path<(String, String, String, String)>,
) -> Result<Response, HttpError> {
    let (me, conversation) = removal_target(&state, &ctx, &kind, &user).await?;
    let before_ms = ctx
        .param("delTime")
        .and_then(|raw| raw.trim().parse::<i64>().ok())
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "delTime must be a time in ms"))?;
    history::remove_before(&state, &ctx.app, &me, &conversation, before_ms).await?;
    Ok(ctx.data(REMOVED))
}

/// The caller and the conversation a removal names: `chat` with `userId`, `group` with
/// `groupId` (the SDK sends chat rooms as `group`; rooms keep no history of their own to remove).
async fn removal_target(
    state: &AppState,
    ctx: &Ctx,
    kind: &str,
    user: &str,
) -> Result<(UserName, QueueKey), HttpError> {
    let me = parse_user(user)?;
    ctx.require_self_or_admin(&me)?;
    let (peer, group) = match kind {
        "chat" => (Some(ctx.param("userId").unwrap_or_default()), None),
        "group" => (None, Some(ctx.param("groupId").unwrap_or_default())),
        _ => return Err(HttpError::new(ErrorCode::InvalidParameter, "the conversation type must be chat or group")),
    };
    let conversation = history::removal_target(state, &ctx.app, &me, peer, group).await?;
    Ok((me, conversation))
}

/// `POST /messages/msg_recall` (also `/messages/recall`), the app administrator's recall of a
/// 1:1 or group message, at any time: `{msg_id, to, chat_type, from?}`. The receivers get
/// `onRecallMessage` from `from` (default `admin`). A message that is not there (or was
/// recalled), and chat room messages (rooms keep none), answer `data.msgs[].recalled` =
/// `not_found msg`; a message of another conversation than `to` names, `can't find msg to`.
pub(crate) async fn recall(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(request): JsonBody<RecallRequest>,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let message_id = match &request.msg_id {
        Some(Value::String(id)) => id.parse::<u64>().ok(),
        Some(Value::Number(id)) => id.as_u64(),
        _ => None,
    }
    .ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "msg_id must be a message id"))?;
    let to = request.to.as_deref().ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, "to must be provided"))?;
    let chat_type = request.chat_type.as_deref().unwrap_or_default();
    if !matches!(chat_type, "chat" | "groupchat" | "chatroom") {
        return Err(HttpError::new(ErrorCode::InvalidParameter, "chat_type must be chat, groupchat or chatroom"));
    }
    let by = match request.from.as_deref() {
        None | Some("") => parse_user("admin")?,
        Some(from) => parse_user(from)?,
    };
    let refused = |why: &str| {
        ctx.data(RecallRefused {
            msgs: vec![RecallRefusal { msg_id: message_id.to_string(), recalled: why.to_owned() }],
        })
    };
    let message = match state.store.message_by_id(ctx.app.id, message_id).await? {
        Some(message) if chat_type != "chatroom" => message,
        _ => return Ok(refused("not_found msg")),
    };
    let in_named_conversation = match &message.conversation {
        Conversation::Group(group) => chat_type == "groupchat" && group.to_string() == to,
        Conversation::Chat { low, high } => chat_type == "chat" && (low.as_str() == to || high.as_str() == to),
    };
    if !in_named_conversation {
        return Ok(refused("can't find msg to"));
    }
    match recall::recall_by_admin(&state, &ctx.app, &by, message_id).await {
        Ok(_) => Ok(ctx.data(Recalled {
            recalled: "yes".to_owned(),
            chattype: chat_type.to_owned(),
            from: by.to_string(),
            to: to.to_owned(),
            msg_id: message_id.to_string(),
        })),
        // Recalled by someone else since it was read above.
        Err(error) if error.code == ErrorCode::MessageNotFound => Ok(refused("not_found msg")),
        Err(error) => Err(error.into()),
    }
}

/// `GET /settings/recall` (Qun's own call): the app's recall time limit.
pub(crate) async fn recall_setting(ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    Ok(ctx.data(RecallSetting { time_limit_secs: ctx.app.settings.recall_time_limit_secs }))
}

/// `PUT /settings/recall` `{"time_limit_secs": n}` (Qun's own call; Agora keeps it in its
/// console): how long after sending a user may recall a message, 1 s to 7 days.
pub(crate) async fn set_recall_setting(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<RecallSetting>,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    if !(1..=RECALL_TIME_LIMIT_MAX_SECS).contains(&body.time_limit_secs) {
        return Err(HttpError::new(ErrorCode::InvalidParameter, "time_limit_secs must be 1 to 604800 (7 days)"));
    }
    let settings = qun_store::AppSettings { recall_time_limit_secs: body.time_limit_secs, ..ctx.app.settings.clone() };
    let app = state.update_app_settings(&ctx.app, settings).await?;
    tracing::info!(app_id = app.id, secs = body.time_limit_secs, "recall time limit changed");
    Ok(ctx.data(RecallSetting { time_limit_secs: app.settings.recall_time_limit_secs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_ext_goes_into_the_message_body_where_the_sdk_reads_it() {
        let request: SendMessage = serde_json::from_value(serde_json::json!({
            "to": ["1"], "type": "txt", "body": {"msg": "hi"},
            "ext": {"s": "v", "n": 3, "d": 0.5, "b": true, "o": {"k": [1]}},
        }))
        .unwrap();
        let body = message_body(&request, &UserName::parse("ann").unwrap()).unwrap();
        use pb::key_value::ValueType;
        let ext: Vec<(&str, ValueType)> = body.ext.iter().map(|kv| (kv.key(), kv.r#type())).collect();
        assert_eq!(
            ext,
            [
                ("b", ValueType::Bool),
                ("d", ValueType::Double),
                ("n", ValueType::Int),
                ("o", ValueType::JsonString),
                ("s", ValueType::String),
            ]
        );
        assert_eq!(body.contents[0].text(), "hi");
    }
}
