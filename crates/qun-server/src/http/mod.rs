//! HTTP plumbing: the router, the request context (app, caller, envelope), JSON bodies and
//! error replies. Handlers live in [`crate::rest`].

mod context;
mod error;
mod metrics;

pub use context::{Caller, Ctx, JsonBody};
pub use error::HttpError;

use axum::Router;
use axum::http::{Method, header};
use tower_http::cors::{Any, CorsLayer};

use crate::state::AppState;

/// Every route Qun serves.
pub fn router(state: AppState) -> Router {
    // Browser apps on another origin send the JSON content type and the Authorization header,
    // which triggers a preflight.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            "restrict-access".parse().expect("valid"),
        ]);
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route("/websocket", axum::routing::get(crate::gateway::upgrade))
        .nest("/{org}/{app}", crate::rest::routes())
        .fallback(error::not_found)
        .layer(cors)
        .with_state(state)
}
