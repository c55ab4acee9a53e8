//! What a venue tells about itself (its details, its announcement), and which venues a user is
//! in.

use axum::extract::State;
use axum::response::Response;
use qun_core::limits;
use qun_proto::ErrorCode;
use qun_proto::rest::venue::{Announcement, AnnouncementBody, IdResult};

use super::input::required;
use super::{RestVenue, UserCall, VenueAction, VenueCall, VenueChange, VenueIds, VenueScene};
use crate::http::{Ctx, HttpError, JsonBody};
use crate::rest::paging;
use crate::state::AppState;

/// `GET /{venues}/{ids}`: up to 100 ids, comma-separated; each must be readable.
pub(crate) async fn details<V: RestVenue>(
    State(state): State<AppState>,
    ctx: Ctx,
    VenueIds(ids): VenueIds<V>,
) -> Result<Response, HttpError> {
    let mut details = Vec::with_capacity(ids.len());
    for id in ids {
        details.push(V::details(&state, &ctx, id).await?);
    }
    Ok(ctx.counted(details))
}

/// `GET /{venues}/{id}/announcement` → `{announcement}`: members.
pub(crate) async fn announcement<V: RestVenue>(call: VenueCall<V>) -> Result<Response, HttpError> {
    let scene = call.readable(VenueAction::ReadContent).await?;
    Ok(call.ctx.data(Announcement { announcement: scene.announcement().to_owned() }))
}

/// `POST /{venues}/{id}/announcement {announcement}` → `{id, result: true}`: the owner and
/// admins. An empty text deletes the announcement (and the event says so).
pub(crate) async fn set_announcement<V: RestVenue>(
    call: VenueCall<V>,
    JsonBody(body): JsonBody<AnnouncementBody>,
) -> Result<Response, HttpError> {
    let text = required("announcement", body.announcement)?;
    qun_core::group::validate_announcement(&text)
        .map_err(|error| HttpError::new(ErrorCode::InvalidParameter, error.to_string()))?;
    V::change(&call, &[], |scene| {
        scene.authorize(VenueAction::UpdateAnnouncement, None)?;
        let mut decision = V::Scene::decision(());
        scene.record(&mut decision, VenueChange::Announcement { text: text.clone() });
        Ok(decision)
    })
    .await?;
    tracing::info!(venue = V::NOUN, id = %call.id, chars = limits::chars(&text), "announcement set");
    Ok(call.ctx.data(IdResult { id: call.id.to_string(), result: true }))
}

/// `GET /users/{u}/joined_{venues}?pagenum=&pagesize=`: the venues the user is in, newest
/// joined first; with no paging, the 500 newest. The user themself or the app.
pub(crate) async fn joined<V: RestVenue>(call: UserCall) -> Result<Response, HttpError> {
    let (default_size, max_size) = V::JOINED_PAGE_SIZE;
    let page = paging::joined_page(&call.ctx, default_size, max_size)?;
    let (joined, total) = V::joined(&call, page).await?;
    Ok(paging::listed(&call.ctx, joined, None, total))
}
