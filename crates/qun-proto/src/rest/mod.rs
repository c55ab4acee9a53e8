//! REST JSON shapes, with Agora's field names.

pub mod contacts;
pub mod conversations;
pub mod files;
pub mod groups;
pub mod messages;
pub mod receipts;
pub mod rooms;
pub mod server;
pub mod user_metadata;
pub mod users;
pub mod venue;

use std::collections::BTreeMap;

use serde::Serialize;

/// Agora's success envelope. `data` and `entities` carry the endpoint's own types.
#[derive(Debug, Serialize)]
pub struct Envelope<D: Serialize, E: Serialize = ()> {
    /// The HTTP method in lower case ("get", "post", …).
    pub action: String,
    /// The app's UUID.
    pub application: String,
    #[serde(rename = "applicationName")]
    pub application_name: String,
    pub organization: String,
    pub uri: String,
    pub path: String,
    pub entities: Vec<E>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<D>,
    pub timestamp: i64,
    pub duration: i64,
    pub properties: BTreeMap<String, String>,
    /// The query echoed as arrays of strings, as Agora does.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Where an envelope was produced: the parts that do not depend on the endpoint.
#[derive(Debug, Clone)]
pub struct EnvelopeContext {
    pub method: String,
    /// Scheme and host the request used, e.g. `https://chat.example.com` (no trailing slash).
    pub base_url: String,
    pub app_uuid: String,
    pub org: String,
    pub app: String,
    /// The path after `/{org}/{app}`, e.g. `/chatgroups/123`.
    pub path: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub timestamp_ms: i64,
    pub duration_ms: i64,
}

impl<D: Serialize, E: Serialize> Envelope<D, E> {
    pub fn new(context: EnvelopeContext, data: Option<D>, entities: Vec<E>) -> Self {
        Envelope {
            action: context.method.to_ascii_lowercase(),
            application: context.app_uuid,
            application_name: context.app.clone(),
            uri: format!("{}/{}/{}{}", context.base_url, context.org, context.app, context.path),
            path: context.path,
            organization: context.org,
            entities,
            data,
            timestamp: context.timestamp_ms,
            duration: context.duration_ms,
            properties: BTreeMap::new(),
            params: context.params,
            count: None,
            cursor: None,
            total: None,
        }
    }
}
