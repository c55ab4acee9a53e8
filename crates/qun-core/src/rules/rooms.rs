//! The permission rules of chat rooms: [`authorize_room`], next to the groups' [`authorize`]
//! and built from the same role gates.
//!
//! How rooms differ from groups, as the rules see it:
//! - a room is public: anyone not blocklisted may read its details and join it; there are no
//!   applications, invitations, disabled rooms or shielding;
//! - the owner and admins are members by role, whether or not they are in the room right now
//!   (see `crate::room`); so joining or leaving is allowed to them as to anyone, and the service
//!   makes a join of someone present, or a leave of someone absent, a no-op;
//! - creating a room from a client is for the app's chatroom super admins (an app-level role,
//!   looked up by the service and given with the action, as `DeleteFile`'s `own` is);
//! - mutes and allowlist entries outlive a member's presence, so lifting them (unmute,
//!   allowlist removal) is allowed for users who are not in the room;
//! - custom attributes: members set and remove their own keys; forcing (overwriting or
//!   removing others' keys) is the owner's and admins'.
//!
//! [`authorize`]: super::authorize

use super::{Caller, Denial, Gates, may_speak};
use crate::{RoomFlags, Standing};

/// Everything one can do to or in a chat room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomAction {
    /// Room details: anyone but the blocklisted.
    ReadInfo,
    /// Member list, admins, announcement, custom attributes.
    ReadContent,
    /// Mute list, blocklist, allowlist.
    ReadRestrictionLists,
    UpdateInfo,
    UpdateAnnouncement,
    MuteAll,
    UnmuteAll,
    Destroy,
    /// Create a room; `super_admin`: the caller is one of the app's chatroom super admins.
    Create {
        super_admin: bool,
    },
    /// Enter the room (the websocket's join).
    Join,
    /// Leave the room (the websocket's leave).
    Leave,
    SendMessage,
    /// Set custom attributes; `forced` may overwrite keys other users set.
    SetAttributes {
        forced: bool,
    },
    /// Remove custom attributes; `forced` may remove keys other users set.
    RemoveAttributes {
        forced: bool,
    },
    /// Put the target in the room directly (the REST add-member call).
    AddMember,
    Kick,
    Block,
    Unblock,
    Mute,
    Unmute,
    AllowlistAdd,
    AllowlistRemove,
    AddAdmin,
    RemoveAdmin,
}

impl RoomAction {
    /// Every action, for table tests and documentation.
    pub const ALL: [RoomAction; 27] = [
        RoomAction::ReadInfo,
        RoomAction::ReadContent,
        RoomAction::ReadRestrictionLists,
        RoomAction::UpdateInfo,
        RoomAction::UpdateAnnouncement,
        RoomAction::MuteAll,
        RoomAction::UnmuteAll,
        RoomAction::Destroy,
        RoomAction::Create { super_admin: true },
        RoomAction::Create { super_admin: false },
        RoomAction::Join,
        RoomAction::Leave,
        RoomAction::SendMessage,
        RoomAction::SetAttributes { forced: false },
        RoomAction::SetAttributes { forced: true },
        RoomAction::RemoveAttributes { forced: false },
        RoomAction::RemoveAttributes { forced: true },
        RoomAction::AddMember,
        RoomAction::Kick,
        RoomAction::Block,
        RoomAction::Unblock,
        RoomAction::Mute,
        RoomAction::Unmute,
        RoomAction::AllowlistAdd,
        RoomAction::AllowlistRemove,
        RoomAction::AddAdmin,
        RoomAction::RemoveAdmin,
    ];

    /// Whether the action names a target user (and so needs the target's standing).
    pub fn has_target(self) -> bool {
        use RoomAction::*;
        matches!(
            self,
            AddMember
                | Kick
                | Block
                | Unblock
                | Mute
                | Unmute
                | AllowlistAdd
                | AllowlistRemove
                | AddAdmin
                | RemoveAdmin
        )
    }
}

/// Decides whether `caller` may do `action` (to `target`, for actions that have one) in a room
/// with `room` flags. `target` is ignored for actions without one. The app administrator may do
/// everything but join and leave (it is not a user).
pub fn authorize_room(
    caller: Caller,
    action: RoomAction,
    target: Option<Standing>,
    room: RoomFlags,
) -> Result<(), Denial> {
    use RoomAction::*;

    let gates = Gates::of(caller);
    if gates.standing == Some(Standing::Blocklisted) {
        return Err(Denial::CallerBlocklisted);
    }
    let target = target.unwrap_or(Standing::Outsider);

    match action {
        ReadInfo => Ok(()),
        ReadContent => gates.member(),
        ReadRestrictionLists | UpdateInfo | UpdateAnnouncement | MuteAll | UnmuteAll => gates.manager(),
        Destroy => gates.owner(),
        Create { super_admin } => match caller {
            Caller::User(_) if !super_admin => Err(Denial::NotSuperAdmin),
            _ => Ok(()),
        },
        Join => gates.user(),
        Leave => {
            gates.user()?;
            gates.member()
        }
        SendMessage => {
            let Caller::User(actor) = caller else { return Ok(()) };
            gates.member()?;
            may_speak(actor, room.mute_all)
        }
        SetAttributes { forced: false } | RemoveAttributes { forced: false } => gates.member(),
        SetAttributes { forced: true } | RemoveAttributes { forced: true } => gates.manager(),
        AddMember => gates.add_member(target),
        Kick | Mute | AllowlistAdd => gates.manage_member(target),
        // A mute or allowlist entry outlives presence: it may be lifted from anyone below the
        // caller, in the room or not.
        Unmute | AllowlistRemove => {
            gates.manager()?;
            gates.may_manage(target)
        }
        Block => gates.block(target),
        Unblock => gates.unblock(target),
        AddAdmin => gates.add_admin(target),
        RemoveAdmin => gates.remove_admin(target),
    }
}

#[cfg(test)]
mod table_test;
