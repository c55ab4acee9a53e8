//! The operations behind the REST API (and, later, the websocket): read from the store,
//! decide with `qun_core::rules`, commit through the store, record events.
//!
//! Services speak [`ApiError`]; they know nothing of HTTP.

pub mod chatfiles;
pub mod contacts;
pub(crate) mod context;
pub mod conversations;
pub mod delivery;
pub mod groups;
pub mod history;
pub mod messages;
pub mod recall;
pub mod receipts;
pub mod recent;
pub mod room_delivery;
pub mod rooms;
pub mod thumbnails;
pub mod user_metadata;
pub mod users;
pub mod venue;

pub use context::Services;

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
        StoreError::Conflict => ApiError::new(ErrorCode::Busy, "changed by another request meanwhile, retry"),
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
    denial_error_in(VenueKind::Group, denial, group, actor, target)
}

/// Agora's answer for a user name that names no user of the app.
pub fn user_not_found(name: &UserName) -> ApiError {
    ApiError::new(ErrorCode::UserNotFound, format!("username {name} doesn't exist!"))
}

/// Where a rules denial happened: a group or a chat room (the rules are shared; the messages
/// name the one it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueKind {
    Group,
    Room,
}

impl VenueKind {
    fn noun(self) -> &'static str {
        match self {
            VenueKind::Group => "group",
            VenueKind::Room => "chatroom",
        }
    }

    /// A change that kept losing the race with others (see `venue::change`).
    pub fn busy(self) -> ApiError {
        ApiError::new(ErrorCode::Busy, format!("the {} is being changed by another request, retry", self.noun()))
    }
}

/// Maps a rules denial to the error table, naming the user and the group or room (`id`).
pub fn denial_error_in(venue: VenueKind, denial: Denial, id: &str, actor: &str, target: Option<&UserName>) -> ApiError {
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
