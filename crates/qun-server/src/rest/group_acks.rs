//! Who read a group message: `GET /chatgroups/{g}/acks/{msg}` (the SDK's
//! `getGroupMsgReadUser`, which asks `limit=500`). The rules are `services::receipts`'.

use axum::extract::{Path, State};
use axum::response::Response;
use qun_proto::ErrorCode;
use qun_proto::rest::receipts::GroupMessageReaders;

use crate::http::{Ctx, HttpError};
use crate::ids::now_ms;
use crate::services::groups::parse_group_id;
use crate::services::receipts::{group_readers, parse_message_id};
use crate::state::AppState;

/// Readers per page at most; the SDK asks 500 (a group with receipts has at most 200 members).
const READERS_PAGE_MAX: u32 = 500;

/// `GET /chatgroups/{g}/acks/{msg}?limit=&key=` → `{ackmid, is_last, next_key, timestamp,
/// total, userlist}`: readers in the order they read, `key` the `next_key` of the page before.
pub(crate) async fn readers(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, message)): Path<(String, String, String, String)>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let message_id = parse_message_id(&message)?;
    let limit = ctx.number_param("limit", 20, 1..=READERS_PAGE_MAX)?;
    // The SDK's first call sends its unset key as the text "undefined".
    let after = match ctx.param("key").filter(|key| !matches!(*key, "" | "undefined" | "null")) {
        Some(key) => {
            Some(key.parse::<u64>().map_err(|_| HttpError::new(ErrorCode::IllegalArgument, "key is not valid"))?)
        }
        None => None,
    };
    // One more than asked tells whether this page is the last.
    let mut page = group_readers(&state, &ctx.app, ctx.caller()?, group_id, message_id, after, limit + 1).await?;
    let is_last = page.readers.len() <= limit as usize;
    page.readers.truncate(limit as usize);
    let next_key =
        if is_last { String::new() } else { page.readers.last().map(|(id, _)| id.to_string()).unwrap_or_default() };
    Ok(ctx.data(GroupMessageReaders {
        ackmid: message_id.to_string(),
        is_last,
        next_key,
        timestamp: now_ms() as i64,
        total: page.total,
        userlist: page.readers.into_iter().map(|(_, reader)| reader.to_string()).collect(),
    }))
}
