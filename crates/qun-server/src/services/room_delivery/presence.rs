//! Entering and leaving a room from the websocket, and leaving it by staying away: each room's
//! presence actor commits these in batches, one room change (one transaction) for everything
//! that arrived while the previous batch was being committed. A join storm on a 20,000-member
//! room is then a few hundred transactions, not 20,000 racing for the room's version.
//!
//! Every op is decided on its own against the room snapshot (the rules' `Join` / `Leave`, the
//! room's size limit), in arrival order; the refused ones change nothing. `room_members` stays
//! the truth for the REST member list.

use std::collections::HashMap;
use std::sync::Arc;

use qun_core::rules::{self, RoomAction, Subject};
use qun_core::{RoomFlags, UserName};
use qun_proto::msync::JoinInfo;
use qun_proto::{ApiError, ErrorCode};
use tokio::sync::{mpsc, oneshot};

use super::live::LiveRoom;
use crate::services::Caller;
use crate::services::Services;
use crate::services::rooms::{RoomDecision, RoomScene, change_room, enter, leave};
use crate::services::user_not_found;
use crate::services::{VenueKind, denial_error_in};

/// Ops committed in one transaction at most.
const BATCH: usize = 256;
/// Ops waiting for a room's actor before callers wait.
pub(crate) const QUEUE: usize = 4096;

/// One presence change for the actor.
#[derive(Debug)]
pub(crate) enum PresenceOp {
    /// A websocket join. On success the actor has sent the ack (with `chatroomInfo`) and the
    /// ring to the session; on failure the caller answers.
    /// `ext` is what the joiner wrote (`MUCBody.ext`), passed on to the others in memberPresence.
    Join { user: UserName, session_id: u64, meta_id: u64, ext: String, reply: oneshot::Sender<Result<(), ApiError>> },
    /// A websocket leave.
    Leave { user: UserName, reply: oneshot::Sender<Result<(), ApiError>> },
    /// The member's grace period ran out: they leave unless allowlisted or back online.
    Expire { user: UserName },
}

impl PresenceOp {
    fn user(&self) -> &UserName {
        match self {
            PresenceOp::Join { user, .. } | PresenceOp::Leave { user, .. } | PresenceOp::Expire { user } => user,
        }
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Joined(JoinInfo),
    Left,
    Nothing,
    Refused(ApiError),
}

/// The actor of one room: runs until the room is forgotten (its sender dropped).
pub(crate) async fn run(state: Services, live: Arc<LiveRoom>, mut ops: mpsc::Receiver<PresenceOp>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // A stopping server commits no more presence: every member's absence starts at the
        // next start anyway (nobody is online then).
        let received = tokio::select! {
            received = ops.recv_many(&mut batch, BATCH) => received,
            () = state.lifecycle.stopping() => return,
        };
        if received == 0 {
            return;
        }
        let taken = std::mem::take(&mut batch);
        commit(&state, &live, taken).await;
    }
}

async fn commit(state: &Services, live: &Arc<LiveRoom>, ops: Vec<PresenceOp>) {
    let app = live.app.read().clone();
    let mut users: Vec<UserName> = Vec::new();
    for op in &ops {
        if let PresenceOp::Join { user, .. } = op {
            live.begin_join(user);
        }
        if !users.contains(op.user()) {
            users.push(op.user().clone());
        }
    }
    let plan_limit = app.settings.plan.room_member_limit();
    let result = change_room(state, &app, &Caller::AppAdmin, live.room_id, &users, |scene| {
        Ok(decide(state, scene, &ops, plan_limit, app.id))
    })
    .await;
    match result {
        Ok(outcomes) => {
            for (op, outcome) in ops.into_iter().zip(outcomes) {
                match (op, outcome) {
                    (PresenceOp::Join { user, session_id, meta_id, reply, .. }, Outcome::Joined(info)) => {
                        state.rooms.joined(state, live, &user, session_id, meta_id, info);
                        let _ = reply.send(Ok(()));
                    }
                    (PresenceOp::Join { user, reply, .. }, outcome) => {
                        live.abandon_join(&user);
                        let _ = reply.send(Err(refusal(outcome)));
                    }
                    (PresenceOp::Leave { reply, .. }, Outcome::Refused(error)) => {
                        let _ = reply.send(Err(error));
                    }
                    (PresenceOp::Leave { reply, .. }, _) => {
                        let _ = reply.send(Ok(()));
                    }
                    (PresenceOp::Expire { .. }, _) => {}
                }
            }
        }
        Err(error) => {
            for op in ops {
                match op {
                    PresenceOp::Join { user, reply, .. } => {
                        live.abandon_join(&user);
                        let _ = reply.send(Err(error.clone()));
                    }
                    PresenceOp::Leave { reply, .. } => {
                        let _ = reply.send(Err(error.clone()));
                    }
                    PresenceOp::Expire { .. } => {}
                }
            }
            if error.code == ErrorCode::GroupNotFound {
                state.rooms.forget_if_gone(live);
            }
        }
    }
}

fn refusal(outcome: Outcome) -> ApiError {
    match outcome {
        Outcome::Refused(error) => error,
        _ => ApiError::new(ErrorCode::Internal, "internal error"),
    }
}

/// Decides every op of the batch, in order, against the snapshot and what the earlier ops of
/// the batch did.
fn decide(
    state: &Services,
    scene: &RoomScene,
    ops: &[PresenceOp],
    plan_limit: u32,
    app_id: i64,
) -> RoomDecision<Vec<Outcome>> {
    let mut decision = RoomDecision::new(Vec::with_capacity(ops.len()));
    let room = scene.room();
    let room_label = room.id.to_string();
    let limit = room.settings.max_users.min(plan_limit) as i64;
    let mut count = i64::from(room.member_count);
    let mut present: HashMap<&UserName, bool> = HashMap::new();
    for op in ops {
        let user = op.user();
        let standing = scene.user(user);
        let is_present = *present.entry(user).or_insert_with(|| standing.present());
        let subject = Subject {
            standing: standing.standing(),
            muted: standing.muted(scene.now_ms),
            allowlisted: standing.allowlisted,
        };
        let authorize = |action: RoomAction| {
            rules::authorize_room(rules::Caller::User(subject), action, None, RoomFlags { mute_all: room.mute_all })
                .map_err(|denial| denial_error_in(VenueKind::Room, denial, &room_label, user.as_str(), None))
        };
        let outcome = match op {
            PresenceOp::Join { ext, .. } => {
                if !standing.exists {
                    Outcome::Refused(user_not_found(user))
                } else if let Err(error) = authorize(RoomAction::Join) {
                    Outcome::Refused(error)
                } else if is_present {
                    Outcome::Joined(join_info(scene, user, count))
                } else if count >= limit {
                    Outcome::Refused(ApiError::new(ErrorCode::ExceedLimit, "the chatroom is full (maxusers)"))
                } else {
                    enter(state, &mut decision, user, ext);
                    count += 1;
                    present.insert(user, true);
                    Outcome::Joined(join_info(scene, user, count))
                }
            }
            PresenceOp::Leave { .. } => match authorize(RoomAction::Leave) {
                Err(error) => Outcome::Refused(error),
                Ok(()) if is_present => {
                    leave(scene, &mut decision, user, false);
                    count -= 1;
                    present.insert(user, false);
                    Outcome::Left
                }
                Ok(()) => Outcome::Nothing,
            },
            PresenceOp::Expire { .. } => {
                if is_present && !standing.allowlisted && !state.rooms.is_online(app_id, user) {
                    leave(scene, &mut decision, user, false);
                    count -= 1;
                    present.insert(user, false);
                    Outcome::Left
                } else {
                    Outcome::Nothing
                }
            }
        };
        decision.output.push(outcome);
    }
    decision
}

fn join_info(scene: &RoomScene, user: &UserName, member_count: i64) -> JoinInfo {
    let standing = scene.user(user);
    JoinInfo {
        is_all_mute: scene.room().mute_all,
        create_timestamp: scene.room().created_ms,
        is_in_white_list: standing.allowlisted,
        member_count: member_count.max(0) as u32,
        mute_until: standing.muted_until_ms.filter(|_| standing.muted(scene.now_ms)).unwrap_or(0),
    }
}
