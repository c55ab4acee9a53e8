//! What groups and chat rooms share in the services, written once: the scene a decision is
//! made on ([`Scene`]), the decision ([`Decision`]) and the change path ([`change`]: read →
//! decide → commit guarded by the venue's `version`, re-deciding on a conflict). Each venue
//! ([`GroupVenue`] in `groups.rs`, [`RoomVenue`] in `rooms.rs`) supplies what differs: how its
//! snapshot is read, and what a commit stores and tells (group events are stored and hinted;
//! room events go to the room runtime).

use std::borrow::Cow;

use qun_core::rules::{self, Subject};
use qun_core::{Standing, UserName};
use qun_proto::ApiError;
use qun_store::{AppRecord, UserInGroup, UserInRoom};

use crate::services::{Caller, Services, VenueKind};

/// How often a change is re-decided after losing a race with another change of the venue.
const MAX_ATTEMPTS: usize = 8;

/// One user as a venue's snapshot has them, for the rules.
pub trait Participant: Clone {
    /// A user the snapshot was not asked for (see [`Scene::user`]).
    fn absent(name: &UserName) -> Self;
    /// The user exists in the app.
    fn exists(&self) -> bool;
    fn standing(&self) -> Standing;
    fn muted(&self, now_ms: i64) -> bool;
    fn allowlisted(&self) -> bool;
}

/// A group or a chat room, as the shared change path sees it.
pub trait Venue: Sized + 'static {
    const KIND: VenueKind;
    type Id: Copy + std::fmt::Display + Send + Sync;
    /// The venue and the users asked for, read in one go.
    type Snapshot: std::fmt::Debug + Send + Sync;
    type User: Participant + std::fmt::Debug + Send + Sync;
    type Mutation: std::fmt::Debug + Send + Sync;
    /// An event a decision plans (its receivers are resolved at the commit).
    type Event: std::fmt::Debug + Send + Sync;
    /// What a commit answers.
    type Applied: Send;

    /// What `mutation` does to the member count.
    fn count_change(mutation: &Self::Mutation) -> CountChange;
    fn snapshot_user<'s>(snapshot: &'s Self::Snapshot, name: &UserName) -> Option<&'s Self::User>;
    fn version(snapshot: &Self::Snapshot) -> i64;
    fn not_found(id: Self::Id) -> ApiError;
    /// What a decision that changes nothing answers.
    fn unchanged(scene: &Scene<Self>) -> Self::Applied;
    /// The venue's version now (`None`: it does not exist).
    fn current_version(
        state: &Services,
        app: &AppRecord,
        id: Self::Id,
    ) -> impl Future<Output = Result<Option<i64>, ApiError>>;
    /// Reads what a change decides on.
    fn load_for_change(
        state: &Services,
        app: &AppRecord,
        caller: &Caller,
        id: Self::Id,
        users: &[UserName],
    ) -> impl Future<Output = Result<Scene<Self>, ApiError>>;
    /// Commits `decision` if the venue is still at the scene's version, tells whom it
    /// concerns, and gives back the decision's output. `Ok(None)`: the venue changed
    /// meanwhile; decide again.
    fn commit<T>(
        state: &Services,
        app: &AppRecord,
        scene: &Scene<Self>,
        decision: Decision<Self, T>,
    ) -> impl Future<Output = Result<Option<(T, Self::Applied)>, ApiError>>;
}

/// What a mutation does to a venue's member count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountChange {
    Joined,
    Left,
    /// The venue is gone (dissolved, destroyed).
    Emptied,
    Same,
}

/// The member count once `mutations` are applied to a venue of `before` members (events
/// carry it).
pub fn member_count_after<V: Venue>(before: u32, mutations: &[V::Mutation]) -> u32 {
    mutations
        .iter()
        .fold(i64::from(before), |count, mutation| match V::count_change(mutation) {
            CountChange::Joined => count + 1,
            CountChange::Left => count - 1,
            CountChange::Emptied => 0,
            CountChange::Same => count,
        })
        .max(0) as u32
}

/// What the rules and the event receivers need to know about the venue right now.
pub struct Scene<V: Venue> {
    pub snapshot: V::Snapshot,
    /// The group's owner and admins, loaded by group changes (they receive many events);
    /// empty for reads and for rooms.
    pub managers: Vec<UserName>,
    pub now_ms: i64,
    pub(crate) caller: Caller,
}

impl<V: Venue> std::fmt::Debug for Scene<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scene").field("snapshot", &self.snapshot).field("caller", &self.caller).finish()
    }
}

impl<V: Venue> Scene<V> {
    pub fn new(snapshot: V::Snapshot, now_ms: i64, caller: &Caller) -> Scene<V> {
        Scene { snapshot, managers: Vec::new(), now_ms, caller: caller.clone() }
    }

    pub fn version(&self) -> i64 {
        V::version(&self.snapshot)
    }

    /// The user in the snapshot. Every operation asks for the users it names; one that was
    /// not asked for is a bug, and reads as a user who does not exist and stands outside (so
    /// it is refused, never allowed), rather than failing the request.
    pub fn user(&self, name: &UserName) -> Cow<'_, V::User> {
        match V::snapshot_user(&self.snapshot, name) {
            Some(user) => Cow::Borrowed(user),
            None => {
                tracing::error!(user = %name, "a decision looked at a user its snapshot was not asked for");
                debug_assert!(false, "user {name} is not in the snapshot");
                Cow::Owned(V::User::absent(name))
            }
        }
    }

    pub fn standing(&self, name: &UserName) -> Standing {
        self.user(name).standing()
    }

    pub fn caller_name(&self) -> Option<&UserName> {
        match &self.caller {
            Caller::AppAdmin => None,
            Caller::User(name) => Some(name),
        }
    }

    /// The name events carry as `from` for the caller ("admin" for the app administrator).
    pub fn actor_label(&self) -> String {
        self.caller_name().map(|n| n.to_string()).unwrap_or_else(|| "admin".to_owned())
    }

    pub fn rules_caller(&self) -> rules::Caller {
        match &self.caller {
            Caller::AppAdmin => rules::Caller::AppAdmin,
            Caller::User(name) => {
                let user = self.user(name);
                rules::Caller::User(Subject {
                    standing: user.standing(),
                    muted: user.muted(self.now_ms),
                    allowlisted: user.allowlisted(),
                })
            }
        }
    }

    /// 404 for users that do not exist in the app.
    pub fn require_exists(&self, name: &UserName) -> Result<(), ApiError> {
        if self.user(name).exists() { Ok(()) } else { Err(crate::services::user_not_found(name)) }
    }
}

/// What a decision produced: the mutations, the events and the operation's own answer.
pub struct Decision<V: Venue, T> {
    pub mutations: Vec<V::Mutation>,
    pub events: Vec<V::Event>,
    pub output: T,
}

impl<V: Venue, T: std::fmt::Debug> std::fmt::Debug for Decision<V, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decision")
            .field("mutations", &self.mutations)
            .field("events", &self.events)
            .field("output", &self.output)
            .finish()
    }
}

impl<V: Venue, T> Decision<V, T> {
    pub fn new(output: T) -> Self {
        Decision { mutations: Vec::new(), events: Vec::new(), output }
    }

    fn changes_nothing(&self) -> bool {
        self.mutations.is_empty() && self.events.is_empty()
    }
}

/// Reads, decides and commits one operation on a venue (see the module docs).
///
/// `users` are the users `decide` will look at besides the caller.
pub async fn change<V: Venue, T>(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    id: V::Id,
    users: &[UserName],
    decide: impl Fn(&Scene<V>) -> Result<Decision<V, T>, ApiError>,
) -> Result<(T, V::Applied), ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let scene = V::load_for_change(state, app, caller, id, users).await?;
        let decision = decide(&scene)?;
        if decision.changes_nothing() {
            return Ok((decision.output, V::unchanged(&scene)));
        }
        if let Some(committed) = V::commit(state, app, &scene, decision).await? {
            return Ok(committed);
        }
    }
    Err(V::KIND.busy())
}

/// [`change`] for decisions that also need facts read from the store outside the venue's
/// snapshot (a pending request, a file's owner, attributes).
///
/// `change` guards only what its snapshot holds. Here the venue's version is noted before the
/// facts are read, and a decision on a snapshot of any other version is dropped (committing
/// nothing) and the whole read is done again. Every change of a venue bumps its version, so a
/// decision is never made on facts older than its snapshot.
pub async fn change_with<V: Venue, Facts, T, FactsRead>(
    state: &Services,
    app: &AppRecord,
    caller: &Caller,
    id: V::Id,
    users: &[UserName],
    read_facts: impl Fn() -> FactsRead,
    decide: impl Fn(&Scene<V>, &Facts) -> Result<Decision<V, T>, ApiError>,
) -> Result<T, ApiError>
where
    FactsRead: Future<Output = Result<Facts, ApiError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        let version_before = V::current_version(state, app, id).await?.ok_or_else(|| V::not_found(id))?;
        let facts = read_facts().await?;
        let (outcome, _) = change(state, app, caller, id, users, |scene: &Scene<V>| {
            if scene.version() != version_before {
                // An empty decision commits nothing; the loop reads the facts again.
                return Ok(Decision::new(None));
            }
            let decision = decide(scene, &facts)?;
            Ok(Decision { mutations: decision.mutations, events: decision.events, output: Some(decision.output) })
        })
        .await?;
        if let Some(output) = outcome {
            return Ok(output);
        }
    }
    Err(V::KIND.busy())
}

impl Participant for UserInGroup {
    fn absent(name: &UserName) -> Self {
        UserInGroup { user: name.clone(), exists: false, membership: None, blocklisted: false }
    }

    fn exists(&self) -> bool {
        self.exists
    }

    fn standing(&self) -> Standing {
        UserInGroup::standing(self)
    }

    fn muted(&self, now_ms: i64) -> bool {
        UserInGroup::muted(self, now_ms)
    }

    fn allowlisted(&self) -> bool {
        UserInGroup::allowlisted(self)
    }
}

impl Participant for UserInRoom {
    fn absent(name: &UserName) -> Self {
        UserInRoom {
            user: name.clone(),
            exists: false,
            owner: false,
            admin: false,
            presence: None,
            blocklisted: false,
            allowlisted: false,
            muted_until_ms: None,
            auto_delete_keys: Vec::new(),
        }
    }

    fn exists(&self) -> bool {
        self.exists
    }

    fn standing(&self) -> Standing {
        UserInRoom::standing(self)
    }

    fn muted(&self, now_ms: i64) -> bool {
        UserInRoom::muted(self, now_ms)
    }

    fn allowlisted(&self) -> bool {
        self.allowlisted
    }
}

#[cfg(test)]
mod tests {
    use qun_core::MemberRole;
    use qun_store::{GroupMutation, MembershipRecord, RoomMutation};

    use super::*;
    use crate::services::groups::GroupVenue;
    use crate::services::rooms::RoomVenue;

    #[test]
    fn member_counts_follow_joins_leaves_and_the_end() {
        let (ann, bob) = (name("ann"), name("bob"));
        let group = |mutations: &[GroupMutation]| member_count_after::<GroupVenue>(3, mutations);
        let join =
            |user: &UserName| GroupMutation::AddMember { user: user.clone(), role: MemberRole::Member, join_order: 1 };
        assert_eq!(group(&[]), 3);
        assert_eq!(group(&[join(&ann), join(&bob), GroupMutation::RemoveMember { user: ann.clone() }]), 4);
        assert_eq!(group(&[GroupMutation::SetShielded { user: ann.clone(), shielded: true }]), 3);
        assert_eq!(group(&[join(&ann), GroupMutation::Dissolve]), 0);
        let room = |before, mutations: &[RoomMutation]| member_count_after::<RoomVenue>(before, mutations);
        assert_eq!(room(1, &[RoomMutation::AddMember { user: ann.clone(), join_order: 1 }]), 2);
        // Never below zero, whatever a stale count says.
        assert_eq!(room(0, &[RoomMutation::RemoveMember { user: bob.clone() }]), 0);
        assert_eq!(room(9, &[RoomMutation::Destroy]), 0);
    }

    fn name(raw: &str) -> UserName {
        UserName::parse(raw).unwrap()
    }

    #[test]
    fn a_user_not_asked_for_stands_outside_and_does_not_exist() {
        let group = UserInGroup::absent(&name("ann"));
        let room = UserInRoom::absent(&name("ann"));
        for (exists, standing, muted, allowlisted) in [
            (
                group.exists(),
                Participant::standing(&group),
                Participant::muted(&group, 0),
                Participant::allowlisted(&group),
            ),
            (
                room.exists(),
                Participant::standing(&room),
                Participant::muted(&room, 0),
                Participant::allowlisted(&room),
            ),
        ] {
            assert_eq!((exists, standing, muted, allowlisted), (false, Standing::Outsider, false, false));
        }
    }

    #[test]
    fn a_group_member_reads_the_same_through_the_shared_view() {
        let member = UserInGroup {
            user: name("bob"),
            exists: true,
            membership: Some(MembershipRecord {
                user: name("bob"),
                role: MemberRole::Admin,
                joined_ms: 0,
                join_order: 1,
                muted_until_ms: Some(10),
                allowlisted: true,
                shielded: false,
                cursor_seq: 0,
            }),
            blocklisted: false,
        };
        assert_eq!(Participant::standing(&member), Standing::Admin);
        assert!(Participant::muted(&member, 9));
        assert!(!Participant::muted(&member, 10));
        assert!(Participant::allowlisted(&member));
    }
}
