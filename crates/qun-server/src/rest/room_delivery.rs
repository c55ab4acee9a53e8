//! Qun's own chat room calls (Agora keeps these in its console): how rooms deliver — the
//! recent-message history (size, on/off) and the rate limit — as app defaults and per room.
//!
//! - `GET | PUT /chatrooms/delivery` (app token): the app's defaults; a field a `PUT` leaves
//!   out keeps its value.
//! - `GET | PUT /chatrooms/{id}/delivery`: one room's overrides (`PUT` replaces them; a field
//!   left out takes the app's value), for the owner, admins and the app. The answer also says
//!   what the room runs with.

use axum::extract::State;
use axum::response::Response;
use qun_core::room_delivery::DeliverySettingsError;
use qun_core::rules::RoomAction;
use qun_core::{RoomDelivery, RoomDeliveryDefaults, RoomId};
use qun_proto::rest::rooms::{
    RoomDeliveryBody, RoomDeliveryDefaultsBody, RoomDeliveryDefaultsState, RoomDeliveryState,
};
use qun_proto::{ApiError, ErrorCode};
use qun_store::RoomMutation;

use super::rooms::Room;
use super::venue::{VenueAction, VenueCall};
use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::rooms::{RoomDecision, change_room};
use crate::state::AppState;

fn settings_error(error: DeliverySettingsError) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, error.to_string())
}

fn defaults_state(defaults: &RoomDeliveryDefaults) -> RoomDeliveryDefaultsState {
    RoomDeliveryDefaultsState {
        history_enabled: defaults.history_enabled,
        history_size: defaults.history_size,
        rate_limit: defaults.rate_limit_per_second,
    }
}

/// `GET /chatrooms/delivery` (app token).
pub(crate) async fn app_defaults(ctx: Ctx) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    Ok(ctx.data(defaults_state(&ctx.app.settings.rooms)))
}

/// `PUT /chatrooms/delivery` (app token).
pub(crate) async fn set_app_defaults(
    State(state): State<AppState>,
    ctx: Ctx,
    JsonBody(body): JsonBody<RoomDeliveryDefaultsBody>,
) -> Result<Response, HttpError> {
    ctx.require_app_admin()?;
    let mut settings = ctx.app.settings.clone();
    let rooms = &mut settings.rooms;
    rooms.history_enabled = body.history_enabled.unwrap_or(rooms.history_enabled);
    rooms.history_size = body.history_size.unwrap_or(rooms.history_size);
    rooms.rate_limit_per_second = body.rate_limit.unwrap_or(rooms.rate_limit_per_second);
    rooms.validate().map_err(settings_error)?;
    let updated = state.update_app_settings(&ctx.app, settings).await?;
    Ok(ctx.data(defaults_state(&updated.settings.rooms)))
}

fn room_state(room_id: RoomId, overrides: &RoomDelivery, app: &RoomDeliveryDefaults) -> RoomDeliveryState {
    let effective = overrides.effective(app);
    RoomDeliveryState {
        id: room_id.to_string(),
        overrides: RoomDeliveryBody {
            history_enabled: overrides.history_enabled,
            history_size: overrides.history_size,
            rate_limit: overrides.rate_limit_per_second,
        },
        history_size: effective.history_size,
        rate_limit: effective.rate_limit_per_second,
    }
}

/// `GET /chatrooms/{id}/delivery`: the owner, admins and the app.
pub(crate) async fn room_settings(call: VenueCall<Room>) -> Result<Response, HttpError> {
    let scene = call.readable(VenueAction::ReadRestrictionLists).await?;
    Ok(call.ctx.data(room_state(call.id, &scene.room().delivery, &call.ctx.app.settings.rooms)))
}

/// `PUT /chatrooms/{id}/delivery`: the owner and admins (as for the room's details) and the app.
pub(crate) async fn set_room_settings(
    VenueCall { state, ctx, id: room_id }: VenueCall<Room>,
    JsonBody(body): JsonBody<RoomDeliveryBody>,
) -> Result<Response, HttpError> {
    let caller = ctx.caller()?;
    let overrides = RoomDelivery {
        history_enabled: body.history_enabled,
        history_size: body.history_size,
        rate_limit_per_second: body.rate_limit,
    };
    overrides.validate().map_err(settings_error)?;
    change_room(&state, &ctx.app, caller, room_id, &[], |scene| {
        scene.authorize(RoomAction::UpdateInfo, None)?;
        let mut decision = RoomDecision::new(());
        decision.mutations.push(RoomMutation::SetDelivery(overrides));
        Ok(decision)
    })
    .await?;
    Ok(ctx.data(room_state(room_id, &overrides, &ctx.app.settings.rooms)))
}
