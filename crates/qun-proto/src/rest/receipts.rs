//! Receipt REST shapes: who read a group message (`GET /chatgroups/{g}/acks/{msg}`, the SDK's
//! `getGroupMsgReadUser`, which sends `limit=500` and reads `data` as
//! `{ackmid, is_last, next_key, timestamp, total, userlist}`).

use serde::{Deserialize, Serialize};

/// `data` of `GET /chatgroups/{g}/acks/{msg}`: one page of the members who read the message,
/// in the order they read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMessageReaders {
    /// The message asked about (its server id).
    pub ackmid: String,
    /// Whether this page is the last.
    pub is_last: bool,
    /// Where the next page starts (the `key` query parameter); empty on the last page.
    pub next_key: String,
    /// Server time of the answer, ms since the Unix epoch.
    pub timestamp: i64,
    /// How many members read the message, in all pages.
    pub total: u64,
    /// The readers on this page.
    pub userlist: Vec<String>,
}
