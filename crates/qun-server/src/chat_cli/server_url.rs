//! `--server`: what a user may type (`127.0.0.1:8080`, `localhost:8080`, `http://host:port/`)
//! and the two URLs made from it, the REST base and the websocket.

use reqwest::Url;

/// A server's address as `qun chat` uses it: plain `http://host[:port]`, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `http://host[:port]`, no trailing slash (the port only when it is not 80).
    base: String,
}

impl ServerUrl {
    /// Reads `--server`. A missing scheme means `http://`; `ws://` is taken as the same
    /// server. `https://` and `wss://` are refused: qun chat speaks plain HTTP and websocket
    /// only (qun-client has no TLS).
    pub fn parse(raw: &str) -> Result<ServerUrl, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("--server is empty: give HOST:PORT, e.g. 127.0.0.1:8080".to_owned());
        }
        let scheme = raw.split_once("://").map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest));
        let with_scheme = match scheme.as_ref().map(|(scheme, rest)| (scheme.as_str(), rest)) {
            Some(("http" | "ws", rest)) => format!("http://{rest}"),
            Some(("https" | "wss", _)) => {
                return Err(format!(
                    "--server {raw}: qun chat speaks plain http only (no TLS); give the server's own \
                     HOST:PORT"
                ));
            }
            Some((scheme, _)) => return Err(format!("--server {raw}: unknown scheme {scheme:?}; give HOST:PORT")),
            None => format!("http://{raw}"),
        };
        let url = Url::parse(&with_scheme).map_err(|error| format!("--server {raw}: {error}; give HOST:PORT"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("--server {raw}: no host; give HOST:PORT"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("--server {raw}: give the server's address only, without a path"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("--server {raw}: no user name in the address; use --user and --password"));
        }
        Ok(ServerUrl { base: url.origin().ascii_serialization() })
    }

    /// The REST base, `http://host:port`.
    pub fn rest_base(&self) -> &str {
        &self.base
    }

    /// The msync websocket, `ws://host:port/websocket`.
    pub fn websocket(&self) -> String {
        qun_client::websocket_url(&self.base)
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_user_types_becomes_a_plain_http_base() {
        let accepted = [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("localhost:8080", "http://localhost:8080"),
            ("  localhost:9000/ ", "http://localhost:9000"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://chat.example:8080/", "http://chat.example:8080"),
            ("ws://chat.example:8080", "http://chat.example:8080"),
            ("chat.example", "http://chat.example"),
            ("http://chat.example:80", "http://chat.example"),
            ("[::1]:8080", "http://[::1]:8080"),
            ("HTTP://Chat.Example:8080", "http://chat.example:8080"),
        ];
        for (raw, base) in accepted {
            let url = ServerUrl::parse(raw).unwrap_or_else(|error| panic!("{raw}: {error}"));
            assert_eq!(url.rest_base(), base, "{raw}");
        }
        assert_eq!(ServerUrl::parse("127.0.0.1:8080").unwrap().websocket(), "ws://127.0.0.1:8080/websocket");
    }

    #[test]
    fn what_cannot_work_is_refused_with_the_reason() {
        let refused = [
            ("", "is empty"),
            ("https://chat.example", "plain http only"),
            ("wss://chat.example", "plain http only"),
            ("ftp://chat.example", "unknown scheme \"ftp\""),
            ("http://chat.example:8080/qun/demo", "without a path"),
            ("chat.example:8080?x=1", "without a path"),
            ("alice:pw@chat.example:8080", "no user name"),
            ("localhost:99999", "invalid port"),
            ("http://", "empty host"),
        ];
        for (raw, reason) in refused {
            let error = ServerUrl::parse(raw).expect_err(raw);
            assert!(error.contains(reason), "{raw}: {error}");
        }
    }
}
