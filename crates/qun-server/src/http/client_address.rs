//! Who is asking, as far as per-client limits are concerned: the address of the connection's
//! peer, or — only when the operator says a reverse proxy in front sets it
//! (`trust_forwarded_for`) — the last address in `X-Forwarded-For`, the one that proxy saw.
//! Off by default: any client can write the header, so trusting it without a proxy would let
//! an attacker pick a fresh address for every guess.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::state::AppState;

/// The client's address (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The server's accept loop always sets the peer; a router served some other way
        // (a test's) makes every client one unknown address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| peer.ip());
        let forwarded = state.config.trust_forwarded_for.then(|| last_forwarded_for(&parts.headers)).flatten();
        Ok(ClientAddress(forwarded.unwrap_or(peer)))
    }
}

/// The last address of the last `X-Forwarded-For` header: the proxy in front appends the
/// address it saw to whatever the client sent, so only the last entry is the proxy's word.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let header = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
    header.rsplit(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_forwarded_address_counts() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_forwarded_for(&headers), None);
        headers.append("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        assert_eq!(last_forwarded_for(&headers), Some("198.51.100.7".parse().unwrap()));
        headers.append("X-Forwarded-For", " 2001:db8::1 ".parse().unwrap());
        assert_eq!(last_forwarded_for(&headers), Some("2001:db8::1".parse().unwrap()));
        headers.append("x-forwarded-for", "203.0.113.9, not an address".parse().unwrap());
        assert_eq!(last_forwarded_for(&headers), None, "a garbled last entry is not trusted");
    }
}
