//! The exhaustive test of [`authorize_room`]: an independent oracle written as a table (one
//! row per action, from the chat room rules in `shared/docs/mission.md`, agora-chat-api.md §3
//! and the decisions in `rules/rooms.rs`), checked against `authorize_room` in every cell of
//! action × caller × target × room flags.
//!
//! How a row is read, in the order the checks apply (earlier denials win):
//!
//! 1. `callers`: one gate per caller kind, in the columns app admin, owner, admin, member,
//!    outsider, blocklisted. `Y` lets the caller on; `N(d)` denies with `d`. The blocklisted
//!    column is `CallerBlocklisted` in every row: a blocklisted user may do nothing at all.
//!    (A room has no disabled state, so there is no disabled column as for groups.)
//! 2. `speech`: the sending rules. A muted user gets `Muted` (whatever else they are); while
//!    `mute_all` is on, a user who is neither owner, admin nor allowlisted gets `MutedAll`.
//! 3. `targets`: for actions with a target, one cell per target standing, in the columns owner,
//!    admin, member, outsider, blocklisted. `Y` allows; `N(d)` denies with `d`; `NotByAdmin`
//!    denies with `TargetIsAdmin` when the caller is an admin (the owner and the app admin may).
//!    Actions without a target have `None` here, and must ignore whatever target they are given.
//!
//! Super admin is an app-level role, not a standing in a room: it travels with
//! `Create { super_admin }`, so both values are rows of their own.

use super::{RoomAction, authorize_room};
use crate::rules::{Caller, Denial, Subject};
use crate::{RoomFlags, Standing};

use Denial::*;
use RoomAction::*;

#[derive(Debug, Clone, Copy)]
enum Gate {
    Y,
    N(Denial),
}

#[derive(Debug, Clone, Copy)]
enum Tgt {
    Y,
    N(Denial),
    NotByAdmin,
}

struct Row {
    action: RoomAction,
    /// App admin, owner, admin, member, outsider, blocklisted.
    callers: [Gate; 6],
    speech: bool,
    /// Owner, admin, member, outsider, blocklisted; `None` for actions without a target.
    targets: Option<[Tgt; 5]>,
}

// Short names for the gate cells: BL CallerBlocklisted, NM NotMember, NOA NotOwnerOrAdmin,
// NO NotOwner, NU NeedsUser, NSA NotSuperAdmin.
use Gate::Y;
const BL: Gate = Gate::N(CallerBlocklisted);
const NM: Gate = Gate::N(NotMember);
const NOA: Gate = Gate::N(NotOwnerOrAdmin);
const NO: Gate = Gate::N(NotOwner);
const NU: Gate = Gate::N(NeedsUser);
const NSA: Gate = Gate::N(NotSuperAdmin);

// The target profiles (owner, admin, member, outsider, blocklisted).
/// Someone to put in the room: only an outsider (the owner and admins belong by role).
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
/// Lifting a mute or an allowlist entry: anyone below the caller, in the room or not.
const LIFTABLE: Option<[Tgt; 5]> = Some([Tgt::N(TargetIsOwner), Tgt::NotByAdmin, Tgt::Y, Tgt::Y, Tgt::Y]);
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
const NONE: Option<[Tgt; 5]> = None;

const fn row(action: RoomAction, callers: [Gate; 6], speech: bool, targets: Option<[Tgt; 5]>) -> Row {
    Row { action, callers, speech, targets }
}

#[rustfmt::skip]
const TABLE: [Row; 27] = [
    //  action                                 app admin owner admin  member  outsider  blocklisted  speech  targets
    row(ReadInfo,                              [Y,        Y,    Y,     Y,      Y,        BL],         false,  NONE),
    row(ReadContent,                           [Y,        Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(ReadRestrictionLists,                  [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(UpdateInfo,                            [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(UpdateAnnouncement,                    [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(MuteAll,                               [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(UnmuteAll,                             [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(Destroy,                               [Y,        Y,    NO,    NO,     NM,       BL],         false,  NONE),
    row(Create { super_admin: true },          [Y,        Y,    Y,     Y,      Y,        BL],         false,  NONE),
    row(Create { super_admin: false },         [Y,        NSA,  NSA,   NSA,    NSA,      BL],         false,  NONE),
    row(Join,                                  [NU,       Y,    Y,     Y,      Y,        BL],         false,  NONE),
    row(Leave,                                 [NU,       Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(SendMessage,                           [Y,        Y,    Y,     Y,      NM,       BL],         true,   NONE),
    row(SetAttributes { forced: false },       [Y,        Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(SetAttributes { forced: true },        [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(RemoveAttributes { forced: false },    [Y,        Y,    Y,     Y,      NM,       BL],         false,  NONE),
    row(RemoveAttributes { forced: true },     [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NONE),
    row(AddMember,                             [Y,        Y,    Y,     NOA,    NM,       BL],         false,  NEWCOMER),
    row(Kick,                                  [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(Block,                                 [Y,        Y,    Y,     NOA,    NM,       BL],         false,  BLOCKABLE),
    row(Unblock,                               [Y,        Y,    Y,     NOA,    NM,       BL],         false,  BLOCKED),
    row(Mute,                                  [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(Unmute,                                [Y,        Y,    Y,     NOA,    NM,       BL],         false,  LIFTABLE),
    row(AllowlistAdd,                          [Y,        Y,    Y,     NOA,    NM,       BL],         false,  SUBORDINATE),
    row(AllowlistRemove,                       [Y,        Y,    Y,     NOA,    NM,       BL],         false,  LIFTABLE),
    row(AddAdmin,                              [Y,        Y,    NO,    NO,     NM,       BL],         false,  NEW_ADMIN),
    row(RemoveAdmin,                           [Y,        Y,    NO,    NO,     NM,       BL],         false,  OLD_ADMIN),
];

const STANDINGS: [Standing; 5] =
    [Standing::Owner, Standing::Admin, Standing::Member, Standing::Outsider, Standing::Blocklisted];

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
/// breaks the build here until the table and `RoomAction::ALL` are looked at.
fn ordinal(action: RoomAction) -> usize {
    match action {
        ReadInfo => 0,
        ReadContent => 1,
        ReadRestrictionLists => 2,
        UpdateInfo => 3,
        UpdateAnnouncement => 4,
        MuteAll => 5,
        UnmuteAll => 6,
        Destroy => 7,
        Create { super_admin: true } => 8,
        Create { super_admin: false } => 9,
        Join => 10,
        Leave => 11,
        SendMessage => 12,
        SetAttributes { forced: false } => 13,
        SetAttributes { forced: true } => 14,
        RemoveAttributes { forced: false } => 15,
        RemoveAttributes { forced: true } => 16,
        AddMember => 17,
        Kick => 18,
        Block => 19,
        Unblock => 20,
        Mute => 21,
        Unmute => 22,
        AllowlistAdd => 23,
        AllowlistRemove => 24,
        AddAdmin => 25,
        RemoveAdmin => 26,
    }
}

fn row_of(action: RoomAction) -> &'static Row {
    let mut rows = TABLE.iter().filter(|row| row.action == action);
    let row = rows.next().unwrap_or_else(|| panic!("no table row for {action:?}"));
    assert!(rows.next().is_none(), "two table rows for {action:?}");
    row
}

/// What the spec says `authorize_room` answers, read off the table.
fn oracle(action: RoomAction, caller: Caller, target: Option<Standing>, flags: RoomFlags) -> Result<(), Denial> {
    let row = row_of(action);
    if let Gate::N(denial) = row.callers[caller_column(caller)] {
        return Err(denial);
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

fn all_flags() -> [RoomFlags; 2] {
    [RoomFlags { mute_all: false }, RoomFlags { mute_all: true }]
}

/// Each standing for an action with a target; for one without, no target and also each
/// standing (which must be ignored).
fn targets_for(action: RoomAction) -> Vec<Option<Standing>> {
    let mut targets: Vec<Option<Standing>> = STANDINGS.iter().copied().map(Some).collect();
    if !action.has_target() {
        targets.insert(0, None);
    }
    targets
}

#[test]
fn the_table_covers_every_action_once() {
    assert_eq!(TABLE.len(), RoomAction::ALL.len());
    let mut seen = [false; 27];
    for action in RoomAction::ALL {
        let n = ordinal(action);
        assert!(!seen[n], "{action:?} twice in RoomAction::ALL");
        seen[n] = true;
        assert_eq!(
            row_of(action).targets.is_some(),
            action.has_target(),
            "{action:?}: the table and has_target disagree on whether it has a target"
        );
    }
    assert!(seen.iter().all(|&s| s), "RoomAction::ALL misses an action");
    for row in &TABLE {
        assert!(matches!(row.callers[5], Gate::N(CallerBlocklisted)), "{:?}", row.action);
    }
}

#[test]
fn authorize_room_matches_the_table_in_every_cell() {
    let callers = all_callers();
    assert_eq!(callers.len(), 21);
    let mut checked = 0usize;
    let mut failures = Vec::new();
    for action in RoomAction::ALL {
        for &caller in &callers {
            for target in targets_for(action) {
                for flags in all_flags() {
                    checked += 1;
                    let expected = oracle(action, caller, target, flags);
                    let got = authorize_room(caller, action, target, flags);
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
    // 10 actions with a target × 5 standings, 17 without × (no target + 5 ignored standings).
    let with_target = RoomAction::ALL.iter().filter(|a| a.has_target()).count();
    let without_target = RoomAction::ALL.len() - with_target;
    assert_eq!((with_target, without_target), (10, 17));
    let product = (with_target * 5 + without_target * 6) * callers.len() * 2;
    assert_eq!(product, 6_384);
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

const OPEN: RoomFlags = RoomFlags { mute_all: false };
const MUTED: RoomFlags = RoomFlags { mute_all: true };

#[test]
fn only_super_admins_create_rooms_from_a_client() {
    let create = |super_admin| Create { super_admin };
    assert_eq!(authorize_room(Caller::AppAdmin, create(false), None, OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Outsider), create(true), None, OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Outsider), create(false), None, OPEN), Err(NotSuperAdmin));
}

#[test]
fn during_mute_all_the_owner_admins_and_allowlisted_members_speak_but_the_muted_never() {
    let allowlisted = Caller::User(Subject { standing: Standing::Member, muted: false, allowlisted: true });
    for caller in [user(Standing::Owner), user(Standing::Admin), allowlisted, Caller::AppAdmin] {
        assert_eq!(authorize_room(caller, SendMessage, None, MUTED), Ok(()), "{caller:?}");
    }
    assert_eq!(authorize_room(user(Standing::Member), SendMessage, None, MUTED), Err(MutedAll));
    assert_eq!(authorize_room(user(Standing::Member), SendMessage, None, OPEN), Ok(()));
    for standing in [Standing::Owner, Standing::Admin, Standing::Member] {
        let muted = Caller::User(Subject { standing, muted: true, allowlisted: true });
        for flags in [OPEN, MUTED] {
            assert_eq!(authorize_room(muted, SendMessage, None, flags), Err(Muted), "{standing:?}");
        }
    }
    assert_eq!(authorize_room(user(Standing::Outsider), SendMessage, None, OPEN), Err(NotMember));
}

#[test]
fn unlike_a_group_owner_a_room_owner_may_leave_and_anyone_unblocked_may_join() {
    assert_eq!(authorize_room(user(Standing::Owner), Leave, None, OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Outsider), Leave, None, OPEN), Err(NotMember));
    assert_eq!(authorize_room(user(Standing::Outsider), Join, None, OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Owner), Join, None, OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Blocklisted), Join, None, OPEN), Err(CallerBlocklisted));
    assert_eq!(authorize_room(Caller::AppAdmin, Join, None, OPEN), Err(NeedsUser));
}

#[test]
fn outsiders_see_a_rooms_details_but_not_its_content() {
    assert_eq!(authorize_room(user(Standing::Outsider), ReadInfo, None, OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Outsider), ReadContent, None, OPEN), Err(NotMember));
    assert_eq!(authorize_room(user(Standing::Member), ReadContent, None, OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Member), ReadRestrictionLists, None, OPEN), Err(NotOwnerOrAdmin));
    assert_eq!(authorize_room(user(Standing::Blocklisted), ReadInfo, None, OPEN), Err(CallerBlocklisted));
}

#[test]
fn members_keep_to_their_own_attributes_and_managers_may_force() {
    for forced in [false, true] {
        for action in [SetAttributes { forced }, RemoveAttributes { forced }] {
            let member = authorize_room(user(Standing::Member), action, None, OPEN);
            assert_eq!(member, if forced { Err(NotOwnerOrAdmin) } else { Ok(()) }, "{action:?}");
            assert_eq!(authorize_room(user(Standing::Admin), action, None, OPEN), Ok(()), "{action:?}");
            assert_eq!(authorize_room(Caller::AppAdmin, action, None, OPEN), Ok(()), "{action:?}");
        }
    }
}

#[test]
fn mutes_and_allowlist_entries_are_lifted_from_users_who_left() {
    let admin = user(Standing::Admin);
    for action in [Unmute, AllowlistRemove] {
        assert_eq!(authorize_room(admin, action, Some(Standing::Outsider), OPEN), Ok(()), "{action:?}");
        assert_eq!(authorize_room(admin, action, Some(Standing::Admin), OPEN), Err(TargetIsAdmin), "{action:?}");
        assert_eq!(authorize_room(admin, action, Some(Standing::Owner), OPEN), Err(TargetIsOwner), "{action:?}");
    }
    // Imposing them needs the target in the room.
    for action in [Mute, AllowlistAdd, Kick] {
        let got = authorize_room(admin, action, Some(Standing::Outsider), OPEN);
        assert_eq!(got, Err(TargetNotMember), "{action:?}");
    }
}

#[test]
fn the_owner_is_never_blocked_and_the_blocked_are_not_added() {
    for caller in [Caller::AppAdmin, user(Standing::Owner), user(Standing::Admin)] {
        assert_eq!(authorize_room(caller, Block, Some(Standing::Owner), OPEN), Err(TargetIsOwner), "{caller:?}");
        assert_eq!(authorize_room(caller, Block, Some(Standing::Outsider), OPEN), Ok(()), "{caller:?}");
        let added = authorize_room(caller, AddMember, Some(Standing::Blocklisted), OPEN);
        assert_eq!(added, Err(TargetBlocklisted), "{caller:?}");
    }
    assert_eq!(authorize_room(user(Standing::Owner), Block, Some(Standing::Admin), OPEN), Ok(()));
    assert_eq!(authorize_room(user(Standing::Admin), Block, Some(Standing::Admin), OPEN), Err(TargetIsAdmin));
}

#[test]
fn only_the_owner_appoints_admins_and_destroys() {
    for (action, target) in [(AddAdmin, Some(Standing::Member)), (RemoveAdmin, Some(Standing::Admin)), (Destroy, None)]
    {
        assert_eq!(authorize_room(user(Standing::Owner), action, target, OPEN), Ok(()), "{action:?}");
        assert_eq!(authorize_room(Caller::AppAdmin, action, target, OPEN), Ok(()), "{action:?}");
        assert_eq!(authorize_room(user(Standing::Admin), action, target, OPEN), Err(NotOwner), "{action:?}");
        assert_eq!(authorize_room(user(Standing::Outsider), action, target, OPEN), Err(NotMember), "{action:?}");
    }
}
