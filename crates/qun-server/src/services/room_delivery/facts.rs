//! What the send path needs to know about a room besides who is in it: owner, admins,
//! allowlist, mutes, mute-all and the delivery settings; read from the store once and kept
//! until a committed change of the room says otherwise (`RoomRuntime::committed`), so a send
//! reads nothing from the database.
//!
//! A load races with changes: the room's facts generation is noted before reading, and what
//! was read is kept only if no change came in meanwhile (it still answers the send that asked).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use qun_core::UserName;
use qun_proto::ApiError;

use super::live::LiveRoom;
use crate::ids::now_ms;
use crate::services::Services;
use crate::services::rooms::room_not_found;
use crate::services::store_error;

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct RoomFacts {
    pub(crate) owner: UserName,
    pub(crate) admins: HashSet<UserName>,
    pub(crate) allowlist: HashSet<UserName>,
    /// Mute expiries, ms since the epoch (possibly past: compare with the time of the send).
    pub(crate) mutes: HashMap<UserName, i64>,
    pub(crate) mute_all: bool,
}

impl RoomFacts {
    pub(crate) fn muted(&self, user: &UserName, now_ms: i64) -> bool {
        self.mutes.get(user).is_some_and(|until| *until > now_ms)
    }

    /// Owner, admin or allowlisted: their messages are high priority.
    pub(crate) fn privileged(&self, user: &UserName) -> bool {
        &self.owner == user || self.admins.contains(user) || self.allowlist.contains(user)
    }
}

impl LiveRoom {
    /// The room's facts, read from the store if they are not known.
    pub(crate) async fn facts(&self, state: &Services) -> Result<Arc<RoomFacts>, ApiError> {
        if let Some(facts) = self.facts.read().clone() {
            return Ok(facts);
        }
        let _loading = self.facts_loading.lock().await;
        if let Some(facts) = self.facts.read().clone() {
            return Ok(facts);
        }
        let generation = self.facts_generation.load(Ordering::Acquire);
        let store = &state.store;
        let (app_id, room_id) = (self.app_id, self.room_id);
        let room = store
            .rooms(app_id, &[room_id])
            .await
            .map_err(store_error)?
            .into_iter()
            .next()
            .ok_or_else(|| room_not_found(room_id))?;
        let admins = store.room_admins(app_id, room_id).await.map_err(store_error)?;
        let allowlist = store.room_allowlist(app_id, room_id).await.map_err(store_error)?;
        let mutes = store.room_mute_list(app_id, room_id, now_ms() as i64).await.map_err(store_error)?;
        let facts = Arc::new(RoomFacts {
            owner: room.owner.clone(),
            admins: admins.into_iter().collect(),
            allowlist: allowlist.into_iter().collect(),
            mutes: mutes.into_iter().collect(),
            mute_all: room.mute_all,
        });
        let mut slot = self.facts.write();
        if self.facts_generation.load(Ordering::Acquire) == generation {
            *slot = Some(facts.clone());
            drop(slot);
            self.set_overrides(room.delivery);
        }
        Ok(facts)
    }

    /// A committed change may have changed the facts: read them again at the next send.
    pub(crate) fn invalidate_facts(&self) {
        let mut slot = self.facts.write();
        self.facts_generation.fetch_add(1, Ordering::AcqRel);
        *slot = None;
    }
}
