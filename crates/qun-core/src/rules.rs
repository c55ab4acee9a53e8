//! The permission rules of groups and chat rooms: may this caller do this action to this
//! target, in a group (or room) with these flags? One pure function per kind, [`authorize`] for
//! groups and [`authorize_room`] for rooms, decides every case; they share the role gates
//! below, and each has a table test covering every action × caller × target × state.
//!
//! The rules decide on standing and flags only. Facts that need a lookup (is there a pending
//! request from this user, is the file this member's own, will the group overflow) are given
//! by the caller as part of the action or checked by the service after this function.

use crate::{GroupFlags, Standing};

mod rooms;

pub use rooms::{RoomAction, authorize_room};

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// An app token: the app administrator, who may do anything a group's owner may and more,
    /// but is not a member and so cannot apply, quit or shield.
    AppAdmin,
    /// A user token, held to the role rules.
    User(Subject),
}

/// A user as the rules see them in one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub standing: Standing,
    /// On the group's mute list with an unexpired mute.
    pub muted: bool,
    /// On the group's allowlist.
    pub allowlisted: bool,
}

impl Subject {
    pub fn plain(standing: Standing) -> Subject {
        Subject { standing, muted: false, allowlisted: false }
    }
}

/// Everything one can do to or in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupAction {
    /// Group details: members always; outsiders only for public groups.
    ReadInfo,
    /// Member list, announcement, shared files, admins, member attributes.
    ReadContent,
    /// Mute list, blocklist, allowlist.
    ReadRestrictionLists,
    UpdateInfo,
    UpdateAnnouncement,
    MuteAll,
    UnmuteAll,
    UploadFile,
    /// `own`: the file was uploaded by the caller.
    DeleteFile {
        own: bool,
    },
    /// `own`: the caller changes their own attributes (target is themself).
    SetMemberAttributes {
        own: bool,
    },
    Dissolve,
    /// Ban or unban the whole group: the app administrator only.
    Disable,
    Enable,
    /// Block or unblock the group's messages for oneself.
    Shield,
    SendMessage,
    Quit,
    /// Ask to join (public groups only).
    Apply,
    /// Accept or decline someone's pending application (target: the applicant).
    DecideApplication,
    /// Invite the target (added at once or after the target confirms).
    Invite,
    /// Accept or decline one's own pending invitation.
    AnswerInvitation,
    /// Add the target directly, no confirmation (the REST add-member call).
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
    TransferOwnership,
}

impl GroupAction {
    /// Every action, for table tests and documentation.
    pub const ALL: [GroupAction; 33] = [
        GroupAction::ReadInfo,
        GroupAction::ReadContent,
        GroupAction::ReadRestrictionLists,
        GroupAction::UpdateInfo,
        GroupAction::UpdateAnnouncement,
        GroupAction::MuteAll,
        GroupAction::UnmuteAll,
        GroupAction::UploadFile,
        GroupAction::DeleteFile { own: true },
        GroupAction::DeleteFile { own: false },
        GroupAction::SetMemberAttributes { own: true },
        GroupAction::SetMemberAttributes { own: false },
        GroupAction::Dissolve,
        GroupAction::Disable,
        GroupAction::Enable,
        GroupAction::Shield,
        GroupAction::SendMessage,
        GroupAction::Quit,
        GroupAction::Apply,
        GroupAction::DecideApplication,
        GroupAction::Invite,
        GroupAction::AnswerInvitation,
        GroupAction::AddMember,
        GroupAction::Kick,
        GroupAction::Block,
        GroupAction::Unblock,
        GroupAction::Mute,
        GroupAction::Unmute,
        GroupAction::AllowlistAdd,
        GroupAction::AllowlistRemove,
        GroupAction::AddAdmin,
        GroupAction::RemoveAdmin,
        GroupAction::TransferOwnership,
    ];

    /// Whether the action names a target user (and so needs the target's standing).
    pub fn has_target(self) -> bool {
        use GroupAction::*;
        matches!(
            self,
            DecideApplication
                | Invite
                | AddMember
                | Kick
                | Block
                | Unblock
                | Mute
                | Unmute
                | AllowlistAdd
                | AllowlistRemove
                | AddAdmin
                | RemoveAdmin
                | TransferOwnership
        )
    }

    fn is_read(self) -> bool {
        matches!(self, GroupAction::ReadInfo | GroupAction::ReadContent | GroupAction::ReadRestrictionLists)
    }
}

/// Why an action is refused. Each maps to one row of the error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("the caller is not a member of the group")]
    NotMember,
    #[error("only the group owner or an admin may do this")]
    NotOwnerOrAdmin,
    #[error("only the group owner may do this")]
    NotOwner,
    #[error("only the app administrator may do this")]
    NotAppAdmin,
    #[error("this action needs a user token")]
    NeedsUser,
    #[error("the group is private")]
    PrivateGroup,
    #[error("the group is disabled")]
    GroupDisabled,
    #[error("the caller is on the group's blocklist")]
    CallerBlocklisted,
    #[error("the caller is already a member")]
    CallerAlreadyMember,
    #[error("the owner cannot leave the group")]
    OwnerCannotQuit,
    #[error("members may not invite in this group")]
    InvitesNotAllowed,
    #[error("the caller is muted")]
    Muted,
    #[error("the group is muted")]
    MutedAll,
    #[error("forbidden operation on group owner")]
    TargetIsOwner,
    #[error("admins cannot act on other admins")]
    TargetIsAdmin,
    #[error("the target is not a member")]
    TargetNotMember,
    #[error("the target is already a member")]
    TargetAlreadyMember,
    #[error("the target is on the blocklist")]
    TargetBlocklisted,
    #[error("the target is not on the blocklist")]
    TargetNotBlocklisted,
    #[error("the target is already an admin")]
    TargetAlreadyAdmin,
    #[error("the target is not an admin")]
    TargetNotAdmin,
    #[error("new owner and old owner are the same")]
    SameOwner,
    #[error("only a chatroom super admin may create chatrooms")]
    NotSuperAdmin,
}

/// Decides whether `caller` may do `action` (to `target`, for actions that have one) in a
/// group with `group` flags. `target` is ignored for actions without one.
pub fn authorize(
    caller: Caller,
    action: GroupAction,
    target: Option<Standing>,
    group: GroupFlags,
) -> Result<(), Denial> {
    use GroupAction::*;
    use Standing::*;

    let gates = Gates::of(caller);
    if let Some(standing) = gates.standing {
        if group.disabled && !action.is_read() {
            return Err(Denial::GroupDisabled);
        }
        if standing == Blocklisted {
            return Err(Denial::CallerBlocklisted);
        }
    }
    let target = target.unwrap_or(Outsider);

    match action {
        ReadInfo => match gates.standing {
            Some(s) if !s.is_member() && !group.public => Err(Denial::NotMember),
            _ => Ok(()),
        },
        ReadContent => gates.member(),
        ReadRestrictionLists | UpdateInfo | UpdateAnnouncement | MuteAll | UnmuteAll => gates.manager(),
        UploadFile => gates.member(),
        DeleteFile { own: true } => gates.member(),
        DeleteFile { own: false } => gates.manager(),
        SetMemberAttributes { own: true } => gates.member(),
        SetMemberAttributes { own: false } => gates.owner(),
        Dissolve => gates.owner(),
        Disable | Enable => match gates.standing {
            None => Ok(()),
            Some(_) => Err(Denial::NotAppAdmin),
        },
        Shield => {
            gates.user()?;
            gates.member()
        }
        SendMessage => {
            if group.disabled {
                return Err(Denial::GroupDisabled);
            }
            let Caller::User(actor) = caller else { return Ok(()) };
            gates.member()?;
            may_speak(actor, group.mute_all)
        }
        Quit => {
            gates.user()?;
            match gates.standing {
                Some(Owner) => Err(Denial::OwnerCannotQuit),
                _ => gates.member(),
            }
        }
        Apply | AnswerInvitation => {
            gates.user()?;
            if gates.standing.is_some_and(Standing::is_member) {
                return Err(Denial::CallerAlreadyMember);
            }
            if action == Apply && !group.public {
                return Err(Denial::PrivateGroup);
            }
            Ok(())
        }
        DecideApplication | AddMember => gates.add_member(target),
        Invite => {
            match gates.standing {
                Some(Member) if !group.allow_invites => return Err(Denial::InvitesNotAllowed),
                Some(Member) => {}
                _ => gates.manager()?,
            }
            target_outsider(target)
        }
        Kick | Mute | Unmute | AllowlistAdd | AllowlistRemove => gates.manage_member(target),
        Block => gates.block(target),
        Unblock => gates.unblock(target),
        AddAdmin => gates.add_admin(target),
        RemoveAdmin => gates.remove_admin(target),
        TransferOwnership => {
            gates.owner()?;
            match target {
                Owner => Err(Denial::SameOwner),
                s if s.is_member() => Ok(()),
                _ => Err(Denial::TargetNotMember),
            }
        }
    }
}

/// The role requirements both rule sets (groups and rooms) share, for one caller.
#[derive(Debug, Clone, Copy)]
struct Gates {
    /// `None` for the app administrator, who ranks above an owner but is not a member.
    standing: Option<Standing>,
}

impl Gates {
    fn of(caller: Caller) -> Gates {
        match caller {
            Caller::AppAdmin => Gates { standing: None },
            Caller::User(subject) => Gates { standing: Some(subject.standing) },
        }
    }

    fn member(self) -> Result<(), Denial> {
        match self.standing {
            None => Ok(()),
            Some(s) if s.is_member() => Ok(()),
            Some(_) => Err(Denial::NotMember),
        }
    }

    /// Owner or admin.
    fn manager(self) -> Result<(), Denial> {
        match self.standing {
            None => Ok(()),
            Some(s) if s.is_manager() => Ok(()),
            Some(s) if s.is_member() => Err(Denial::NotOwnerOrAdmin),
            Some(_) => Err(Denial::NotMember),
        }
    }

    fn owner(self) -> Result<(), Denial> {
        match self.standing {
            None | Some(Standing::Owner) => Ok(()),
            Some(s) if s.is_member() => Err(Denial::NotOwner),
            Some(_) => Err(Denial::NotMember),
        }
    }

    /// A user token, not the app administrator.
    fn user(self) -> Result<(), Denial> {
        if self.standing.is_none() { Err(Denial::NeedsUser) } else { Ok(()) }
    }

    /// The owner and the app admin act on anyone below the owner; admins only on plain members.
    fn may_manage(self, target: Standing) -> Result<(), Denial> {
        match target {
            Standing::Owner => Err(Denial::TargetIsOwner),
            Standing::Admin if self.standing == Some(Standing::Admin) => Err(Denial::TargetIsAdmin),
            _ => Ok(()),
        }
    }

    // The actions groups and rooms decide alike, whole.

    /// Bring an outsider in.
    fn add_member(self, target: Standing) -> Result<(), Denial> {
        self.manager()?;
        target_outsider(target)
    }

    /// Act on a member below the caller (kick, mute, allowlist).
    fn manage_member(self, target: Standing) -> Result<(), Denial> {
        self.manager()?;
        target_member(target)?;
        self.may_manage(target)
    }

    fn block(self, target: Standing) -> Result<(), Denial> {
        self.manager()?;
        if target == Standing::Blocklisted {
            return Err(Denial::TargetBlocklisted);
        }
        self.may_manage(target)
    }

    fn unblock(self, target: Standing) -> Result<(), Denial> {
        self.manager()?;
        target_blocklisted(target)
    }

    fn add_admin(self, target: Standing) -> Result<(), Denial> {
        self.owner()?;
        target_new_admin(target)
    }

    fn remove_admin(self, target: Standing) -> Result<(), Denial> {
        self.owner()?;
        target_admin(target)
    }
}

/// The sending rules: a muted user never sends; while mute-all is on, only the owner, admins
/// and allowlisted members do.
fn may_speak(actor: Subject, mute_all: bool) -> Result<(), Denial> {
    if actor.muted {
        return Err(Denial::Muted);
    }
    if mute_all && !actor.standing.is_manager() && !actor.allowlisted {
        return Err(Denial::MutedAll);
    }
    Ok(())
}

fn target_member(target: Standing) -> Result<(), Denial> {
    if target.is_member() { Ok(()) } else { Err(Denial::TargetNotMember) }
}

/// Someone to bring in: only an outsider.
fn target_outsider(target: Standing) -> Result<(), Denial> {
    match target {
        Standing::Outsider => Ok(()),
        Standing::Blocklisted => Err(Denial::TargetBlocklisted),
        _ => Err(Denial::TargetAlreadyMember),
    }
}

fn target_blocklisted(target: Standing) -> Result<(), Denial> {
    if target == Standing::Blocklisted { Ok(()) } else { Err(Denial::TargetNotBlocklisted) }
}

/// Someone to appoint admin: a plain member.
fn target_new_admin(target: Standing) -> Result<(), Denial> {
    match target {
        Standing::Member => Ok(()),
        Standing::Admin => Err(Denial::TargetAlreadyAdmin),
        Standing::Owner => Err(Denial::TargetIsOwner),
        _ => Err(Denial::TargetNotMember),
    }
}

/// Someone to remove from the admins: an admin.
fn target_admin(target: Standing) -> Result<(), Denial> {
    match target {
        Standing::Admin => Ok(()),
        Standing::Owner => Err(Denial::TargetIsOwner),
        Standing::Member => Err(Denial::TargetNotAdmin),
        _ => Err(Denial::TargetNotMember),
    }
}

#[cfg(test)]
mod table_test;
