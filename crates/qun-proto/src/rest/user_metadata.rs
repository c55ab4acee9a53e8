//! User attributes (`/metadata/user/…`): the SDK's `updateUserInfo` sends them form-encoded
//! (`nickname=…&avatarurl=…`) and `fetchUserInfoById` reads them by user; replies carry them
//! as `data{key: value}` and `data{user: {key: value}}`.

use serde::Deserialize;

/// `POST /metadata/user/get`: the users (≤ 100) and the keys (all when empty).
#[derive(Debug, Deserialize)]
pub struct UserMetadataQuery {
    pub targets: Vec<String>,
    #[serde(default)]
    pub properties: Vec<String>,
}
