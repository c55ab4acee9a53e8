//! The operations behind the REST API (and, later, the websocket): read from the store,
//! decide with `qun_core::rules`, commit through the store, record events.
//!
//! Services speak [`ApiError`]; they know nothing of HTTP.

pub mod chatfiles;
pub mod delivery;
pub mod groups;
pub mod messages;
pub mod receipts;
pub mod recent;
pub mod room_delivery;
pub mod rooms;
pub mod thumbnails;
pub mod users;

use qun_core::UserName;
use qun_core::rules::Denial;
use qun_proto::{ApiError, ErrorCode};
use qun_store::StoreError;

/// Who asks for an operation: the app administrator (an app token) or a user (a user token,
/// or the user behind a websocket). The edges find out; services decide with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    AppAdmin,
    User(UserName),
}

/// Maps a store failure to the error table; internal details are logged, not sent.
pub fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict => ApiError::new(ErrorCode::Busy, "the group is being changed by another request, retry"),
        StoreError::AlreadyExists => ApiError::new(ErrorCode::DuplicateUniqueProperty, "already exists"),
        StoreError::NotFound => ApiError::new(ErrorCode::ResourceNotFound, "not found"),
        other => {
            tracing::error!(error = %other, "store failure");
            ApiError::new(ErrorCode::Internal, "internal error")
        }
    }
}

/// Parses a user name from a request, answering Agora's error for a bad one.
pub fn parse_user(raw: &str) -> Result<UserName, ApiError> {
    UserName::parse(raw.trim())
        .map_err(|_| ApiError::new(ErrorCode::IllegalArgument, format!("username {raw:?} is not legal")))
}

/// Maps a rules denial to the error table, naming the user and group involved.
pub fn denial_error(denial: Denial, group: &str, actor: &str, target: Option<&UserName>) -> ApiError {
    denial_error_in(Venue::Group, denial, group, actor, target)
}

/// Where a rules denial happened: a group or a chat room (the rules are shared; the messages
/// name the one it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    Group,
    Room,
}

impl Venue {
    fn noun(self) -> &'static str {
        match self {
            Venue::Group => "group",
            Venue::Room => "chatroom",
        }
    }
}

/// Maps a rules denial to the error table, naming the user and the group or room (`id`).
pub fn denial_error_in(venue: Venue, denial: Denial, id: &str, actor: &str, target: Option<&UserName>) -> ApiError {
    let target = target.map(UserName::as_str).unwrap_or("");
    let noun = venue.noun();
    let (code, text) = match denial {
        Denial::NotMember => (ErrorCode::NotInGroup, format!("user: {actor} is not a member of {noun}: {id}")),
        Denial::NotOwnerOrAdmin => {
            (ErrorCode::ForbiddenOp, format!("user: {actor} is not the owner or an admin of {noun}: {id}"))
        }
        Denial::NotOwner => (ErrorCode::ForbiddenOp, format!("user: {actor} is not the owner of {noun}: {id}")),
        Denial::NotAppAdmin => (ErrorCode::ForbiddenOp, "this call needs an app token".to_owned()),
        Denial::NeedsUser => (ErrorCode::ForbiddenOp, "this call needs a user token".to_owned()),
        Denial::PrivateGroup => {
            (ErrorCode::ForbiddenOp, format!("{noun}: {id} is private and does not accept applications"))
        }
        Denial::GroupDisabled => (ErrorCode::GroupDisabled, format!("{noun}: {id} is disabled")),
        Denial::CallerBlocklisted => (ErrorCode::Blocked, format!("user: {actor} is blocked by {noun}: {id}")),
        Denial::CallerAlreadyMember => (ErrorCode::ForbiddenOp, format!("user: {actor} already in {noun}: {id}")),
        Denial::OwnerCannotQuit => {
            (ErrorCode::ForbiddenOp, "the owner cannot leave the group; transfer or dissolve it".to_owned())
        }
        Denial::InvitesNotAllowed => (ErrorCode::ForbiddenOp, format!("members of {noun}: {id} may not invite")),
        Denial::Muted => (ErrorCode::UserMuted, format!("user: {actor} is muted in {noun}: {id}")),
        Denial::MutedAll => (ErrorCode::UserMuted, format!("{noun}: {id} is muted")),
        Denial::TargetIsOwner => (ErrorCode::ForbiddenOp, format!("Forbidden operation on {noun} owner!")),
        Denial::TargetIsAdmin => {
            (ErrorCode::ForbiddenOp, format!("user: {target} is an admin; only the owner may do this"))
        }
        Denial::TargetNotMember => (ErrorCode::ForbiddenOp, format!("user: {target} is not a member of {noun}: {id}")),
        Denial::TargetAlreadyMember => (ErrorCode::ForbiddenOp, format!("user: {target} already in {noun}: {id}")),
        Denial::TargetBlocklisted => (ErrorCode::ForbiddenOp, format!("user: {target} is blocked by {noun}: {id}")),
        Denial::TargetNotBlocklisted => {
            (ErrorCode::ForbiddenOp, format!("user: {target} is not blocked by {noun}: {id}"))
        }
        Denial::TargetAlreadyAdmin => {
            (ErrorCode::ForbiddenOp, format!("user: {target} is already an admin of {noun}: {id}"))
        }
        Denial::TargetNotAdmin => (ErrorCode::ForbiddenOp, format!("user: {target} is not an admin of {noun}: {id}")),
        Denial::SameOwner => (ErrorCode::ForbiddenOp, "New owner and old owner are the same.".to_owned()),
        Denial::NotSuperAdmin => {
            (ErrorCode::ForbiddenOp, format!("user: {actor} is not a chatroom super admin and may not create {noun}s"))
        }
    };
    ApiError::new(code, text)
}
