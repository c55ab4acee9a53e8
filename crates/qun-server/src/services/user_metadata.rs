//! User attributes (`updateUserInfo` / `fetchUserInfoById`, and the app administrator's
//! `/metadata/user` calls): string keys and values per user, at most 2 KB per user (Agora's
//! limit; keys and values in bytes). A user sets only their own; anyone of the app reads
//! anyone's (the SDK shows contacts' and group members' nicknames and avatars this way).

use std::collections::BTreeMap;

use qun_core::UserName;
use qun_core::limits::{USER_METADATA_GET_MAX_USERS, USER_METADATA_KEY_MAX_BYTES, USER_METADATA_MAX_BYTES};
use qun_proto::{ApiError, ErrorCode};
use qun_store::UserMetadataUpdate;

use crate::services::{Services, store_error, user_not_found};

/// Sets `entries` on `user`'s attributes (other keys stay); answers all of them.
pub async fn set(
    state: &Services,
    app_id: i64,
    user: &UserName,
    entries: Vec<(String, String)>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if entries.is_empty() {
        return Err(ApiError::new(ErrorCode::IllegalArgument, "no user attributes given"));
    }
    if let Some((key, _)) = entries.iter().find(|(key, _)| key.is_empty() || key.len() > USER_METADATA_KEY_MAX_BYTES) {
        return Err(ApiError::new(
            ErrorCode::MetadataError,
            format!("user attribute key {key:?} is empty or longer than {USER_METADATA_KEY_MAX_BYTES} bytes"),
        ));
    }
    match state.store.set_user_metadata(app_id, user, &entries, USER_METADATA_MAX_BYTES).await.map_err(store_error)? {
        UserMetadataUpdate::Updated(all) => Ok(all.into_iter().collect()),
        UserMetadataUpdate::TooLarge => Err(ApiError::new(
            ErrorCode::MetadataError,
            format!("user {user}'s attributes would be over {USER_METADATA_MAX_BYTES} bytes"),
        )),
        UserMetadataUpdate::NoSuchUser => Err(user_not_found(user)),
    }
}

/// `user`'s attributes (empty when they have none; an unknown user is an error).
pub async fn get(state: &Services, app_id: i64, user: &UserName) -> Result<BTreeMap<String, String>, ApiError> {
    if state.store.user(app_id, user).await.map_err(store_error)?.is_none() {
        return Err(user_not_found(user));
    }
    let rows = state.store.user_metadata(app_id, std::slice::from_ref(user)).await.map_err(store_error)?;
    Ok(rows.into_iter().map(|(_, key, value)| (key, value)).collect())
}

/// The attributes of `users` (≤ 100), only the keys named in `keys` (all when empty), keyed by
/// user; users with none (or unknown) are left out, as Agora does.
pub async fn get_many(
    state: &Services,
    app_id: i64,
    users: &[UserName],
    keys: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ApiError> {
    if users.len() > USER_METADATA_GET_MAX_USERS {
        return Err(ApiError::new(
            ErrorCode::IllegalArgument,
            format!("at most {USER_METADATA_GET_MAX_USERS} users per request"),
        ));
    }
    let rows = state.store.user_metadata(app_id, users).await.map_err(store_error)?;
    let mut by_user: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (user, key, value) in rows {
        if keys.is_empty() || keys.contains(&key) {
            by_user.entry(user.to_string()).or_default().insert(key, value);
        }
    }
    Ok(by_user)
}

/// Removes all of `user`'s attributes; `false` if they had none.
pub async fn delete(state: &Services, app_id: i64, user: &UserName) -> Result<bool, ApiError> {
    if state.store.user(app_id, user).await.map_err(store_error)?.is_none() {
        return Err(user_not_found(user));
    }
    state.store.delete_user_metadata(app_id, user).await.map_err(store_error)
}
