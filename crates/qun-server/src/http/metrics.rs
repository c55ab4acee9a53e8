//! `GET /metrics` (what is counted: [`crate::telemetry`]), and the REST requests' own series:
//! one count per method, route template and status, and a latency histogram per route.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use crate::telemetry::{CONTENT_TYPE, HttpLabels, RouteLabels};

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], state.metrics.encode())
}

/// Counts and times every request under `/{org}/{app}`, by its route template (so the label set
/// is the router's, whatever paths clients send).
pub(super) async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None => "unmatched".to_owned(),
    };
    let method = method_label(request.method());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    let status = response.status().as_u16();
    metrics.http_requests.get_or_create(&HttpLabels { method, route: route.clone(), status }).inc();
    metrics.http_latency.get_or_create(&RouteLabels { method, route }).observe(started.elapsed().as_secs_f64());
    response
}

/// The methods the API uses; anything else is `other` (the label set stays small).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}
