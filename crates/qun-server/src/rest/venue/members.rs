//! A venue's members and admins: the member list, adding and removing members, the admins.

use axum::response::Response;
use qun_core::UserName;
use qun_core::limits::{self, BATCH_MAX};
use qun_proto::rest::venue::{AdminAdded, AdminRemoved, NewAdmin, Usernames};
use qun_proto::{ApiError, ErrorCode};
use qun_store::MemberPage;

use super::input::required;
use super::{
    BatchDecision, RestVenue, UserOutcome, UserSegment, VenueAction, VenueCall, VenueChange, VenueList, VenueScene,
    body_users, one_or_many, path_users,
};
use crate::http::{HttpError, JsonBody};
use crate::rest::paging;
use crate::services::parse_user;

/// `GET /{venues}/{id}/users`: newest joined first; `pagenum`/`pagesize` (from 1), or
/// `limit`/`cursor` (which one, the venue says: [`RestVenue::member_cursor_mode`]). Members
/// only.
pub(crate) async fn members<V: RestVenue>(call: VenueCall<V>) -> Result<Response, HttpError> {
    let scene = call.readable(VenueAction::ReadContent).await?;
    let ctx = &call.ctx;
    let (page, limit) = if V::member_cursor_mode(ctx) {
        let limit = ctx.number_param("limit", V::MEMBERS_LIMIT, 1..=1000)?;
        let after = paging::cursor_param(ctx, |cursor| cursor.parse::<i64>().ok())?;
        (MemberPage::After { join_order: after, limit: limit + 1 }, Some(limit))
    } else {
        let size = ctx.number_param("pagesize", V::MEMBERS_PAGE_SIZE, 1..=1000)?;
        let number = ctx.number_param("pagenum", 1, 1..=1_000_000)?;
        (MemberPage::Offset { number: number - 1, size }, None)
    };
    let members = V::member_page(&call, &scene, page).await?;
    let (members, cursor) = match limit {
        Some(limit) => paging::cut(members, limit, |(join_order, _)| join_order.to_string()),
        None => (members, None),
    };
    let affiliations = members.into_iter().map(|(_, affiliation)| affiliation).collect();
    Ok(paging::listed(ctx, affiliations, cursor, None))
}

/// `POST /{venues}/{id}/users/{u}`: adds one user directly.
pub(crate) async fn add_member<V: RestVenue>(
    call: VenueCall<V>,
    UserSegment(user): UserSegment,
) -> Result<Response, HttpError> {
    let users = path_users(&user, 1)?;
    call.batch(&users, |scene, decision, user| add::<V>(&call, scene, decision, user)).await?;
    Ok(call.ctx.data(V::member_outcome(call.id, "add_member", &users[0], None)))
}

/// `POST /{venues}/{id}/users {usernames}`: adds up to 60 users directly.
pub(crate) async fn add_members<V: RestVenue>(
    call: VenueCall<V>,
    JsonBody(body): JsonBody<Usernames>,
) -> Result<Response, HttpError> {
    let users = body_users(body, BATCH_MAX)?;
    let results = call.batch(&users, |scene, decision, user| add::<V>(&call, scene, decision, user)).await?;
    let added = results.iter().filter(|(_, outcome)| outcome.is_ok()).map(|(user, _)| user.to_string()).collect();
    Ok(call.ctx.data(V::members_added(call.id, added)))
}

fn add<V: RestVenue>(
    call: &VenueCall<V>,
    scene: &V::Scene,
    decision: &mut BatchDecision<V>,
    user: &UserName,
) -> UserOutcome {
    scene.authorize(VenueAction::AddMember, Some(user))?;
    V::add(scene, &call.state, decision, user)
}

/// `DELETE /{venues}/{id}/users/{u[,u…]}`: takes users out (groups up to 60, rooms 100).
pub(crate) async fn remove_members<V: RestVenue>(
    call: VenueCall<V>,
    users: UserSegment,
) -> Result<Response, HttpError> {
    let named = path_users(&users.0, V::REMOVE_MAX)?;
    let results = call
        .batch(&named, |scene, decision, user| {
            scene.authorize(VenueAction::Kick, Some(user))?;
            V::kick(scene, decision, user)
        })
        .await?;
    let outcomes = results
        .into_iter()
        .map(|(user, outcome)| V::member_outcome(call.id, "remove_member", &user, outcome.err()))
        .collect();
    Ok(one_or_many(&call.ctx, outcomes, users.names_one()))
}

// ------------------------------------------------------------------------ admins

/// `GET /{venues}/{id}/admin`: members.
pub(crate) async fn admins<V: RestVenue>(call: VenueCall<V>) -> Result<Response, HttpError> {
    call.listed_users(VenueList::Admins).await
}

/// `POST /{venues}/{id}/admin {newadmin}`: the owner; at most 99 admins.
pub(crate) async fn add_admin<V: RestVenue>(
    call: VenueCall<V>,
    JsonBody(body): JsonBody<NewAdmin>,
) -> Result<Response, HttpError> {
    call.ctx.caller()?;
    let user = parse_user(&required("newadmin", body.newadmin)?)?;
    V::change(&call, std::slice::from_ref(&user), |scene| {
        scene.require_exists(&user)?;
        scene.authorize(VenueAction::AddAdmin, Some(&user))?;
        if scene.admin_count() as usize >= limits::ADMINS_MAX {
            let text = format!("the {} has {} admins already", V::NOUN, limits::ADMINS_MAX);
            return Err(ApiError::new(ErrorCode::ExceedLimit, text));
        }
        let mut decision = V::Scene::decision(());
        scene.record(&mut decision, VenueChange::Admin { user: user.clone(), admin: true });
        Ok(decision)
    })
    .await?;
    Ok(call.ctx.data(AdminAdded { result: "success".into(), newadmin: user.to_string() }))
}

/// `DELETE /{venues}/{id}/admin/{u}`: the owner.
pub(crate) async fn remove_admin<V: RestVenue>(
    call: VenueCall<V>,
    UserSegment(user): UserSegment,
) -> Result<Response, HttpError> {
    call.ctx.caller()?;
    let user = parse_user(&user)?;
    V::change(&call, std::slice::from_ref(&user), |scene| {
        scene.require_exists(&user)?;
        scene.authorize(VenueAction::RemoveAdmin, Some(&user))?;
        let mut decision = V::Scene::decision(());
        scene.record(&mut decision, VenueChange::Admin { user: user.clone(), admin: false });
        Ok(decision)
    })
    .await?;
    Ok(call.ctx.data(AdminRemoved { result: "success".into(), oldadmin: user.to_string() }))
}
