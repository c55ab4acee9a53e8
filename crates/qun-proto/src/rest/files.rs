//! Chat files (message attachments): `POST /chatfiles` and `GET /chatfiles/{uuid}`
//! (agora-chat-api.md "Files").

use serde::{Deserialize, Serialize};

/// The one entity of an upload's envelope: `entities: [{uuid, type: "chatfile",
/// "share-secret"}]`. The web SDK builds the message's `url` from `uuid` and its `secret`
/// from `share-secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFileEntity {
    pub uuid: String,
    /// Always [`CHATFILE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "share-secret")]
    pub share_secret: String,
}

/// The `type` of an uploaded chat file's entity.
pub const CHATFILE_TYPE: &str = "chatfile";
