//! Qun's own server endpoints (not Agora's): `GET /health`.

use serde::{Deserialize, Serialize};

/// `GET /health`: 200 with `status: "ok"` when the server can serve (its database answers),
/// 503 with `status: "unavailable"` and the `reason` otherwise. Load balancers and
/// orchestrators read the status code; people read the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    /// The server's version (`qun --version`).
    pub version: String,
    /// The database backend: "sqlite" or "postgres".
    pub backend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
