//! Contacts (the SDK's roster) and users' blocklists, and the check every 1:1 message passes.
//!
//! A friend request is stored until answered; accepting makes both users contacts of each
//! other. Each step tells the other user with a [`ContactEvent`], stored as their personal item
//! (delivered live and at their next login, like receipts) and shown by the SDK from the msync
//! ROSTER namespace:
//! - `addContact` → the invitee gets ADD (`onContactInvited`, with the message);
//! - accepting → the requester gets REMOTE_ACCEPT (`onContactAgreed`) and ACCEPT
//!   (`onContactAdded`: their contact list changed);
//! - declining → the requester gets REMOTE_DECLINE (`onContactRefuse`);
//! - `deleteContact` → the other side gets REMOVE (`onContactDeleted`); both lose the contact;
//! - the app administrator's add → the added user gets ACCEPT (`onContactAdded`).
//!
//! A blocklist is one way: whoever is on `owner`'s blocklist may not send `owner` 1:1 messages
//! (refused with msync FAIL "blocked", the SDK's PERMISSION_DENIED) nor friend requests; the
//! contact, if any, stays. With the app's `contacts_only_chat` on, a 1:1 message between users
//! who are not contacts is refused (FAIL "nonroster", the SDK's USER_NOT_FRIEND). REST sends by
//! the app administrator pass both checks, as Agora's server-side sends do.

use qun_core::limits::{CONTACT_REQUESTS_MAX, CONTACTS_MAX, USER_BLOCKLIST_MAX};
use qun_core::{ContactChange, ContactEvent, PersonalItem, UserName};
use qun_proto::{ApiError, ErrorCode, NOT_CONTACTS_REMARK};
use qun_store::{AppRecord, ContactRecord, QueueKey};

use crate::ids::now_ms;
use crate::services::{Services, store_error, user_not_found};

/// Refuses a 1:1 message from `sender` to `peer` when the peer is not a user, or the peer's
/// blocklist or the app's contacts-only setting forbids it (one read). Called before the
/// message is stored.
pub async fn check_chat(state: &Services, app: &AppRecord, sender: &UserName, peer: &UserName) -> Result<(), ApiError> {
    let standing = state.store.contact_standing(app.id, sender, peer).await.map_err(store_error)?;
    if !standing.peer_exists {
        return Err(user_not_found(peer));
    }
    if standing.blocked_by_peer {
        return Err(ApiError::new(ErrorCode::Blocked, format!("user {sender} is blocked by user {peer}")));
    }
    // The app's current settings: the caller's record may predate a change.
    let contacts_only = match state.app(&app.org, &app.name).await.map_err(store_error)? {
        Some(current) => current.settings.contacts_only_chat,
        None => app.settings.contacts_only_chat,
    };
    if contacts_only && !standing.contacts {
        return Err(ApiError::new(ErrorCode::NotContact, format!("user {sender} and user {peer} are not contacts")));
    }
    Ok(())
}

/// `requester` asks `target` to be their contact (`addContact`).
pub async fn request(
    state: &Services,
    app_id: i64,
    requester: &UserName,
    target: &UserName,
    reason: &str,
) -> Result<(), ApiError> {
    if requester == target {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "a user cannot add themself as a contact"));
    }
    existing_user(state, app_id, target).await?;
    let standing = state.store.contact_standing(app_id, requester, target).await.map_err(store_error)?;
    if standing.contacts {
        return Err(ApiError::new(ErrorCode::ForbiddenOp, format!("user {target} is already a contact")));
    }
    if standing.blocked_by_peer {
        return Err(ApiError::new(ErrorCode::Blocked, format!("user {requester} is blocked by user {target}")));
    }
    let counts = state.store.contact_counts(app_id, requester).await.map_err(store_error)?;
    if counts.contacts >= CONTACTS_MAX {
        return Err(too_many_contacts(requester));
    }
    if !standing.request_to_peer && counts.requests_sent >= CONTACT_REQUESTS_MAX {
        return Err(ApiError::new(
            ErrorCode::ExceedLimit,
            format!("user {requester} has {CONTACT_REQUESTS_MAX} friend requests waiting for an answer"),
        ));
    }
    let now = now_ms() as i64;
    state.store.put_contact_request(app_id, requester, target, reason, now).await.map_err(store_error)?;
    tell(state, app_id, ContactChange::Invited, requester, target, reason).await
}

/// How a user answers a friend request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Decline,
}

/// `target` answers the request `requester` sent them: accepting makes them contacts of each
/// other (within both sides' limits), declining drops the request; the requester is told.
pub async fn answer(
    state: &Services,
    app_id: i64,
    target: &UserName,
    requester: &UserName,
    answer: Answer,
) -> Result<(), ApiError> {
    match answer {
        Answer::Accept => {
            let standing = state.store.contact_standing(app_id, target, requester).await.map_err(store_error)?;
            if !standing.request_from_peer {
                return Err(no_request(requester, target));
            }
            for user in [target, requester] {
                if state.store.contact_counts(app_id, user).await.map_err(store_error)?.contacts >= CONTACTS_MAX {
                    return Err(too_many_contacts(user));
                }
            }
            state.store.add_contacts(app_id, target, requester, now_ms() as i64).await.map_err(store_error)?;
            tell(state, app_id, ContactChange::Accepted, target, requester, "").await?;
            tell(state, app_id, ContactChange::Added, target, requester, "").await
        }
        Answer::Decline => {
            if !state.store.remove_contact_request(app_id, requester, target).await.map_err(store_error)? {
                return Err(no_request(requester, target));
            }
            tell(state, app_id, ContactChange::Declined, target, requester, "").await
        }
    }
}

/// The app administrator makes `owner` and `contact` contacts of each other, with no request.
pub async fn add(state: &Services, app_id: i64, owner: &UserName, contact: &UserName) -> Result<(), ApiError> {
    if owner == contact {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "a user cannot add themself as a contact"));
    }
    for user in [owner, contact] {
        existing_user(state, app_id, user).await?;
    }
    let standing = state.store.contact_standing(app_id, owner, contact).await.map_err(store_error)?;
    if standing.contacts {
        return Ok(());
    }
    for user in [owner, contact] {
        if state.store.contact_counts(app_id, user).await.map_err(store_error)?.contacts >= CONTACTS_MAX {
            return Err(too_many_contacts(user));
        }
    }
    state.store.add_contacts(app_id, owner, contact, now_ms() as i64).await.map_err(store_error)?;
    tell(state, app_id, ContactChange::Added, owner, contact, "").await
}

/// `owner` ends the contact with `contact` (both sides lose it).
pub async fn remove(state: &Services, app_id: i64, owner: &UserName, contact: &UserName) -> Result<(), ApiError> {
    if !state.store.remove_contacts(app_id, owner, contact).await.map_err(store_error)? {
        return Err(not_contacts(owner, contact));
    }
    tell(state, app_id, ContactChange::Removed, owner, contact, "").await
}

/// `owner`'s remark on their contact `contact`.
pub async fn set_remark(
    state: &Services,
    app_id: i64,
    owner: &UserName,
    contact: &UserName,
    remark: &str,
) -> Result<(), ApiError> {
    if qun_core::limits::chars(remark) > qun_core::limits::CONTACT_REMARK_MAX_CHARS {
        return Err(ApiError::new(
            ErrorCode::IllegalArgument,
            format!("remark is longer than {} characters", qun_core::limits::CONTACT_REMARK_MAX_CHARS),
        ));
    }
    if !state.store.set_contact_remark(app_id, owner, contact, remark).await.map_err(store_error)? {
        return Err(ApiError::new(ErrorCode::NotContact, NOT_CONTACTS_REMARK));
    }
    Ok(())
}

/// `owner`'s contacts in name order after `after`, at most `limit`.
pub async fn contacts(
    state: &Services,
    app_id: i64,
    owner: &UserName,
    after: Option<&UserName>,
    limit: u32,
) -> Result<Vec<ContactRecord>, ApiError> {
    state.store.contacts_page(app_id, owner, after, limit).await.map_err(store_error)
}

/// Puts `users` on `owner`'s blocklist, within its limit; answers the users now on it of
/// those asked. Unknown users are refused.
pub async fn block(
    state: &Services,
    app_id: i64,
    owner: &UserName,
    users: &[UserName],
) -> Result<Vec<UserName>, ApiError> {
    if users.contains(owner) {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "a user cannot block themself"));
    }
    for user in users {
        existing_user(state, app_id, user).await?;
    }
    let blocked = state.store.contact_counts(app_id, owner).await.map_err(store_error)?.blocked;
    // Users already on the list do not count again, so count the new ones.
    let mut new = 0;
    for user in users {
        if !state.store.contact_standing(app_id, owner, user).await.map_err(store_error)?.blocks_peer {
            new += 1;
        }
    }
    if blocked + new > USER_BLOCKLIST_MAX {
        return Err(ApiError::new(
            ErrorCode::ExceedLimit,
            format!("a blocklist holds at most {USER_BLOCKLIST_MAX} users"),
        ));
    }
    state.store.block_users(app_id, owner, users, now_ms() as i64).await.map_err(store_error)
}

/// Takes `users` off `owner`'s blocklist; answers those that were on it.
pub async fn unblock(
    state: &Services,
    app_id: i64,
    owner: &UserName,
    users: &[UserName],
) -> Result<Vec<UserName>, ApiError> {
    state.store.unblock_users(app_id, owner, users).await.map_err(store_error)
}

/// `owner`'s blocklist in name order after `after`, at most `limit`.
pub async fn blocklist(
    state: &Services,
    app_id: i64,
    owner: &UserName,
    after: Option<&UserName>,
    limit: u32,
) -> Result<Vec<UserName>, ApiError> {
    state.store.user_blocklist(app_id, owner, after, limit).await.map_err(store_error)
}

/// Stores a contact event as `to`'s personal item and hints their devices.
async fn tell(
    state: &Services,
    app_id: i64,
    change: ContactChange,
    from: &UserName,
    to: &UserName,
    reason: &str,
) -> Result<(), ApiError> {
    let timestamp_ms = now_ms() as i64;
    let event = ContactEvent {
        contact_change: change,
        from: from.clone(),
        to: to.clone(),
        reason: reason.to_owned(),
        timestamp_ms,
    };
    let item = PersonalItem::Contact(event);
    state.store.add_personal_item(app_id, to, state.ids.next(), &item, timestamp_ms).await.map_err(store_error)?;
    state.delivery.queue_updated(app_id, to, &QueueKey::Personal, None);
    Ok(())
}

async fn existing_user(state: &Services, app_id: i64, user: &UserName) -> Result<(), ApiError> {
    match state.store.user(app_id, user).await.map_err(store_error)? {
        Some(_) => Ok(()),
        None => Err(user_not_found(user)),
    }
}

fn too_many_contacts(user: &UserName) -> ApiError {
    ApiError::new(ErrorCode::ExceedLimit, format!("user {user} has {CONTACTS_MAX} contacts already"))
}

fn no_request(requester: &UserName, target: &UserName) -> ApiError {
    ApiError::new(ErrorCode::ResourceNotFound, format!("user {requester} has not asked user {target} to be a contact"))
}

fn not_contacts(a: &UserName, b: &UserName) -> ApiError {
    ApiError::new(ErrorCode::NotContact, format!("user {a} and user {b} are not contacts"))
}
