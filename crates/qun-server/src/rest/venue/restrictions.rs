//! What a venue's owner and admins restrict: the blocklist, mutes, mute-all and the allowlist
//! (who may speak during mute-all). The lists are for the owner and admins to read; whether
//! oneself is muted or allowlisted, anyone may ask.

use axum::response::Response;
use qun_core::UserName;
use qun_core::limits::BATCH_MAX;
use qun_proto::ErrorCode;
use qun_proto::rest::venue::{MemberResult, MuteAllState, MuteMembers, MutedMember, Usernames};

use super::input::required;
use super::{
    BatchResults, RestVenue, UserSegment, VenueAction, VenueCall, VenueChange, VenueList, VenueScene, body_users,
    path_users,
};
use crate::http::{HttpError, JsonBody};
use crate::services::parse_user;

// ------------------------------------------------------------------------ blocklist

/// `GET /{venues}/{id}/blocks/users`.
pub(crate) async fn blocklist<V: RestVenue>(call: VenueCall<V>) -> Result<Response, HttpError> {
    call.listed_users(VenueList::Blocklist).await
}

/// `POST /{venues}/{id}/blocks/users/{u}`.
pub(crate) async fn block_one<V: RestVenue>(call: VenueCall<V>, users: UserSegment) -> Result<Response, HttpError> {
    let named = path_users(&users.0, BATCH_MAX)?;
    block(&call, &named, users.names_one()).await
}

/// `POST /{venues}/{id}/blocks/users {usernames}`.
pub(crate) async fn block_many<V: RestVenue>(
    call: VenueCall<V>,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let named = body_users(body, BATCH_MAX)?;
    block(&call, &named, false).await
}

async fn block<V: RestVenue>(call: &VenueCall<V>, users: &[UserName], one: bool) -> Result<Response, HttpError> {
    let results = call
        .batch(users, |scene, decision, user| {
            scene.authorize(VenueAction::Block, Some(user))?;
            V::block(scene, decision, user)
        })
        .await?;
    Ok(call.list_outcomes("add_blocks", results, one))
}

/// `DELETE /{venues}/{id}/blocks/users/{u[,u…]}`: the user hears `unblockMember`.
pub(crate) async fn unblock<V: RestVenue>(call: VenueCall<V>, users: UserSegment) -> Result<Response, HttpError> {
    let named = path_users(&users.0, BATCH_MAX)?;
    let results = call.record_each(&named, VenueAction::Unblock, |user| VenueChange::Unblock { user }).await?;
    Ok(call.list_outcomes("remove_blocks", results, users.names_one()))
}

// ------------------------------------------------------------------------ mutes

/// `GET /{venues}/{id}/mute` → `[{expire, user}]` (expire -1: for ever).
pub(crate) async fn mute_list<V: RestVenue>(call: VenueCall<V>) -> Result<Response, HttpError> {
    let scene = call.readable(VenueAction::ReadRestrictionLists).await?;
    let muted: Vec<MutedMember> = V::mutes(&call, scene.now_ms())
        .await?
        .into_iter()
        .map(|(user, until)| MutedMember { expire: if until == i64::MAX { -1 } else { until }, user: user.to_string() })
        .collect();
    Ok(call.ctx.data(muted))
}

/// `POST /{venues}/{id}/mute {usernames, mute_duration}`: duration in ms, -1 = for ever.
pub(crate) async fn mute<V: RestVenue>(
    call: VenueCall<V>,
    JsonBody(body): JsonBody<MuteMembers>,
) -> Result<Response, HttpError> {
    let duration = required("mute_duration", body.mute_duration)?;
    if duration == 0 || duration < -1 {
        return Err(HttpError::new(ErrorCode::IllegalArgument, "mute_duration must be positive (ms) or -1 for ever"));
    }
    let named = body_users(Usernames { usernames: body.usernames }, BATCH_MAX)?;
    let results = call
        .batch(&named, |scene, decision, user| {
            scene.authorize(VenueAction::Mute, Some(user))?;
            let until_ms = if duration == -1 { i64::MAX } else { scene.now_ms().saturating_add(duration) };
            scene.record(decision, VenueChange::Mute { user: user.clone(), until_ms, duration_ms: duration });
            Ok(if until_ms == i64::MAX { -1 } else { until_ms })
        })
        .await?;
    Ok(call.ctx.data(mute_outcomes::<V>(results, true)))
}

/// `DELETE /{venues}/{id}/mute/{u[,u…]}`: always a list, as Agora answers.
pub(crate) async fn unmute<V: RestVenue>(call: VenueCall<V>, users: UserSegment) -> Result<Response, HttpError> {
    let named = path_users(&users.0, BATCH_MAX)?;
    let results = call.record_each(&named, VenueAction::Unmute, |user| VenueChange::Unmute { user }).await?;
    Ok(call.ctx.data(mute_outcomes::<V>(results, false)))
}

/// `[{result, user, reason?, expire?}]`: mutes name no venue.
fn mute_outcomes<V: RestVenue>(results: BatchResults, with_expiry: bool) -> Vec<MemberResult<V::ListKey>> {
    results
        .into_iter()
        .map(|(user, outcome)| MemberResult {
            result: outcome.is_ok(),
            action: None,
            user: user.to_string(),
            venue: None,
            expire: if with_expiry { outcome.as_ref().ok().copied() } else { None },
            reason: outcome.err(),
        })
        .collect()
}

/// `GET /sdk/{venues}/{id}/mute/{u}`: whether the user is muted (the user themself, or the
/// owner and admins).
pub(crate) async fn is_muted<V: RestVenue>(call: VenueCall<V>, user: UserSegment) -> Result<Response, HttpError> {
    let (scene, user) = self_or_manager(&call, &user.0).await?;
    Ok(call.ctx.data(scene.user_muted(&user)))
}

/// The scene with `user` in it, if the caller is `user` or may read the restriction lists.
async fn self_or_manager<V: RestVenue>(call: &VenueCall<V>, user: &str) -> Result<(V::Scene, UserName), HttpError> {
    call.ctx.caller()?;
    let user = parse_user(user)?;
    let scene = V::scene(call, std::slice::from_ref(&user)).await?;
    if scene.caller_name() != Some(&user) {
        scene.authorize(VenueAction::ReadRestrictionLists, None)?;
    }
    Ok((scene, user))
}

/// `POST /{venues}/{id}/ban` (`ON`): mute all — the owner, admins and allowlisted members
/// still speak; `DELETE` (not `ON`): unmute all. Setting the state the venue has is allowed
/// and changes nothing.
pub(crate) async fn set_mute_all<V: RestVenue, const ON: bool>(call: VenueCall<V>) -> Result<Response, HttpError> {
    V::change(&call, &[], |scene| {
        scene.authorize(if ON { VenueAction::MuteAll } else { VenueAction::UnmuteAll }, None)?;
        let mut decision = V::Scene::decision(());
        if scene.mute_all() != ON {
            scene.record(&mut decision, VenueChange::MuteAll { on: ON });
        }
        Ok(decision)
    })
    .await?;
    Ok(call.ctx.data(MuteAllState { mute: ON }))
}

// ------------------------------------------------------------------------ allowlist

/// `GET /{venues}/{id}/white/users`.
pub(crate) async fn allowlist<V: RestVenue>(call: VenueCall<V>) -> Result<Response, HttpError> {
    call.listed_users(VenueList::Allowlist).await
}

/// `POST /{venues}/{id}/white/users/{u}`.
pub(crate) async fn allowlist_add_one<V: RestVenue>(
    call: VenueCall<V>,
    users: UserSegment,
) -> Result<Response, HttpError> {
    let named = path_users(&users.0, BATCH_MAX)?;
    set_allowlisted(&call, &named, true, users.names_one()).await
}

/// `POST /{venues}/{id}/white/users {usernames}`.
pub(crate) async fn allowlist_add_many<V: RestVenue>(
    call: VenueCall<V>,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let named = body_users(body, BATCH_MAX)?;
    set_allowlisted(&call, &named, true, false).await
}

/// `DELETE /{venues}/{id}/white/users/{u[,u…]}`: always a list, as Agora answers.
pub(crate) async fn allowlist_remove<V: RestVenue>(
    call: VenueCall<V>,
    users: UserSegment,
) -> Result<Response, HttpError> {
    let named = path_users(&users.0, BATCH_MAX)?;
    set_allowlisted(&call, &named, false, false).await
}

async fn set_allowlisted<V: RestVenue>(
    call: &VenueCall<V>,
    users: &[UserName],
    allowlisted: bool,
    one: bool,
) -> Result<Response, HttpError> {
    let action = if allowlisted { VenueAction::AllowlistAdd } else { VenueAction::AllowlistRemove };
    let results = call.record_each(users, action, |user| VenueChange::Allowlist { user, allowlisted }).await?;
    let reply = if allowlisted { "add_user_whitelist" } else { "remove_user_whitelist" };
    Ok(call.list_outcomes(reply, results, one))
}

/// `GET /{venues}/{id}/white/users/{u}`: whether the user is allowlisted (the user themself, or
/// the owner and admins).
pub(crate) async fn is_allowlisted<V: RestVenue>(call: VenueCall<V>, user: UserSegment) -> Result<Response, HttpError> {
    let (scene, user) = self_or_manager(&call, &user.0).await?;
    Ok(call.ctx.data(scene.user_allowlisted(&user)))
}
