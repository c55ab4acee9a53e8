//! Joining and leaving by the users themselves: applications (`/apply`, `/apply_verify`),
//! invitations (`/invite`, `/invite_verify`), `/quit`, and blocking a group's messages for
//! oneself (`/shield`). Agora documents no REST API for these (agora-chat-api.md §2 row 38);
//! the paths and bodies are the ones the official SDK sends (sdk-behaviour.md §3).
//!
//! Every change goes through [`change_group`]; the permission decisions are
//! `qun_core::rules`'. What this module adds is the facts the rules leave to the caller: is
//! there a pending request, does the group have room.

use axum::extract::{Path, State};
use axum::response::Response;
use qun_core::rules::{Denial, GroupAction};
use qun_core::{GroupId, GroupOperation, UserName, limits};
use qun_proto::rest::groups::{ActionResult, ApplyBody, ApplyVerify, InviteBody, InviteVerify};
use qun_proto::rest::venue::{InGroup, MemberResult};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, GroupMutation, RequestKind, RequestRecord};

use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::Caller;
use crate::services::groups::{
    Decision, PlannedEvent, Scene, change_group, change_group_with, has_room, join, leave, parse_group_id,
};
use crate::services::{denial_error, parse_user, store_error};
use crate::state::AppState;

/// `POST /chatgroups/{g}/apply` `{message}`: a user asks to join a public group. Without
/// approval they join at once; with it, the owner and admins are asked.
pub(crate) async fn apply(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_org, _app, group)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let caller = ctx.caller()?;
    let message = request_text("message", body.message)?;
    // The app administrator has no pending application; the rule refuses them below.
    let request_owner = match caller {
        Caller::User(name) => Some(name),
        Caller::AppAdmin => None,
    };
    let (outcome, applicant) = change_group_with_request(
        &state,
        &ctx.app,
        caller,
        group_id,
        &[],
        request_owner,
        RequestKind::Application,
        |scene, pending| decide_application(scene, &state, pending, &message),
    )
    .await?;
    tracing::info!(group_id = %group_id, applicant = %applicant, outcome = ?outcome, "group application");
    Ok(ctx.data(action_result(group_id, "apply", &applicant)))
}

/// What an application led to, for the log.
#[derive(Debug, Clone, Copy)]
enum ApplyOutcome {
    /// The group needs no approval: the applicant is a member now.
    Joined,
    /// Stored; the owner and admins were asked.
    Pending,
    /// The same application was pending already.
    AlreadyPending,
}

/// Decides an application: the applicant joins now, or the owner and admins are asked.
fn decide_application(
    scene: &Scene,
    state: &AppState,
    pending: Option<&RequestRecord>,
    message: &str,
) -> Result<Decision<(ApplyOutcome, UserName)>, ApiError> {
    scene.authorize(GroupAction::Apply, None)?;
    let applicant = caller_user(scene)?;
    // Asking to join a full group is refused now rather than at approval, where the answer
    // could only be a refusal.
    if !has_room(scene, 0) {
        return Err(group_full());
    }
    if !scene.group().settings.approval_required {
        let mut decision = Decision::new((ApplyOutcome::Joined, applicant.clone()));
        join(scene, state, &mut decision, applicant, None);
        return Ok(decision);
    }
    // A repeated application is one application: a retry with the same message changes
    // nothing; a new message replaces the old one and the managers are asked again.
    if pending.is_some_and(|request| request.message == message) {
        return Ok(Decision::new((ApplyOutcome::AlreadyPending, applicant.clone())));
    }
    let mut decision = Decision::new((ApplyOutcome::Pending, applicant.clone()));
    decision.mutations.push(GroupMutation::PutRequest(RequestRecord {
        user: applicant.clone(),
        kind: RequestKind::Application,
        inviter: None,
        message: message.to_owned(),
        created_ms: scene.now_ms,
    }));
    decision
        .events
        .push(PlannedEvent::new(GroupOperation::Apply, applicant.to_string(), vec![applicant.clone()]).reason(message));
    Ok(decision)
}

/// `POST /chatgroups/{g}/apply_verify` `{applicant, verifyResult, reason}`: the owner or an
/// admin accepts or declines a pending application.
pub(crate) async fn apply_verify(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_org, _app, group)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<ApplyVerify>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let caller = ctx.caller()?;
    let applicant = parse_user(&required("applicant", body.applicant)?)?;
    let accept = required("verifyResult", body.verify_result)?;
    let reason = request_text("reason", body.reason)?;
    let users = users_besides_caller(caller, std::slice::from_ref(&applicant));
    change_group_with_request(
        &state,
        &ctx.app,
        caller,
        group_id,
        &users,
        Some(&applicant),
        RequestKind::Application,
        |scene, pending| decide_on_application(scene, &state, pending, &applicant, accept, &reason),
    )
    .await?;
    tracing::info!(group_id = %group_id, applicant = %applicant, accepted = accept, "group application decided");
    Ok(ctx.data(action_result(group_id, "apply_verify", &applicant)))
}

/// Accepts or declines `applicant`'s pending application.
fn decide_on_application(
    scene: &Scene,
    state: &AppState,
    pending: Option<&RequestRecord>,
    applicant: &UserName,
    accept: bool,
    reason: &str,
) -> Result<Decision<()>, ApiError> {
    scene.authorize(GroupAction::DecideApplication, Some(applicant))?;
    if pending.is_none() {
        return Err(ApiError::new(ErrorCode::ResourceNotFound, format!("no application from {applicant}")));
    }
    let mut decision = Decision::new(());
    if accept {
        if !has_room(scene, 0) {
            return Err(group_full());
        }
        // Joining clears the application (AddMember deletes the member's pending requests).
        join(scene, state, &mut decision, applicant, Some(GroupOperation::ApplyAccept));
    } else {
        decision
            .mutations
            .push(GroupMutation::DeleteRequest { user: applicant.clone(), kind: RequestKind::Application });
        decision.events.push(
            PlannedEvent::new(GroupOperation::ApplyDecline, scene.actor_label(), vec![applicant.clone()])
                .reason(reason),
        );
    }
    Ok(decision)
}

/// `POST /chatgroups/{g}/invite` `{usernames, reason?}`: the owner, an admin, or (with
/// `allowinvites`) a member invites users. With `invite_need_confirm` each invitee is asked;
/// otherwise they are added at once. One result per user, as in Agora's batch calls.
pub(crate) async fn invite(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_org, _app, group)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<InviteBody>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let caller = ctx.caller()?;
    let message = request_text("reason", body.reason)?;
    let requested = body.usernames.unwrap_or_default();
    if requested.is_empty() {
        return Err(HttpError::new(ErrorCode::InvalidParameter, "usernames must be provided"));
    }
    if requested.len() > limits::BATCH_MAX {
        return Err(HttpError::new(
            ErrorCode::IllegalArgument,
            format!("invite at most {} users at a time", limits::BATCH_MAX),
        ));
    }
    let invitees = parse_invitees(&requested);
    let valid: Vec<UserName> = invitees.iter().filter_map(|(_, parsed)| parsed.as_ref().ok().cloned()).collect();
    let users = users_besides_caller(caller, &valid);
    let (outcomes, _) = change_group(&state, &ctx.app, caller, group_id, &users, |scene| {
        // The caller's own right to invite fails the whole call; a target's standing fails
        // only that target's item.
        scene.authorize(GroupAction::Invite, None)?;
        let mut decision = Decision::new(Vec::with_capacity(invitees.len()));
        let mut joining_now = 0;
        for (raw, parsed) in &invitees {
            let outcome = match parsed {
                Err(reason) => Err(reason.clone()),
                Ok(invitee) => invite_one(scene, &state, &mut decision, invitee, &message, &mut joining_now)?,
            };
            decision.output.push((raw.clone(), outcome));
        }
        Ok(decision)
    })
    .await?;
    let invited = outcomes.iter().filter(|(_, outcome)| outcome.is_ok()).count();
    tracing::info!(group_id = %group_id, invited, refused = outcomes.len() - invited, "users invited");
    let results: Vec<MemberResult> = outcomes
        .into_iter()
        .map(|(user, outcome)| MemberResult {
            result: outcome.is_ok(),
            action: Some("invite".to_owned()),
            user,
            venue: Some(InGroup { groupid: group_id.to_string() }),
            reason: outcome.err(),
            expire: None,
        })
        .collect();
    Ok(ctx.data(results))
}

/// Decides one invitee. `Ok(Err(reason))` refuses this invitee only; `Err` refuses the call.
fn invite_one(
    scene: &Scene,
    state: &AppState,
    decision: &mut Decision<Vec<(String, Result<(), String>)>>,
    invitee: &UserName,
    message: &str,
    joining_now: &mut usize,
) -> Result<Result<(), String>, ApiError> {
    if scene.require_exists(invitee).is_err() {
        return Ok(Err(format!("user {invitee} doesn't exist")));
    }
    if let Err(denied) = scene.authorize(GroupAction::Invite, Some(invitee)) {
        return Ok(Err(denied.description));
    }
    // All or nothing, like Agora's add-members call: a batch that would overflow the group
    // adds nobody. An invitation to a full group could never be accepted, so it is refused too.
    if !has_room(scene, *joining_now) {
        return Err(group_full());
    }
    if scene.group().settings.invite_need_confirm {
        decision.mutations.push(GroupMutation::PutRequest(RequestRecord {
            user: invitee.clone(),
            kind: RequestKind::Invitation,
            // `None` for the app administrator, who receives no answer events.
            inviter: scene.caller_name().cloned(),
            message: message.to_owned(),
            created_ms: scene.now_ms,
        }));
        decision.events.push(
            PlannedEvent::new(GroupOperation::Invite, scene.actor_label(), vec![invitee.clone()]).reason(message),
        );
    } else {
        join(scene, state, decision, invitee, Some(GroupOperation::DirectJoined));
        *joining_now += 1;
    }
    Ok(Ok(()))
}

/// The requested names in order, each parsed or refused, without repeats (a name asked twice
/// would be added twice).
fn parse_invitees(requested: &[String]) -> Vec<(String, Result<UserName, String>)> {
    let mut invitees: Vec<(String, Result<UserName, String>)> = Vec::with_capacity(requested.len());
    for raw in requested {
        let parsed = parse_user(raw).map_err(|error| error.description);
        let repeated = invitees.iter().any(|(_, seen)| matches!((seen, &parsed), (Ok(a), Ok(b)) if a == b));
        if !repeated {
            invitees.push((raw.clone(), parsed));
        }
    }
    invitees
}

/// `POST /chatgroups/{g}/invite_verify` `{invitee, verifyResult, reason?}`: the invitee
/// accepts or declines their pending invitation; the inviter is told.
pub(crate) async fn invite_verify(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_org, _app, group)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<InviteVerify>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let caller = ctx.caller()?;
    let accept = required("verifyResult", body.verify_result)?;
    let reason = request_text("reason", body.reason)?;
    // Only the invitee may answer, so `invitee` may be left out by a user; the app
    // administrator must name one (and is then refused by the rule).
    let invitee = match (body.invitee.as_deref(), caller) {
        (Some(raw), _) => parse_user(raw)?,
        (None, Caller::User(name)) => name.clone(),
        (None, Caller::AppAdmin) => {
            return Err(HttpError::new(ErrorCode::InvalidParameter, "invitee must be provided"));
        }
    };
    if let Caller::User(name) = caller
        && name != &invitee
    {
        return Err(HttpError::new(
            ErrorCode::ForbiddenOp,
            format!("user: {name} may only answer their own invitation"),
        ));
    }
    change_group_with_request(
        &state,
        &ctx.app,
        caller,
        group_id,
        &[],
        Some(&invitee),
        RequestKind::Invitation,
        |scene, pending| answer_invitation(scene, &state, pending, &invitee, accept, &reason),
    )
    .await?;
    tracing::info!(group_id = %group_id, invitee = %invitee, accepted = accept, "group invitation answered");
    Ok(ctx.data(action_result(group_id, "invite_verify", &invitee)))
}

/// Accepts or declines the invitation pending for `invitee`, telling whoever invited them.
fn answer_invitation(
    scene: &Scene,
    state: &AppState,
    pending: Option<&RequestRecord>,
    invitee: &UserName,
    accept: bool,
    reason: &str,
) -> Result<Decision<()>, ApiError> {
    scene.authorize(GroupAction::AnswerInvitation, None)?;
    let Some(invitation) = pending else {
        return Err(ApiError::new(ErrorCode::ResourceNotFound, format!("no invitation for {invitee}")));
    };
    let inviter: Vec<UserName> = invitation.inviter.iter().cloned().collect();
    let mut decision = Decision::new(());
    if accept {
        if !has_room(scene, 0) {
            return Err(group_full());
        }
        decision.events.push(
            PlannedEvent::new(GroupOperation::InviteAccept, invitee.to_string(), vec![invitee.clone()])
                .receivers(inviter),
        );
        // Joining clears the invitation (AddMember deletes the member's pending requests).
        join(scene, state, &mut decision, invitee, None);
    } else {
        decision.mutations.push(GroupMutation::DeleteRequest { user: invitee.clone(), kind: RequestKind::Invitation });
        decision.events.push(
            PlannedEvent::new(GroupOperation::InviteDecline, invitee.to_string(), vec![invitee.clone()])
                .reason(reason)
                .receivers(inviter),
        );
    }
    Ok(decision)
}

/// `DELETE` (or `POST`) `/chatgroups/{g}/quit`: a member leaves; the others are told.
pub(crate) async fn quit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_org, _app, group)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let caller = ctx.caller()?;
    let (user, _) = change_group(&state, &ctx.app, caller, group_id, &[], |scene| {
        scene.authorize(GroupAction::Quit, None)?;
        let user = caller_user(scene)?;
        let mut decision = Decision::new(user.clone());
        leave(scene, &mut decision, user, false);
        Ok(decision)
    })
    .await?;
    tracing::info!(group_id = %group_id, user = %user, "member quit");
    Ok(ctx.data(action_result(group_id, "quit", &user)))
}

/// `POST /chatgroups/{g}/shield?version=v3`: a member stops receiving the group's messages.
pub(crate) async fn shield(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_org, _app, group)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    set_shielded(&state, &ctx, &group, true).await
}

/// `DELETE /chatgroups/{g}/shield?version=v3`: the member receives the group's messages again.
pub(crate) async fn unshield(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_org, _app, group)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    set_shielded(&state, &ctx, &group, false).await
}

/// Shielding concerns the member alone, so it raises no event.
async fn set_shielded(state: &AppState, ctx: &Ctx, group: &str, shielded: bool) -> Result<Response, HttpError> {
    let group_id = parse_group_id(group)?;
    let caller = ctx.caller()?;
    let (user, _) = change_group(state, &ctx.app, caller, group_id, &[], |scene| {
        scene.authorize(GroupAction::Shield, None)?;
        let user = caller_user(scene)?;
        let mut decision = Decision::new(user.clone());
        let already = scene.user(user).membership.as_ref().is_some_and(|membership| membership.shielded == shielded);
        if !already {
            decision.mutations.push(GroupMutation::SetShielded { user: user.clone(), shielded });
        }
        Ok(decision)
    })
    .await?;
    tracing::info!(group_id = %group_id, user = %user, shielded, "group messages shielded");
    Ok(ctx.data(action_result(group_id, if shielded { "shield" } else { "unshield" }, &user)))
}

// ------------------------------------------------------------------------ helpers

/// [`change_group_with`] where the fact is `user`'s pending request of `kind`.
async fn change_group_with_request<T>(
    state: &AppState,
    app: &AppRecord,
    caller: &Caller,
    group_id: GroupId,
    users: &[UserName],
    user: Option<&UserName>,
    kind: RequestKind,
    decide: impl Fn(&Scene, Option<&RequestRecord>) -> Result<Decision<T>, ApiError>,
) -> Result<T, ApiError> {
    let read_request = || async move {
        match user {
            Some(user) => state.store.pending_request(app.id, group_id, user, kind).await.map_err(store_error),
            None => Ok(None),
        }
    };
    change_group_with(state, app, caller, group_id, users, read_request, |scene, pending: &Option<RequestRecord>| {
        decide(scene, pending.as_ref())
    })
    .await
}

/// The calling user; the app administrator is refused (the rules refuse them first for every
/// action this module asks about, so this is a second line).
fn caller_user(scene: &Scene) -> Result<&UserName, ApiError> {
    scene
        .caller_name()
        .ok_or_else(|| denial_error(Denial::NeedsUser, &scene.group_id().to_string(), &scene.actor_label(), None))
}

/// `names` without the caller, who is in every snapshot already.
fn users_besides_caller(caller: &Caller, names: &[UserName]) -> Vec<UserName> {
    names.iter().filter(|name| !matches!(caller, Caller::User(me) if me == *name)).cloned().collect()
}

fn group_full() -> ApiError {
    ApiError::new(ErrorCode::ExceedLimit, "group member count reached the limit")
}

/// A required field, or Agora's "X must be provided".
fn required<T>(field: &str, value: Option<T>) -> Result<T, HttpError> {
    value.ok_or_else(|| HttpError::new(ErrorCode::InvalidParameter, format!("{field} must be provided")))
}

/// An application, invitation or answer text: optional, at most 512 characters.
fn request_text(field: &str, text: Option<String>) -> Result<String, HttpError> {
    let text = text.unwrap_or_default();
    if limits::chars(&text) > limits::REQUEST_MESSAGE_MAX_CHARS {
        return Err(HttpError::new(
            ErrorCode::IllegalArgument,
            format!("{field} is longer than {} characters", limits::REQUEST_MESSAGE_MAX_CHARS),
        ));
    }
    Ok(text)
}

/// The reply of these calls. The references show no reply for them (row 38: no REST API);
/// this is the shape of Agora's single add/remove-member replies (`{result, groupid, action,
/// user}`), our decision.
fn action_result(group_id: GroupId, action: &str, user: &UserName) -> ActionResult {
    ActionResult { result: true, groupid: group_id.to_string(), action: action.to_owned(), user: user.to_string() }
}
