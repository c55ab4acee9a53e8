//! What group and chat room REST calls share, written once and routed once per venue
//! (`members::admins::<Group>`, `members::admins::<Room>`): members, admins, the blocklist,
//! mutes, mute-all, the allowlist, the announcement, details and a user's venues
//! (agora-chat-api.md §2 rows 2, 8 and 10–29; §3 rows 6, 7, 10 and 15–22).
//!
//! A venue is a group or a chat room. What tells them apart is data of the venue,
//! [`RestVenue`]: its names on the wire (path, not-found error, the noun its errors use), the
//! keys and shapes of its replies, and calls into its own service (`services::groups`,
//! `services::rooms`) and store. What those services spell alike (loading a scene and making a
//! change, a scene's reads, a decision, the rules' actions, an event, a mutation) is reached
//! through [`VenueService`] and [`VenueScene`], implemented for both venues by one macro,
//! [`venue_service!`].
//!
//! Handlers here read and change a venue only through these traits; they never call the store.

pub(crate) mod info;
pub(crate) mod input;
pub(crate) mod members;
pub(crate) mod restrictions;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use qun_core::UserName;
use qun_core::limits::DETAILS_MAX_IDS;
use qun_proto::rest::venue::{Affiliation, MemberResult, Usernames};
use qun_proto::{ApiError, ErrorCode};
use qun_store::MemberPage;
use serde::Serialize;

use crate::http::{Ctx, HttpError};
use crate::rest::paging::Page;
use crate::services::parse_user;
use crate::services::user_not_found;
use crate::state::AppState;

/// A venue's service as the REST layer reaches it: its id, a look at it, a change of it.
/// `services::groups` and `services::rooms` spell these alike, so [`venue_service!`]
/// implements this for `groups::Group` and `rooms::Room`.
pub(crate) trait VenueService: Sized + Send + Sync + 'static {
    /// `GroupId` or `RoomId`.
    type Id: Copy + fmt::Display + Send + Sync + 'static;
    /// The venue's snapshot to decide on (`services::groups::Scene`, `services::rooms::RoomScene`).
    type Scene: VenueScene;

    /// Parses an id; one that does not parse is the venue's own not-found error.
    fn parse_id(raw: &str) -> Result<Self::Id, ApiError>;

    /// A read-only look at the venue for the caller and `users`.
    fn scene(call: &VenueCall<Self>, users: &[UserName])
    -> impl Future<Output = Result<Self::Scene, HttpError>> + Send;

    /// The venue's read–decide–commit path (`users`: whom `decide` looks at besides the
    /// caller); the decision's output.
    fn change<T: Send>(
        call: &VenueCall<Self>,
        users: &[UserName],
        decide: impl Fn(&Self::Scene) -> Result<DecisionOf<Self, T>, ApiError> + Send + Sync,
    ) -> impl Future<Output = Result<T, HttpError>> + Send;
}

/// A group or a chat room as the REST layer sees it (see the module docs): its names on the
/// wire, its reads, its own ways to add, kick and block, and its reply shapes. Implemented by
/// `groups::Group` and `rooms::Room`.
pub(crate) trait RestVenue: VenueService {
    /// The first path segment of the venue's calls (`chatgroups`, `chatrooms`).
    const COLLECTION: &'static str;
    /// The route's path parameter holding the id (`{group}`, `{room}`).
    const ID_PARAM: &'static str;
    /// How errors name the venue ("group", "chatroom").
    const NOUN: &'static str;

    // ---------------------------------------------------------------- reading

    /// The users on one of the venue's lists.
    fn names(call: &VenueCall<Self>, list: VenueList) -> impl Future<Output = Result<Vec<UserName>, HttpError>> + Send;

    /// The mutes in force at `now_ms` (user, until ms; `i64::MAX` for ever).
    fn mutes(
        call: &VenueCall<Self>,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<(UserName, i64)>, HttpError>> + Send;

    /// The member list's page size in `limit`/`cursor` mode and in `pagenum`/`pagesize` mode.
    const MEMBERS_LIMIT: u32;
    const MEMBERS_PAGE_SIZE: u32;

    /// Whether the member list is asked for by `limit`/`cursor` rather than by pages.
    fn member_cursor_mode(ctx: &Ctx) -> bool;

    /// A page of the members as affiliations, each with its join order (the cursor).
    fn member_page(
        call: &VenueCall<Self>,
        scene: &Self::Scene,
        page: MemberPage,
    ) -> impl Future<Output = Result<MemberRows, HttpError>> + Send;

    /// One of a user's venues, as `GET /users/{u}/joined_{venues}` lists it.
    type Joined: Serialize + Send + 'static;
    /// That list's page size, by default and at most, when it asks for pages.
    const JOINED_PAGE_SIZE: (u32, u32);

    /// The venues of the call's user on `page`, newest joined first, and how many there are
    /// when the reply shows it.
    fn joined(call: &UserCall, page: Page) -> impl Future<Output = Result<Counted<Self::Joined>, HttpError>> + Send;

    /// One venue of `GET /{venues}/{ids}`.
    type Details: Serialize + Send + 'static;

    /// One venue's details, if the caller may read them.
    fn details(
        state: &AppState,
        ctx: &Ctx,
        id: Self::Id,
    ) -> impl Future<Output = Result<Self::Details, HttpError>> + Send;

    // ---------------------------------------------------------------- changing

    /// Adds `user` directly, once the rules allowed it.
    fn add(scene: &Self::Scene, state: &AppState, decision: &mut BatchDecision<Self>, user: &UserName) -> UserOutcome;

    /// Takes `user` out, once the rules allowed it.
    fn kick(scene: &Self::Scene, decision: &mut BatchDecision<Self>, user: &UserName) -> UserOutcome;

    /// Users one removal call may name.
    const REMOVE_MAX: usize;

    /// Blocks `user` (out of the venue and kept out), once the rules allowed it.
    fn block(scene: &Self::Scene, decision: &mut BatchDecision<Self>, user: &UserName) -> UserOutcome;

    // ---------------------------------------------------------------- replies

    /// The key naming the venue in per-user outcomes of blocklist and allowlist calls.
    type ListKey: Serialize + Send + 'static;

    fn list_key(id: Self::Id) -> Self::ListKey;

    /// One user's outcome of adding or removing members.
    type MemberOutcome: Serialize + Send + 'static;

    /// `user`'s outcome of `action` (`add_member`, `remove_member`): done, or refused for `refusal`.
    fn member_outcome(id: Self::Id, action: &str, user: &UserName, refusal: Option<String>) -> Self::MemberOutcome;

    /// The reply to adding members named in a body.
    type MembersAdded: Serialize + Send + 'static;

    fn members_added(id: Self::Id, added: Vec<String>) -> Self::MembersAdded;
}

/// Items of a list and, when the reply shows it, how many there are in all.
pub(crate) type Counted<T> = (Vec<T>, Option<u64>);

/// A page of members: each one's join order (the cursor) and affiliation.
pub(crate) type MemberRows = Vec<(i64, Affiliation)>;

/// The decision of a batch call of venue `V`.
pub(crate) type BatchDecision<V> = DecisionOf<V, BatchResults>;

/// A venue's decision with output `T` (`services::groups::Decision`, `services::rooms::RoomDecision`).
pub(crate) type DecisionOf<V, T> = <<V as VenueService>::Scene as VenueScene>::Decision<T>;

/// What the shared handlers read from a venue's scene and how they record a change;
/// `services::groups::Scene` and `services::rooms::RoomScene` spell it alike, so
/// [`venue_service!`] implements it for both.
pub(crate) trait VenueScene: Send + Sync + 'static {
    type Decision<T: Send>: Send;
    /// The venue's settings (`GroupSettings`, `RoomSettings`).
    type Settings;

    /// Asks the venue's rules; a denial is the error the client sees.
    fn authorize(&self, action: VenueAction, target: Option<&UserName>) -> Result<(), ApiError>;
    fn user_exists(&self, user: &UserName) -> bool;
    /// 404 for a user the app does not have.
    fn require_exists(&self, user: &UserName) -> Result<(), ApiError>;
    fn user_muted(&self, user: &UserName) -> bool;
    fn user_allowlisted(&self, user: &UserName) -> bool;
    fn caller_name(&self) -> Option<&UserName>;
    fn admin_count(&self) -> u32;
    fn mute_all(&self) -> bool;
    fn announcement(&self) -> &str;
    fn now_ms(&self) -> i64;

    /// A decision that changes nothing yet and answers `output`.
    fn decision<T: Send>(output: T) -> Self::Decision<T>;
    fn output<T: Send>(decision: &mut Self::Decision<T>) -> &mut T;
    /// Adds `change`'s mutation to `decision`, and its event, from the caller.
    fn record<T: Send>(&self, decision: &mut Self::Decision<T>, change: VenueChange);
    /// Records new settings (and `updateInfo`), unless they are the ones the venue has.
    fn update_settings<T: Send>(&self, decision: &mut Self::Decision<T>, settings: Self::Settings);
}

/// The rules' actions the shared handlers ask about; groups and rooms name them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VenueAction {
    ReadContent,
    ReadRestrictionLists,
    UpdateAnnouncement,
    AddMember,
    Kick,
    AddAdmin,
    RemoveAdmin,
    Block,
    Unblock,
    Mute,
    Unmute,
    MuteAll,
    UnmuteAll,
    AllowlistAdd,
    AllowlistRemove,
}

/// A change groups and rooms make alike: one mutation and the event that tells of it.
#[derive(Debug)]
pub(crate) enum VenueChange {
    Admin {
        user: UserName,
        admin: bool,
    },
    Unblock {
        user: UserName,
    },
    /// `until_ms`: `i64::MAX` for ever; the event carries the duration asked (-1: for ever).
    Mute {
        user: UserName,
        until_ms: i64,
        duration_ms: i64,
    },
    Unmute {
        user: UserName,
    },
    Allowlist {
        user: UserName,
        allowlisted: bool,
    },
    MuteAll {
        on: bool,
    },
    /// An empty text deletes the announcement.
    Announcement {
        text: String,
    },
}

impl VenueChange {
    /// Whom the event is about.
    pub(crate) fn subjects(&self) -> Vec<UserName> {
        match self {
            VenueChange::Admin { user, .. }
            | VenueChange::Unblock { user }
            | VenueChange::Mute { user, .. }
            | VenueChange::Unmute { user }
            | VenueChange::Allowlist { user, .. } => vec![user.clone()],
            VenueChange::MuteAll { .. } | VenueChange::Announcement { .. } => Vec::new(),
        }
    }

    /// The event's `reason`: a mute's duration, the announcement's text.
    pub(crate) fn reason(&self) -> String {
        match self {
            VenueChange::Mute { duration_ms, .. } => duration_ms.to_string(),
            VenueChange::Announcement { text } => text.clone(),
            _ => String::new(),
        }
    }
}

/// Implements [`VenueService`] for a venue, and [`VenueScene`] (and the conversion of
/// [`VenueAction`]) for its scene, from the names its service gives them: the id type; the
/// functions that parse an id, load a scene and make a change (with `.0` when the change
/// answers `(output, applied)`); the scene, its record accessor and its decision, event,
/// mutation, operation, action and settings types. What the two services spell differently is
/// given as closures: `set_admin` (user, admin → mutation) and `allowlisted` (scene, user →
/// bool).
macro_rules! venue_service {
    (
        $venue:ident {
            id: $id:ident,
            parse: $parse:ident,
            load: $load:ident,
            change: $change:ident $(. $output:tt)?,
            scene: $scene:ident,
            record: $record:ident,
            decision: $decision:ident,
            event: $event:ident,
            mutation: $mutation:ident,
            operation: $operation:ident,
            action: $action:ident,
            settings: $settings:ident,
            set_admin: $set_admin:expr,
            allowlisted: $allowlisted:expr $(,)?
        }
    ) => {
        impl $crate::rest::venue::VenueService for $venue {
            type Id = $id;
            type Scene = $scene;

            fn parse_id(raw: &str) -> Result<$id, ::qun_proto::ApiError> {
                $parse(raw)
            }

            async fn scene(
                call: &$crate::rest::venue::VenueCall<Self>,
                users: &[::qun_core::UserName],
            ) -> Result<$scene, $crate::http::HttpError> {
                Ok($load(&call.state, &call.ctx.app, call.ctx.caller()?, call.id, users).await?)
            }

            async fn change<T: Send>(
                call: &$crate::rest::venue::VenueCall<Self>,
                users: &[::qun_core::UserName],
                decide: impl Fn(&$scene) -> Result<$decision<T>, ::qun_proto::ApiError> + Send + Sync,
            ) -> Result<T, $crate::http::HttpError> {
                let (state, app, caller) = (&call.state, &call.ctx.app, call.ctx.caller()?);
                Ok($change(state, app, caller, call.id, users, decide).await? $(. $output)?)
            }
        }

        impl From<$crate::rest::venue::VenueAction> for $action {
            fn from(action: $crate::rest::venue::VenueAction) -> Self {
                use $crate::rest::venue::VenueAction as Shared;
                match action {
                    Shared::ReadContent => $action::ReadContent,
                    Shared::ReadRestrictionLists => $action::ReadRestrictionLists,
                    Shared::UpdateAnnouncement => $action::UpdateAnnouncement,
                    Shared::AddMember => $action::AddMember,
                    Shared::Kick => $action::Kick,
                    Shared::AddAdmin => $action::AddAdmin,
                    Shared::RemoveAdmin => $action::RemoveAdmin,
                    Shared::Block => $action::Block,
                    Shared::Unblock => $action::Unblock,
                    Shared::Mute => $action::Mute,
                    Shared::Unmute => $action::Unmute,
                    Shared::MuteAll => $action::MuteAll,
                    Shared::UnmuteAll => $action::UnmuteAll,
                    Shared::AllowlistAdd => $action::AllowlistAdd,
                    Shared::AllowlistRemove => $action::AllowlistRemove,
                }
            }
        }

        impl $crate::rest::venue::VenueScene for $scene {
            type Decision<T: Send> = $decision<T>;
            type Settings = $settings;

            fn authorize(
                &self,
                action: $crate::rest::venue::VenueAction,
                target: Option<&::qun_core::UserName>,
            ) -> Result<(), ::qun_proto::ApiError> {
                $scene::authorize(self, action.into(), target)
            }

            fn user_exists(&self, user: &::qun_core::UserName) -> bool {
                self.user(user).exists
            }

            fn require_exists(&self, user: &::qun_core::UserName) -> Result<(), ::qun_proto::ApiError> {
                $scene::require_exists(self, user)
            }

            fn user_muted(&self, user: &::qun_core::UserName) -> bool {
                self.user(user).muted(self.now_ms)
            }

            fn user_allowlisted(&self, user: &::qun_core::UserName) -> bool {
                ($allowlisted)(self, user)
            }

            fn caller_name(&self) -> Option<&::qun_core::UserName> {
                $scene::caller_name(self)
            }

            fn admin_count(&self) -> u32 {
                self.$record().admin_count
            }

            fn mute_all(&self) -> bool {
                self.$record().mute_all
            }

            fn announcement(&self) -> &str {
                &self.$record().announcement
            }

            fn now_ms(&self) -> i64 {
                self.now_ms
            }

            fn decision<T: Send>(output: T) -> $decision<T> {
                $decision::new(output)
            }

            fn output<T: Send>(decision: &mut $decision<T>) -> &mut T {
                &mut decision.output
            }

            fn record<T: Send>(&self, decision: &mut $decision<T>, change: $crate::rest::venue::VenueChange) {
                use $crate::rest::venue::VenueChange as Change;
                let (subjects, reason) = (change.subjects(), change.reason());
                let (mutation, operation) = match change {
                    Change::Admin { user, admin } => {
                        (($set_admin)(user, admin), if admin { $operation::AddAdmin } else { $operation::RemoveAdmin })
                    }
                    Change::Unblock { user } => ($mutation::Unblocklist { user }, $operation::Allow),
                    Change::Mute { user, until_ms, .. } => {
                        ($mutation::SetMute { user, until_ms: Some(until_ms) }, $operation::AddMute)
                    }
                    Change::Unmute { user } => ($mutation::SetMute { user, until_ms: None }, $operation::RemoveMute),
                    Change::Allowlist { user, allowlisted } => {
                        let operation =
                            if allowlisted { $operation::AddUserWhiteList } else { $operation::RemoveUserWhiteList };
                        ($mutation::SetAllowlisted { user, allowlisted }, operation)
                    }
                    Change::MuteAll { on } => {
                        ($mutation::SetMuteAll(on), if on { $operation::BanGroup } else { $operation::RemoveBanGroup })
                    }
                    Change::Announcement { text } => {
                        let operation = if text.is_empty() {
                            $operation::DeleteAnnouncement
                        } else {
                            $operation::UpdateAnnouncement
                        };
                        ($mutation::SetAnnouncement(text), operation)
                    }
                };
                decision.mutations.push(mutation);
                decision.events.push($event::new(operation, self.actor_label(), subjects).reason(reason));
            }

            fn update_settings<T: Send>(&self, decision: &mut $decision<T>, settings: $settings) {
                if settings != self.$record().settings {
                    decision.mutations.push($mutation::UpdateSettings(settings));
                    decision.events.push($event::new($operation::Update, self.actor_label(), Vec::new()));
                }
            }
        }
    };
}
pub(crate) use venue_service;

/// The lists of users a venue keeps apart from its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VenueList {
    Admins,
    Blocklist,
    Allowlist,
}

impl VenueList {
    /// Admins are for members to read; the blocklist and allowlist for the owner and admins.
    fn read_action(self) -> VenueAction {
        match self {
            VenueList::Admins => VenueAction::ReadContent,
            VenueList::Blocklist | VenueList::Allowlist => VenueAction::ReadRestrictionLists,
        }
    }
}

// ------------------------------------------------------------------------ the path

/// One call on one venue: the server's state, the request's context (app, caller, query) and
/// the venue the route's `{group}` or `{room}` names. As an extractor it checks the token
/// first (see `Ctx`), then parses the id, answering one that does not parse with the venue's
/// own not-found error before the handler runs.
pub(crate) struct VenueCall<V: VenueService> {
    pub(crate) state: AppState,
    pub(crate) ctx: Ctx,
    pub(crate) id: V::Id,
}

impl<V: RestVenue> FromRequestParts<AppState> for VenueCall<V> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let raw = path_param(parts, state, &[V::ID_PARAM]).await?;
        let id = V::parse_id(&raw).map_err(|error| HttpError(error).into_response())?;
        Ok(VenueCall { state: state.clone(), ctx, id })
    }
}

impl<V: RestVenue> VenueCall<V> {
    /// The venue's scene, once the caller may do `action` (a read) in it.
    pub(crate) async fn readable(&self, action: VenueAction) -> Result<V::Scene, HttpError> {
        let scene = V::scene(self, &[]).await?;
        scene.authorize(action, None)?;
        Ok(scene)
    }

    /// A list of names (admins, blocklist, allowlist), once the caller may read it.
    pub(crate) async fn listed_users(&self, list: VenueList) -> Result<Response, HttpError> {
        self.readable(list.read_action()).await?;
        let names = V::names(self, list).await?;
        Ok(self.ctx.counted(names.into_iter().map(String::from).collect::<Vec<_>>()))
    }

    /// Runs a call that names users by their one rule (see "batch calls" below): `apply`
    /// decides one user who exists in the app (and pushes nothing for one it refuses).
    pub(crate) async fn batch(
        &self,
        users: &[UserName],
        apply: impl Fn(&V::Scene, &mut BatchDecision<V>, &UserName) -> UserOutcome + Send + Sync,
    ) -> Result<BatchResults, HttpError> {
        V::change(self, users, |scene| {
            let mut decision = V::Scene::decision(Vec::with_capacity(users.len()));
            for user in users {
                let outcome =
                    if scene.user_exists(user) { apply(scene, &mut decision, user) } else { Err(user_not_found(user)) };
                match outcome {
                    Err(refusal) if users.len() == 1 => return Err(refusal),
                    outcome => V::Scene::output(&mut decision).push((user.clone(), outcome.map_err(|e| e.description))),
                }
            }
            Ok(decision)
        })
        .await
    }

    /// A batch call whose every user is one [`VenueChange`] (`change` of the user) once the rules
    /// allow `action` on them.
    pub(crate) async fn record_each(
        &self,
        users: &[UserName],
        action: VenueAction,
        change: impl Fn(UserName) -> VenueChange + Send + Sync,
    ) -> Result<BatchResults, HttpError> {
        self.batch(users, |scene, decision, user| {
            scene.authorize(action, Some(user))?;
            scene.record(decision, change(user.clone()));
            Ok(0)
        })
        .await
    }

    /// Per-user outcomes of a blocklist or allowlist call, under the venue's key; one object
    /// when the path named one user.
    pub(crate) fn list_outcomes(&self, action: &str, results: BatchResults, one: bool) -> Response {
        let outcomes: Vec<MemberResult<V::ListKey>> = results
            .into_iter()
            .map(|(user, outcome)| MemberResult {
                result: outcome.is_ok(),
                action: Some(action.to_owned()),
                user: user.to_string(),
                venue: Some(V::list_key(self.id)),
                reason: outcome.err(),
                expire: None,
            })
            .collect();
        one_or_many(&self.ctx, outcomes, one)
    }
}

/// One call about one user (`/users/{u}/…`, `/chatgroups/user/{u}`): the server's state, the
/// request's context and the user the path names, who must be the caller, unless the caller
/// is the app.
pub(crate) struct UserCall {
    pub(crate) state: AppState,
    pub(crate) ctx: Ctx,
    pub(crate) user: UserName,
}

impl FromRequestParts<AppState> for UserCall {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let raw = path_param(parts, state, &["user"]).await?;
        let user = input::self_or_app(&ctx, &raw).map_err(IntoResponse::into_response)?;
        Ok(UserCall { state: state.clone(), ctx, user })
    }
}

/// `GET /{venues}/{ids}`'s ids: 1 to 100, comma-separated.
#[derive(Debug, Clone)]
pub(crate) struct VenueIds<V: RestVenue>(pub(crate) Vec<V::Id>);

impl<V: RestVenue, S: Send + Sync> FromRequestParts<S> for VenueIds<V> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let raw = path_param(parts, state, &[V::ID_PARAM]).await?;
        let ids: Vec<V::Id> = raw
            .split(',')
            .filter(|id| !id.is_empty())
            .map(V::parse_id)
            .collect::<Result<_, _>>()
            .map_err(|error| HttpError(error).into_response())?;
        if ids.is_empty() || ids.len() > DETAILS_MAX_IDS {
            let text = format!("ask for 1 to {DETAILS_MAX_IDS} {} ids", V::NOUN);
            return Err(HttpError::new(ErrorCode::IllegalArgument, text).into_response());
        }
        Ok(VenueIds(ids))
    }
}

/// The user segment of `…/{user}` and `…/{users}` routes: one name, or a comma-separated list.
#[derive(Debug, Clone)]
pub(crate) struct UserSegment(pub(crate) String);

impl UserSegment {
    /// Whether the path names one user, as Agora's single-user calls do (their replies are one
    /// object; a list's are a list).
    pub(crate) fn names_one(&self) -> bool {
        !self.0.contains(',')
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserSegment {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        path_param(parts, state, &["user", "users"]).await.map(UserSegment)
    }
}

/// The first of `names` among the route's path parameters, percent-decoded.
async fn path_param<S: Send + Sync>(parts: &mut Parts, state: &S, names: &[&str]) -> Result<String, Response> {
    let Path(mut params) =
        Path::<HashMap<String, String>>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    names.iter().find_map(|name| params.remove(*name)).ok_or_else(|| {
        tracing::error!(parameters = ?names, "route without the path parameter its handler reads");
        HttpError::new(ErrorCode::Internal, "internal error").into_response()
    })
}

// ------------------------------------------------------------------------ batch calls
//
// The one rule for calls that name users (Agora's single- and batch-call replies,
// agora-chat-api.md §2 rows 11–28 and §3 rows 16–21):
// - a call names 1 to its maximum of users (60; 100 to take users out of a room), in the path
//   (`a,b`) or in a body's `usernames`; a name given twice counts once;
// - none, or more than the maximum, refuses the whole call with 400 `illegal_argument` (nothing
//   changes); a body without `usernames` is 400 `invalid_parameter`;
// - each user is decided on their own, and the allowed ones commit together; a refused user is
//   reported in their own outcome (`result: false` and the refusal's text as `reason`);
// - but a call that names one user is answered as Agora's single-user calls are: a refusal is
//   the answer itself (its status and error), and nothing changes.
// `path_users` and `body_users` read the names, `VenueCall::batch` decides them.

/// One user's outcome in a batch call, as decided: a value (a mute's expiry, or 0) or the
/// refusal.
pub(crate) type UserOutcome = Result<i64, ApiError>;

/// Per-user outcomes of a batch call, as answered: a value or the refusal's text.
pub(crate) type BatchResults = Vec<(UserName, Result<i64, String>)>;

/// The users of a comma-separated path segment: 1 to `max`, a name given twice counted once.
pub(crate) fn path_users(raw: &str, max: usize) -> Result<Vec<UserName>, HttpError> {
    let names: Vec<UserName> =
        raw.split(',').filter(|s| !s.trim().is_empty()).map(parse_user).collect::<Result<_, _>>()?;
    if names.is_empty() || names.len() > max {
        return Err(HttpError::new(ErrorCode::IllegalArgument, format!("name 1 to {max} users")));
    }
    let mut seen = HashSet::new();
    Ok(names.into_iter().filter(|name| seen.insert(name.clone())).collect())
}

/// The `usernames` of a body, by the same rule as [`path_users`].
pub(crate) fn body_users(body: Usernames, max: usize) -> Result<Vec<UserName>, HttpError> {
    path_users(&input::required("usernames", body.usernames)?.join(","), max)
}

/// The reply to a call that named users: one object when the path named one user, a list
/// otherwise.
pub(crate) fn one_or_many<T: Serialize>(ctx: &Ctx, mut replies: Vec<T>, one: bool) -> Response {
    if one && replies.len() == 1 { ctx.data(replies.remove(0)) } else { ctx.data(replies) }
}
