//! Paging of lists, as Agora's calls ask for it: a `cursor` and a `limit`, or a page number
//! (from 1) and a page size; and the envelope a page answers in.

use axum::Json;
use axum::response::{IntoResponse, Response};
use qun_proto::ErrorCode;
use serde::Serialize;

use crate::http::{Ctx, HttpError};

/// A page as an offset and a size.
pub(crate) type Page = (u32, u32);

/// The `cursor` query parameter, parsed by `parse`; absent or empty: none.
pub(crate) fn cursor_param<C>(ctx: &Ctx, parse: impl FnOnce(&str) -> Option<C>) -> Result<Option<C>, HttpError> {
    match ctx.param("cursor").filter(|cursor| !cursor.is_empty()) {
        Some(cursor) => {
            parse(cursor).map(Some).ok_or_else(|| HttpError::new(ErrorCode::IllegalArgument, "cursor is not valid"))
        }
        None => Ok(None),
    }
}

/// A page that was read with one item more than `limit`: the page, and the next page's cursor
/// (`cursor_of` its last item) when there is more.
pub(crate) fn cut<T>(mut page: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let more = page.len() > limit as usize;
    page.truncate(limit as usize);
    let cursor = if more { page.last().map(cursor_of) } else { None };
    (page, cursor)
}

/// `pagenum` (from 1) and `pagesize` (`default_size`, at most `max_size`) as an offset and a size.
pub(crate) fn numbered_page(ctx: &Ctx, default_size: u32, max_size: u32) -> Result<Page, HttpError> {
    let size = ctx.number_param("pagesize", default_size, 1..=max_size)?;
    let number = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
    Ok(((number - 1).saturating_mul(size), size))
}

/// The page of a user's groups or rooms: [`numbered_page`], or the newest 500 when the call
/// names no page at all (Agora's default for these lists).
pub(crate) fn joined_page(ctx: &Ctx, default_size: u32, max_size: u32) -> Result<Page, HttpError> {
    match (ctx.param("pagenum"), ctx.param("pagesize")) {
        (None, None) => Ok((0, 500)),
        _ => numbered_page(ctx, default_size, max_size),
    }
}

/// An envelope with `data` and its `count`, and the `cursor` and `total` when there are.
pub(crate) fn listed<T: Serialize>(ctx: &Ctx, data: Vec<T>, cursor: Option<String>, total: Option<u64>) -> Response {
    let mut envelope = ctx.envelope::<Vec<T>, ()>(None, Vec::new());
    envelope.count = Some(data.len() as u64);
    envelope.cursor = cursor;
    envelope.total = total;
    envelope.data = Some(data);
    Json(envelope).into_response()
}
