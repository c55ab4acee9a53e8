//! What the chat asks of the server, over qun-client: the password login, the websocket (with
//! its chat room), the checks and names of groups and rooms. Failures come back as sentences
//! for the user that say what to fix, and whether trying again may help.

use std::time::Duration;

use qun_client::{ConnectOptions, Connection, Error, Incoming, RestClient, Target};
use tokio::sync::mpsc;

use super::core::Listing;
use super::format::{Conversation, Names};
use super::server_url::ServerUrl;

/// How long a REST call of the chat may take (the client itself waits forever).
const REST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It may work later: the server is unreachable, restarting, or busy.
    Retry(String),
    /// It will not work without a change: the password, the user, the app.
    Fatal(String),
}

impl Failure {
    pub(crate) fn reason(&self) -> &str {
        match self {
            Failure::Retry(reason) | Failure::Fatal(reason) => reason,
        }
    }
}

/// A logged-in websocket, and how joining the conversation's chat room went.
pub(crate) struct Link {
    pub(crate) connection: Connection,
    pub(crate) incoming: mpsc::Receiver<Incoming>,
    pub(crate) room: Option<Result<(), String>>,
}

/// One user of one app on one server.
pub(crate) struct Network {
    server: ServerUrl,
    rest: RestClient,
    appkey: String,
    user: String,
    password: String,
    device: String,
    /// The user token; renewed by password when the server no longer takes it. A `parking_lot`
    /// lock: held only to copy or replace the string, never across an await.
    token: parking_lot::Mutex<String>,
}

impl Network {
    pub(crate) fn new(server: ServerUrl, appkey: &str, user: &str, password: &str, device: &str) -> Network {
        let (org, app) = appkey.split_once('#').unwrap_or((appkey, ""));
        Network {
            rest: RestClient::new(server.rest_base(), org, app),
            server,
            appkey: appkey.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            device: device.to_owned(),
            token: parking_lot::Mutex::new(String::new()),
        }
    }

    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    pub(crate) fn server(&self) -> &ServerUrl {
        &self.server
    }

    /// Logs in by password and keeps the token.
    pub(crate) async fn log_in(&self) -> Result<(), Failure> {
        let token = within_time(self.rest.login(&self.user, &self.password)).await.map_err(|error| {
            let Error::Api { status, error: code, description } = &error else { return self.transport(&error) };
            let user = &self.user;
            match (*status, code.as_str()) {
                (404, "organization_application_not_found") => {
                    Failure::Fatal(format!("there is no app {} on {} (see --appkey)", self.appkey, self.server))
                }
                (404, "invalid_grant") => Failure::Fatal(format!("there is no user {user} on {}", self.server)),
                (400, "invalid_grant") if description.contains("password") => {
                    Failure::Fatal(format!("wrong password for {user}"))
                }
                (429 | 500.., _) => Failure::Retry(format!("the server cannot log {user} in now: {description}")),
                _ => Failure::Fatal(format!("login as {user} refused: {description}")),
            }
        })?;
        *self.token.lock() = token;
        Ok(())
    }

    /// Opens the websocket and joins `room`, if given. A token the server no longer takes is
    /// renewed by password once.
    pub(crate) async fn connect(&self, room: Option<&str>) -> Result<Link, Failure> {
        let (connection, incoming) = match self.open_websocket().await {
            Err(Error::LoginRefused { .. }) => {
                self.log_in().await?;
                self.open_websocket().await
            }
            other => other,
        }
        .map_err(|error| match &error {
            Error::LoginRefused { reason, .. } => Failure::Fatal(format!("the server refused the login: {reason}")),
            _ => self.transport(&error),
        })?;
        let room = match room {
            Some(room) => Some(connection.join_room(room, false).await.map(drop).map_err(|e| refusal(&e))),
            None => None,
        };
        Ok(Link { connection, incoming, room })
    }

    async fn open_websocket(&self) -> Result<(Connection, mpsc::Receiver<Incoming>), Error> {
        let token = self.token.lock().clone();
        let options = ConnectOptions { device_name: "qun-chat".to_owned(), ..ConnectOptions::default() };
        Connection::connect_with(&self.server.websocket(), &self.appkey, &self.user, &token, &self.device, options)
            .await
    }

    /// Checks that `target` can be chatted in, and names it: a group must exist and have the
    /// user as a member; a chat room must exist (joining it is the websocket's business).
    pub(crate) async fn open(&self, target: &Target) -> Result<Conversation, String> {
        let not_found = |kind: &str, id: &str, error: &Error| match error {
            Error::Api { status: 404, .. } => format!("{kind} {id} not found"),
            // A private group's details are for its members: the server says so.
            Error::Api { status: 403, description, .. } => format!("{kind} {id} refused you: {description}"),
            _ => format!("cannot open {kind} {id}: {}", self.describe(error)),
        };
        let name = match target {
            Target::Group(id) => {
                let details = self.with_token(|rest| async move { rest.group_details(id).await }).await;
                let details = details.map_err(|error| not_found("group", id, &error))?;
                if details.permission.as_deref() == Some("none") {
                    return Err(format!("you are not a member of group {} ({id})", details.name));
                }
                Some(details.name)
            }
            Target::Room(id) => {
                let details = self.with_token(|rest| async move { rest.room_details(id).await }).await;
                Some(details.map_err(|error| not_found("room", id, &error))?.name)
            }
            Target::User(_) => None,
        };
        Ok(Conversation { target: target.clone(), name })
    }

    /// The user's groups or chat rooms, `(id, name)`.
    pub(crate) async fn list(&self, listing: Listing) -> Result<Vec<(String, String)>, String> {
        let user = self.user.as_str();
        let listed = match listing {
            Listing::Groups => self
                .with_token(|rest| async move { rest.joined_groups(user).await })
                .await
                .map(|groups| groups.into_iter().map(|group| (group.groupid, group.groupname)).collect()),
            Listing::Rooms => self
                .with_token(|rest| async move { rest.joined_rooms(user).await })
                .await
                .map(|rooms| rooms.into_iter().map(|room| (room.id, room.name)).collect()),
        };
        listed.map_err(|error| self.describe(&error))
    }

    /// The names of the user's groups and rooms, as far as the server answers.
    pub(crate) async fn names(&self) -> Names {
        let mut names = Names::default();
        for listing in [Listing::Groups, Listing::Rooms] {
            for (id, name) in self.list(listing).await.unwrap_or_default() {
                names.insert(&id, &name);
            }
        }
        names
    }

    /// A REST call with the user token, renewed by password once if the server refuses it.
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: Fn(RestClient) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let token = self.token.lock().clone();
        match within_time(call(self.rest.with_token(token))).await {
            Err(Error::Api { status: 401, .. }) if self.log_in().await.is_ok() => {
                let token = self.token.lock().clone();
                within_time(call(self.rest.with_token(token))).await
            }
            other => other,
        }
    }

    /// A failure to talk to the server at all.
    fn transport(&self, error: &Error) -> Failure {
        Failure::Retry(self.describe(error))
    }

    /// An error as the user should read it: an unreachable server is named by its URL.
    fn describe(&self, error: &Error) -> String {
        match error {
            Error::Http(http) if http.is_connect() => {
                format!("cannot reach the server at {} ({})", self.server, root_cause(http))
            }
            Error::Http(http) if http.is_timeout() => format!("the server at {} did not answer in time", self.server),
            Error::Http(http) => format!("cannot talk to the server at {} ({})", self.server, root_cause(http)),
            Error::WebSocket(websocket) => {
                format!("cannot reach the server at {} ({})", self.server.websocket(), root_cause(websocket))
            }
            Error::Timeout { .. } => format!("the server at {} did not answer in time", self.server),
            Error::Api { status, description, .. } => format!("the server said {status}: {description}"),
            Error::Closed => "the server closed the connection".to_owned(),
            _ => error.to_string(),
        }
    }
}

/// The server's reason for a refusal, else the error.
pub(crate) fn refusal(error: &Error) -> String {
    error.reason().map_or_else(|| error.to_string(), str::to_owned)
}

/// `call`, given up after [`REST_TIMEOUT`].
async fn within_time<T>(call: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::time::timeout(REST_TIMEOUT, call)
        .await
        .unwrap_or(Err(Error::Timeout { what: "server's answer", seconds: REST_TIMEOUT.as_secs() }))
}

/// The innermost cause in a few words: an IO error's kind (e.g. "connection refused"), else
/// the innermost error's text.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    loop {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind().to_string();
        }
        match cause.source() {
            Some(source) => cause = source,
            None => return cause.to_string(),
        }
    }
}
