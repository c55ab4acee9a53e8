//! The exhaustive test of [`authorize`]: an independent oracle written as a table (one row per
//! action, straight from the spec in `shared/docs/mission.md` and the rules' brief), checked
//! against `authorize` in every cell of action × caller × target × group flags.
//!
//! How a row is read, in the order the checks apply (earlier denials win):
//!
//! 1. `disabled`: what a disabled group does to the action. `Open`: nothing (the read actions,
//!    still subject to their own rules). `Users`: every user caller gets `GroupDisabled`, the app
//!    admin goes on. `Everyone`: everybody, the app admin included, gets `GroupDisabled`.
//! 2. `callers`: one gate per caller kind, in the columns app admin, owner, admin, member,
//!    outsider, blocklisted. `Y` lets the caller on; `N(d)` denies with `d`; `If(flag, d)` lets
//!    the caller on only when the group flag is set, else denies with `d`. The blocklisted column
//!    is `CallerBlocklisted` in every row: after the disabled check, a blocklisted user may do
//!    nothing at all.
//! 3. `speech`: the sending rules. A muted user gets `Muted` (whatever else they are); while
//!    `mute_all` is on, a user who is neither owner, admin nor allowlisted gets `MutedAll`.
//! 4. `targets`: for actions with a target, one cell per target standing, in the columns owner,
//!    admin, member, outsider, blocklisted. `Y` allows; `N(d)` denies with `d`; `NotByAdmin`
//!    denies with `TargetIsAdmin` when the caller is an admin (the owner and the app admin may).
//!    Actions without a target have `None` here, and must ignore whatever target they are given.
//!
//! Ties the spec leaves open, settled as rules.rs settles them:
//! - `Apply` by a member of a private group: `CallerAlreadyMember`, not `PrivateGroup` (the
//!   member column does not look at `public`).
//! - `SendMessage` by a muted member while `mute_all` is on: `Muted`, not `MutedAll`; by a muted
//!   outsider: `NotMember` (the caller gate comes before the sending rules).
//! - `Disable`/`Enable` by a user in a disabled group: `GroupDisabled`, not `NotAppAdmin`; by a
//!   blocklisted user: `CallerBlocklisted` (the general precedence, stated in the spec).
//!
//! The flags `approval_required` and `invite_need_confirm` appear in no row: the loop checks that
//! they change nothing (they shape what the service does after an allowed action).

use super::{Caller, Denial, GroupAction, Subject, authorize};
use crate::{GroupFlags, Standing};

use Denial::*;
use GroupAction::*;

/// Whether a caller kind gets past the role requirement of an action.
#[derive(Debug, Clone, Copy)]
enum Gate {
    Y,
    N(Denial),
    If(Flag, Denial),
}

/// The group flags a caller gate can depend on.
#[derive(Debug, Clone, Copy)]
enum Flag {
    Public,
    AllowInvites,
}

impl Flag {
    fn is_set(self, flags: GroupFlags) -> bool {
        match self {
            Flag::Public => flags.public,
            Flag::AllowInvites => flags.allow_invites,
        }
    }
}

/// What one target standing gets.
#[derive(Debug, Clone, Copy)]
enum Tgt {
    Y,
    N(Denial),
    NotByAdmin,
}

/// Who a disabled group stops.
#[derive(Debug, Clone, Copy)]
enum WhenDisabled {
    Open,
    Users,
    Everyone,
}

struct Row {
    action: GroupAction,
    disabled: WhenDisabled,
    /// App admin, owner, admin, member, outsider, blocklisted.
    callers: [Gate; 6],
    speech: bool,
    /// Owner, admin, member, outsider, blocklisted; `None` for actions without a target.
    targets: Option<[Tgt; 5]>,
}

// Short names for the table's gate cells: BL CallerBlocklisted, NM NotMember, NOA NotOwnerOrAdmin,
// NO NotOwner, NAA NotAppAdmin, NU NeedsUser, CAM CallerAlreadyMember, OCQ OwnerCannotQuit, and
// the three conditional gates PUB_NM, PUB_PG, INV below.
use Gate::{If, Y};
const BL: Gate = Gate::N(CallerBlocklisted);
const NM: Gate = Gate::N(NotMember);
const NOA: Gate = Gate::N(NotOwnerOrAdmin);
const NO: Gate = Gate::N(NotOwner);
const NAA: Gate = Gate::N(NotAppAdmin);
const NU: Gate = Gate::N(NeedsUser);
const CAM: Gate = Gate::N(CallerAlreadyMember);
const OCQ: Gate = Gate::N(OwnerCannotQuit);
/// Outsiders read a public group's details only.
const PUB_NM: Gate = If(Flag::Public, NotMember);
/// Outsiders apply to public groups only.
const PUB_PG: Gate = If(Flag::Public, PrivateGroup);
/// Plain members invite only where invites are allowed.
const INV: Gate = If(Flag::AllowInvites, InvitesNotAllowed);

// The target profiles (owner, admin, member, outsider, blocklisted).
/// Someone to bring in: only an outsider.
const NEWCOMER: Option<[Tgt; 5]> = Some([
    Tgt::N(TargetAlreadyMember),
    Tgt::N(TargetAlreadyMember),
    Tgt::N(TargetAlreadyMember),
    Tgt::Y,
    Tgt::N(TargetBlocklisted),
]);
/// A member below the caller: never the owner, an admin only for the owner or app admin.
const SUBORDINATE: Option<[Tgt; 5]> =
    Some([Tgt::N(TargetIsOwner), Tgt::NotByAdmin, Tgt::Y, Tgt::N(TargetNotMember), Tgt::N(TargetNotMember)]);
/// Blocking: like a subordinate, but outsiders may be blocklisted pre-emptively.
const BLOCKABLE: Option<[Tgt; 5]> =
    Some([Tgt::N(TargetIsOwner), Tgt::NotByAdmin, Tgt::Y, Tgt::Y, Tgt::N(TargetBlocklisted)]);
const BLOCKED: Option<[Tgt; 5]> = Some([
    Tgt::N(TargetNotBlocklisted),
    Tgt::N(TargetNotBlocklisted),
    Tgt::N(TargetNotBlocklisted),
    Tgt::N(TargetNotBlocklisted),
    Tgt::Y,
]);
const NEW_ADMIN: Option<[Tgt; 5]> =
    Some([Tgt::N(TargetIsOwner), Tgt::N(TargetAlreadyAdmin), Tgt::Y, Tgt::N(TargetNotMember), Tgt::N(TargetNotMember)]);
const OLD_ADMIN: Option<[Tgt; 5]> =
    Some([Tgt::N(TargetIsOwner), Tgt::Y, Tgt::N(TargetNotAdmin), Tgt::N(TargetNotMember), Tgt::N(TargetNotMember)]);
const NEW_OWNER: Option<[Tgt; 5]> =
    Some([Tgt::N(SameOwner), Tgt::Y, Tgt::Y, Tgt::N(TargetNotMember), Tgt::N(TargetNotMember)]);
const NONE: Option<[Tgt; 5]> = None;

const fn row(
    action: GroupAction,
    disabled: WhenDisabled,
    callers: [Gate; 6],
    speech: bool,
    targets: Option<[Tgt; 5]>,
) -> Row {
    Row { action, disabled, callers, speech, targets }
}

use WhenDisabled::{Everyone as ALL, Open as OPEN, Users as USERS};

#[rustfmt::skip]
const TABLE: [Row; 33] = [
    //  action                                 disabled   app admin owner admin  member  outsider  blocklisted  speech  targets
    row(ReadInfo,                              OPEN,     [Y,        Y,    Y,     Y,      PUB_NM,   BL],         false,  NONE),
    row(ReadContent,                           OPEN,     [Y,        Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(ReadRestrictionLists,                  OPEN,     [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(UpdateInfo,                            USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(UpdateAnnouncement,                    USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(MuteAll,                               USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(UnmuteAll,                             USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(UploadFile,                            USERS,    [Y,        Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(DeleteFile { own: true },              USERS,    [Y,        Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(DeleteFile { own: false },             USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(SetMemberAttributes { own: true },     USERS,    [Y,        Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(SetMemberAttributes { own: false },    USERS,    [Y,        Y,    NO,    NO,     NM,       BL],         false,  NONE),
    row(Dissolve,                              USERS,    [Y,        Y,    NO,    NO,     NM,       BL],         false,  NONE),
    row(Disable,                               USERS,    [Y,        NAA,  NAA,   NAA,    NAA,      BL],         false,  NONE),
    row(Enable,                                USERS,    [Y,        NAA,  NAA,   NAA,    NAA,      BL],         false,  NONE),
    row(Shield,                                USERS,    [NU,       Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(SendMessage,                           ALL,      [Y,        Y,    Y,     Y,      NM,       BL],         true,   NONE),
    row(Quit,                                  USERS,    [NU,       OCQ,  Y,     Y,      NM,       BL],         false,  NONE),
    row(Apply,                                 USERS,    [NU,       CAM,  CAM,   CAM,    PUB_PG,   BL],         false,  NONE),
    row(DecideApplication,                     USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NEWCOMER),
    row(Invite,                                USERS,    [Y,        Y,    Y,     INV,    NM,       BL],         false,  NEWCOMER),
    row(AnswerInvitation,                      USERS,    [NU,       CAM,  CAM,   CAM,    Y,        BL],         false,  NONE),
    row(AddMember,                             USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NEWCOMER),
    row(Kick,                                  USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(Block,                                 USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  BLOCKABLE),
    row(Unblock,                               USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  BLOCKED),
    row(Mute,                                  USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(Unmute,                                USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(AllowlistAdd,                          USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(AllowlistRemove,                       USERS,    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(AddAdmin,                              USERS,    [Y,        Y,    NO,    NO,     NM,       BL],         false,  NEW_ADMIN),
    row(RemoveAdmin,                           USERS,    [Y,        Y,    NO,    NO,     NM,       BL],         false,  OLD_ADMIN),
    row(TransferOwnership,                     USERS,    [Y,        Y,    NO,    NO,     NM,       BL],         false,  NEW_OWNER),
];

const STANDINGS: [Standing; 5] =
    [Standing::Owner, Standing::Admin, Standing::Member, Standing::Outsider, Standing::Blocklisted];

/// Column of a standing in the table (the caller columns are shifted by one for the app admin).
fn column(standing: Standing) -> usize {
    match standing {
        Standing::Owner => 0,
        Standing::Admin => 1,
        Standing::Member => 2,
        Standing::Outsider => 3,
        Standing::Blocklisted => 4,
    }
}

fn caller_column(caller: Caller) -> usize {
    match caller {
        Caller::AppAdmin => 0,
        Caller::User(subject) => 1 + column(subject.standing),
    }
}

/// A number for every action, written as an exhaustive match: adding an action to the enum
/// breaks the build here until the table and `GroupAction::ALL` are looked at.
fn ordinal(action: GroupAction) -> usize {
    match action {
        ReadInfo => 0,
        ReadContent => 1,
        ReadRestrictionLists => 2,
        UpdateInfo => 3,
        UpdateAnnouncement => 4,
        MuteAll => 5,
        UnmuteAll => 6,
        UploadFile => 7,
        DeleteFile { own: true } => 8,
        DeleteFile { own: false } => 9,
        SetMemberAttributes { own: true } => 10,
        SetMemberAttributes { own: false } => 11,
        Dissolve => 12,
        Disable => 13,
        Enable => 14,
        Shield => 15,
        SendMessage => 16,
        Quit => 17,
        Apply => 18,
        DecideApplication => 19,
        Invite => 20,
        AnswerInvitation => 21,
        AddMember => 22,
        Kick => 23,
        Block => 24,
        Unblock => 25,
        Mute => 26,
        Unmute => 27,
        AllowlistAdd => 28,
        AllowlistRemove => 29,
        AddAdmin => 30,
        RemoveAdmin => 31,
        TransferOwnership => 32,
    }
}

fn row_of(action: GroupAction) -> &'static Row {
    let mut rows = TABLE.iter().filter(|row| row.action == action);
    let row = rows.next().unwrap_or_else(|| panic!("no table row for {action:?}"));
    assert!(rows.next().is_none(), "two table rows for {action:?}");
    row
}

/// What the spec says `authorize` answers, read off the table.
fn oracle(action: GroupAction, caller: Caller, target: Option<Standing>, flags: GroupFlags) -> Result<(), Denial> {
    let row = row_of(action);
    let is_user = matches!(caller, Caller::User(_));

    let stopped_by_disable = match row.disabled {
        WhenDisabled::Open => false,
        WhenDisabled::Users => is_user,
        WhenDisabled::Everyone => true,
    };
    if flags.disabled && stopped_by_disable {
        return Err(GroupDisabled);
    }

    match row.callers[caller_column(caller)] {
        Gate::Y => {}
        Gate::N(denial) => return Err(denial),
        Gate::If(flag, denial) => {
            if !flag.is_set(flags) {
                return Err(denial);
            }
        }
    }

    if row.speech
        && let Caller::User(subject) = caller
    {
        if subject.muted {
            return Err(Muted);
        }
        let exempt = matches!(subject.standing, Standing::Owner | Standing::Admin) || subject.allowlisted;
        if flags.mute_all && !exempt {
            return Err(MutedAll);
        }
    }

    if let Some(targets) = row.targets {
        let target = target.expect("an action with a target checked without one");
        match targets[column(target)] {
            Tgt::Y => {}
            Tgt::N(denial) => return Err(denial),
            Tgt::NotByAdmin => {
                if caller_column(caller) == 1 + column(Standing::Admin) {
                    return Err(TargetIsAdmin);
                }
            }
        }
    }
    Ok(())
}

/// The 21 callers: the app admin, and every standing × muted × allowlisted.
fn all_callers() -> Vec<Caller> {
    let mut callers = vec![Caller::AppAdmin];
    for standing in STANDINGS {
        for muted in [false, true] {
            for allowlisted in [false, true] {
                callers.push(Caller::User(Subject { standing, muted, allowlisted }));
            }
        }
    }
    callers
}

/// The 64 combinations of the six flags.
fn all_flags() -> Vec<GroupFlags> {
    (0u8..64)
        .map(|bits| GroupFlags {
            public: bits & 1 != 0,
            approval_required: bits & 2 != 0,
            allow_invites: bits & 4 != 0,
            invite_need_confirm: bits & 8 != 0,
            mute_all: bits & 16 != 0,
            disabled: bits & 32 != 0,
        })
        .collect()
}

/// The targets to try: each standing for an action with a target; for one without, no target
/// and also each standing (which must be ignored).
fn targets_for(action: GroupAction) -> Vec<Option<Standing>> {
    let mut targets: Vec<Option<Standing>> = STANDINGS.iter().copied().map(Some).collect();
    if !action.has_target() {
        targets.insert(0, None);
    }
    targets
}

#[test]
fn the_table_covers_every_action_once() {
    assert_eq!(TABLE.len(), GroupAction::ALL.len());
    let mut seen = [false; 33];
    for action in GroupAction::ALL {
        let n = ordinal(action);
        assert!(!seen[n], "{action:?} twice in GroupAction::ALL");
        seen[n] = true;
        let row = row_of(action);
        assert_eq!(
            row.targets.is_some(),
            action.has_target(),
            "{action:?}: the table and has_target disagree on whether it has a target"
        );
    }
    assert!(seen.iter().all(|&s| s), "GroupAction::ALL misses an action");
    // Every row denies the blocklisted caller, whatever the flags.
    for row in &TABLE {
        assert!(matches!(row.callers[5], Gate::N(CallerBlocklisted)), "{:?}", row.action);
    }
}

#[test]
fn authorize_matches_the_table_in_every_cell() {
    let callers = all_callers();
    let flag_sets = all_flags();
    assert_eq!(callers.len(), 21);
    assert_eq!(flag_sets.len(), 64);

    let mut checked = 0usize;
    let mut failures = Vec::new();
    for action in GroupAction::ALL {
        for &caller in &callers {
            for target in targets_for(action) {
                for &flags in &flag_sets {
                    checked += 1;
                    let expected = oracle(action, caller, target, flags);
                    let got = authorize(caller, action, target, flags);
                    if got != expected {
                        failures.push(format!(
                            "action {action:?}, caller {caller:?}, target {target:?}, flags {flags:?}: \
                             expected {expected:?}, got {got:?}"
                        ));
                    }
                }
            }
        }
    }

    // 13 actions with a target × 5 standings, 20 without × (no target + 5 ignored standings).
    let with_target = GroupAction::ALL.iter().filter(|a| a.has_target()).count();
    let without_target = GroupAction::ALL.len() - with_target;
    assert_eq!((with_target, without_target), (13, 20));
    let product = (with_target * 5 + without_target * 6) * callers.len() * flag_sets.len();
    assert_eq!(product, 248_640);
    assert_eq!(checked, product, "some cells were skipped");

    assert!(
        failures.is_empty(),
        "{} of {checked} cells disagree with the table; the first ones:\n{}",
        failures.len(),
        failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

// Named examples of the cases that matter most.

fn user(standing: Standing) -> Caller {
    Caller::User(Subject::plain(standing))
}

/// A public group with every other switch off.
fn public() -> GroupFlags {
    GroupFlags { public: true, ..GroupFlags::default() }
}

fn private() -> GroupFlags {
    GroupFlags::default()
}

#[test]
fn the_owner_cannot_quit_but_others_can() {
    assert_eq!(authorize(user(Standing::Owner), Quit, None, public()), Err(OwnerCannotQuit));
    assert_eq!(authorize(user(Standing::Admin), Quit, None, public()), Ok(()));
    assert_eq!(authorize(user(Standing::Member), Quit, None, public()), Ok(()));
    assert_eq!(authorize(user(Standing::Outsider), Quit, None, public()), Err(NotMember));
}

#[test]
fn only_the_owner_appoints_admins_transfers_and_dissolves() {
    let g = public();
    for (action, target) in [
        (AddAdmin, Some(Standing::Member)),
        (RemoveAdmin, Some(Standing::Admin)),
        (TransferOwnership, Some(Standing::Member)),
        (Dissolve, None),
    ] {
        assert_eq!(authorize(user(Standing::Owner), action, target, g), Ok(()), "{action:?}");
        assert_eq!(authorize(Caller::AppAdmin, action, target, g), Ok(()), "{action:?}");
        assert_eq!(authorize(user(Standing::Admin), action, target, g), Err(NotOwner), "{action:?}");
        assert_eq!(authorize(user(Standing::Member), action, target, g), Err(NotOwner), "{action:?}");
        assert_eq!(authorize(user(Standing::Outsider), action, target, g), Err(NotMember), "{action:?}");
    }
    assert_eq!(authorize(user(Standing::Owner), AddAdmin, Some(Standing::Admin), g), Err(TargetAlreadyAdmin));
    assert_eq!(authorize(user(Standing::Owner), RemoveAdmin, Some(Standing::Member), g), Err(TargetNotAdmin));
    assert_eq!(authorize(user(Standing::Owner), TransferOwnership, Some(Standing::Owner), g), Err(SameOwner));
    assert_eq!(authorize(user(Standing::Owner), TransferOwnership, Some(Standing::Outsider), g), Err(TargetNotMember));
}

#[test]
fn admins_cannot_act_on_the_owner_or_other_admins_but_the_owner_can_act_on_admins() {
    let g = public();
    for action in [Kick, Block, Mute, Unmute, AllowlistAdd, AllowlistRemove] {
        let admin = user(Standing::Admin);
        let owner = user(Standing::Owner);
        assert_eq!(authorize(admin, action, Some(Standing::Owner), g), Err(TargetIsOwner), "{action:?}");
        assert_eq!(authorize(admin, action, Some(Standing::Admin), g), Err(TargetIsAdmin), "{action:?}");
        assert_eq!(authorize(admin, action, Some(Standing::Member), g), Ok(()), "{action:?}");
        assert_eq!(authorize(owner, action, Some(Standing::Admin), g), Ok(()), "{action:?}");
        assert_eq!(authorize(owner, action, Some(Standing::Owner), g), Err(TargetIsOwner), "{action:?}");
        assert_eq!(authorize(Caller::AppAdmin, action, Some(Standing::Admin), g), Ok(()), "{action:?}");
        assert_eq!(authorize(Caller::AppAdmin, action, Some(Standing::Owner), g), Err(TargetIsOwner), "{action:?}");
    }
    // An admin cannot remove another admin's office either: that is the owner's.
    assert_eq!(authorize(user(Standing::Admin), RemoveAdmin, Some(Standing::Admin), g), Err(NotOwner));
}

#[test]
fn a_blocklisted_user_cannot_apply_nor_be_added_or_invited_until_unblocked() {
    let g = public();
    let manager = user(Standing::Owner);
    assert_eq!(authorize(user(Standing::Blocklisted), Apply, None, g), Err(CallerBlocklisted));
    assert_eq!(authorize(user(Standing::Blocklisted), AnswerInvitation, None, g), Err(CallerBlocklisted));
    assert_eq!(authorize(user(Standing::Blocklisted), ReadInfo, None, g), Err(CallerBlocklisted));
    for action in [AddMember, Invite, DecideApplication] {
        assert_eq!(authorize(manager, action, Some(Standing::Blocklisted), g), Err(TargetBlocklisted));
        assert_eq!(authorize(Caller::AppAdmin, action, Some(Standing::Blocklisted), g), Err(TargetBlocklisted));
    }
    // Unblocking makes them an outsider again, who may apply and be added.
    assert_eq!(authorize(manager, Unblock, Some(Standing::Blocklisted), g), Ok(()));
    assert_eq!(authorize(manager, Unblock, Some(Standing::Outsider), g), Err(TargetNotBlocklisted));
    assert_eq!(authorize(user(Standing::Outsider), Apply, None, g), Ok(()));
    assert_eq!(authorize(manager, AddMember, Some(Standing::Outsider), g), Ok(()));
    assert_eq!(authorize(manager, Invite, Some(Standing::Outsider), g), Ok(()));
    // Blocking one already blocked, and blocking an outsider pre-emptively.
    assert_eq!(authorize(manager, Block, Some(Standing::Blocklisted), g), Err(TargetBlocklisted));
    assert_eq!(authorize(manager, Block, Some(Standing::Outsider), g), Ok(()));
}

#[test]
fn private_groups_reject_applications_but_not_invitations() {
    let outsider = user(Standing::Outsider);
    assert_eq!(authorize(outsider, Apply, None, private()), Err(PrivateGroup));
    assert_eq!(authorize(outsider, Apply, None, public()), Ok(()));
    assert_eq!(authorize(outsider, AnswerInvitation, None, private()), Ok(()));
    assert_eq!(authorize(outsider, ReadInfo, None, private()), Err(NotMember));
    assert_eq!(authorize(outsider, ReadInfo, None, public()), Ok(()));
    // A member applying to their own private group is told they are already in.
    assert_eq!(authorize(user(Standing::Member), Apply, None, private()), Err(CallerAlreadyMember));
    assert_eq!(authorize(user(Standing::Member), AnswerInvitation, None, public()), Err(CallerAlreadyMember));
}

#[test]
fn restriction_lists_are_readable_by_the_owner_and_admins_only() {
    for g in [public(), private()] {
        assert_eq!(authorize(user(Standing::Owner), ReadRestrictionLists, None, g), Ok(()));
        assert_eq!(authorize(user(Standing::Admin), ReadRestrictionLists, None, g), Ok(()));
        assert_eq!(authorize(Caller::AppAdmin, ReadRestrictionLists, None, g), Ok(()));
        assert_eq!(authorize(user(Standing::Member), ReadRestrictionLists, None, g), Err(NotOwnerOrAdmin));
        assert_eq!(authorize(user(Standing::Outsider), ReadRestrictionLists, None, g), Err(NotMember));
        // The ordinary content is every member's.
        assert_eq!(authorize(user(Standing::Member), ReadContent, None, g), Ok(()));
    }
}

#[test]
fn members_delete_only_their_own_shared_files() {
    let g = public();
    let member = user(Standing::Member);
    assert_eq!(authorize(member, UploadFile, None, g), Ok(()));
    assert_eq!(authorize(member, DeleteFile { own: true }, None, g), Ok(()));
    assert_eq!(authorize(member, DeleteFile { own: false }, None, g), Err(NotOwnerOrAdmin));
    assert_eq!(authorize(user(Standing::Admin), DeleteFile { own: false }, None, g), Ok(()));
    assert_eq!(authorize(user(Standing::Owner), DeleteFile { own: false }, None, g), Ok(()));
    assert_eq!(authorize(user(Standing::Outsider), DeleteFile { own: true }, None, g), Err(NotMember));
}

#[test]
fn muted_members_cannot_send_even_if_allowlisted_or_managers() {
    let g = public();
    for standing in [Standing::Owner, Standing::Admin, Standing::Member] {
        for allowlisted in [false, true] {
            let caller = Caller::User(Subject { standing, muted: true, allowlisted });
            assert_eq!(authorize(caller, SendMessage, None, g), Err(Muted), "{caller:?}");
            let all_muted = GroupFlags { mute_all: true, ..g };
            assert_eq!(authorize(caller, SendMessage, None, all_muted), Err(Muted), "{caller:?}");
        }
    }
    assert_eq!(authorize(user(Standing::Member), SendMessage, None, g), Ok(()));
}

#[test]
fn during_mute_all_only_the_owner_admins_and_allowlisted_members_send() {
    let g = GroupFlags { mute_all: true, ..public() };
    let allowlisted = Caller::User(Subject { standing: Standing::Member, muted: false, allowlisted: true });
    assert_eq!(authorize(user(Standing::Owner), SendMessage, None, g), Ok(()));
    assert_eq!(authorize(user(Standing::Admin), SendMessage, None, g), Ok(()));
    assert_eq!(authorize(allowlisted, SendMessage, None, g), Ok(()));
    assert_eq!(authorize(Caller::AppAdmin, SendMessage, None, g), Ok(()));
    assert_eq!(authorize(user(Standing::Member), SendMessage, None, g), Err(MutedAll));
    assert_eq!(authorize(user(Standing::Outsider), SendMessage, None, g), Err(NotMember));
}

#[test]
fn nobody_sends_in_a_disabled_group_not_even_the_app_admin() {
    let g = GroupFlags { disabled: true, ..public() };
    assert_eq!(authorize(Caller::AppAdmin, SendMessage, None, g), Err(GroupDisabled));
    for standing in STANDINGS {
        assert_eq!(authorize(user(standing), SendMessage, None, g), Err(GroupDisabled), "{standing:?}");
    }
    // Users may still read; management is the app admin's alone.
    assert_eq!(authorize(user(Standing::Member), ReadContent, None, g), Ok(()));
    assert_eq!(authorize(user(Standing::Admin), ReadRestrictionLists, None, g), Ok(()));
    assert_eq!(authorize(user(Standing::Owner), Kick, Some(Standing::Member), g), Err(GroupDisabled));
    assert_eq!(authorize(user(Standing::Owner), Dissolve, None, g), Err(GroupDisabled));
    assert_eq!(authorize(Caller::AppAdmin, Kick, Some(Standing::Member), g), Ok(()));
    assert_eq!(authorize(Caller::AppAdmin, Dissolve, None, g), Ok(()));
    // Disabled is checked before the blocklist.
    assert_eq!(authorize(user(Standing::Blocklisted), Apply, None, g), Err(GroupDisabled));
    assert_eq!(authorize(user(Standing::Blocklisted), ReadInfo, None, g), Err(CallerBlocklisted));
}

#[test]
fn a_plain_member_invites_only_when_invites_are_allowed() {
    let closed = public();
    let open = GroupFlags { allow_invites: true, ..public() };
    let member = user(Standing::Member);
    let target = Some(Standing::Outsider);
    assert_eq!(authorize(member, Invite, target, closed), Err(InvitesNotAllowed));
    assert_eq!(authorize(member, Invite, target, open), Ok(()));
    assert_eq!(authorize(member, Invite, Some(Standing::Member), open), Err(TargetAlreadyMember));
    // The caller check comes first.
    assert_eq!(authorize(member, Invite, Some(Standing::Blocklisted), closed), Err(InvitesNotAllowed));
    for manager in [user(Standing::Owner), user(Standing::Admin), Caller::AppAdmin] {
        assert_eq!(authorize(manager, Invite, target, closed), Ok(()), "{manager:?}");
    }
    assert_eq!(authorize(user(Standing::Outsider), Invite, target, open), Err(NotMember));
    // Adding directly stays with the managers.
    assert_eq!(authorize(member, AddMember, target, open), Err(NotOwnerOrAdmin));
}

#[test]
fn the_app_admin_cannot_apply_quit_or_shield_but_can_manage_everything() {
    let g = public();
    for action in [Apply, Quit, Shield, AnswerInvitation] {
        assert_eq!(authorize(Caller::AppAdmin, action, None, g), Err(NeedsUser), "{action:?}");
    }
    let management = [
        (ReadInfo, None),
        (ReadContent, None),
        (ReadRestrictionLists, None),
        (UpdateInfo, None),
        (UpdateAnnouncement, None),
        (MuteAll, None),
        (UnmuteAll, None),
        (UploadFile, None),
        (DeleteFile { own: false }, None),
        (SetMemberAttributes { own: false }, None),
        (Dissolve, None),
        (Disable, None),
        (Enable, None),
        (SendMessage, None),
        (DecideApplication, Some(Standing::Outsider)),
        (Invite, Some(Standing::Outsider)),
        (AddMember, Some(Standing::Outsider)),
        (Kick, Some(Standing::Admin)),
        (Block, Some(Standing::Admin)),
        (Unblock, Some(Standing::Blocklisted)),
        (Mute, Some(Standing::Admin)),
        (Unmute, Some(Standing::Admin)),
        (AllowlistAdd, Some(Standing::Admin)),
        (AllowlistRemove, Some(Standing::Admin)),
        (AddAdmin, Some(Standing::Member)),
        (RemoveAdmin, Some(Standing::Admin)),
        (TransferOwnership, Some(Standing::Admin)),
    ];
    for (action, target) in management {
        for g in [public(), private(), GroupFlags { mute_all: true, ..private() }] {
            assert_eq!(authorize(Caller::AppAdmin, action, target, g), Ok(()), "{action:?} in {g:?}");
        }
    }
}

#[test]
fn disable_and_enable_are_the_app_admins_alone() {
    for action in [Disable, Enable] {
        for disabled in [false, true] {
            let g = GroupFlags { disabled, ..public() };
            assert_eq!(authorize(Caller::AppAdmin, action, None, g), Ok(()), "{action:?} {g:?}");
        }
        for standing in [Standing::Owner, Standing::Admin, Standing::Member, Standing::Outsider] {
            assert_eq!(authorize(user(standing), action, None, public()), Err(NotAppAdmin), "{standing:?}");
        }
    }
}
