//! Contacts and users' blocklists: the SDK's calls (`/users/{me}/contacts/…`,
//! `/sdk/user/{me}/blocks`) and the app administrator's (`/users/{u}/contacts/users/{c}`,
//! `/users/{u}/blocks/users`).

use serde::{Deserialize, Serialize};

/// `POST /users/{me}/contacts/apply` (`addContact`): whom to ask, and the message.
#[derive(Debug, Deserialize)]
pub struct ContactApplication {
    pub usernames: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A list of users: blocking and unblocking (`{"usernames": […]}`).
#[derive(Debug, Deserialize)]
pub struct Usernames {
    pub usernames: Vec<String>,
}

/// `PUT /users/{me}/contacts/users/{c}` (`setContactRemark`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactRemark {
    pub remark: String,
}

/// A contact with the owner's remark: the `entities` of `GET /users/{me}/contacts/users?needReturnRemark=true`
/// (`getAllContacts`) and the `contacts` of the paged list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContactEntry {
    pub username: String,
    pub remark: String,
}

/// `data` of `GET /users/{me}/contacts?limit=&cursor=` (`getContactsWithCursor`): a page and
/// the cursor of the next one (`""` at the end).
#[derive(Debug, Serialize, Deserialize)]
pub struct ContactsPage {
    pub contacts: Vec<ContactEntry>,
    pub cursor: String,
}

/// Qun's own `GET` / `PUT /settings/contacts`: whether 1:1 messages need the two users to be
/// contacts (Agora's "friend relationship check", off by default). The body and the reply's
/// `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactsSetting {
    pub contacts_only: bool,
}
