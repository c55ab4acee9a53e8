//! The REST side: tokens, registration, a generic call, and the few typed group and chat room
//! helpers the tests, the benchmark and the CLI need. Paths are Agora's, under `{base}/{org}/{app}`.

use qun_proto::rest::groups::{GroupCreated, GroupDetails, GroupSummary};
use qun_proto::rest::rooms::{JoinedRoom, RoomDetails};
use qun_proto::rest::users::{AppTokenResponse, RegisterFailure, UserTokenResponse};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Users per registration call (Agora's batch maximum).
const REGISTER_BATCH: usize = 60;

/// A REST client for one app, with or without a bearer token. Cloning is cheap (the HTTP
/// connection pool is shared), so [`RestClient::with_token`] per user costs nothing.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    /// `{base}/{org}/{app}`, no trailing slash.
    app_url: String,
    org: String,
    app: String,
    token: Option<String>,
}

impl RestClient {
    /// A client for the app `org#app` on the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, org: &str, app: &str) -> RestClient {
        RestClient {
            http: reqwest::Client::new(),
            app_url: format!("{}/{org}/{app}", base_url.trim_end_matches('/')),
            org: org.to_owned(),
            app: app.to_owned(),
            token: None,
        }
    }

    /// The same client, calling with `token` (an app or user token).
    pub fn with_token(&self, token: impl Into<String>) -> RestClient {
        RestClient { token: Some(token.into()), ..self.clone() }
    }

    /// The app key, `org#app`, as the websocket login wants it.
    pub fn app_key(&self) -> String {
        qun_proto::msync::app_key(&self.org, &self.app)
    }

    /// The token this client calls with, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// One call to `path` (after `/{org}/{app}`, e.g. `/chatgroups/1/admin`). Returns the HTTP
    /// status and the JSON body (`Value::Null` if the body is not JSON), whatever the status:
    /// only transport failures are errors.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.app_url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// [`RestClient::call`], with any status but 200 turned into [`Error::Api`].
    pub async fn call_ok(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, reply) = self.call(method, path, body).await?;
        if status != 200 {
            return Err(Error::Api {
                status,
                error: reply["error"].as_str().unwrap_or_default().to_owned(),
                description: reply["error_description"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(reply)
    }

    /// An app token (client-credentials grant): the app administrator.
    pub async fn app_token(&self, client_id: &str, client_secret: &str) -> Result<String> {
        let body = json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret});
        let reply: AppTokenResponse = parse(self.call_ok(Method::POST, "/token", Some(body)).await?)?;
        Ok(reply.access_token)
    }

    /// A user token (password grant), as the SDK's `open({user, pwd})` gets it.
    pub async fn login(&self, user: &str, password: &str) -> Result<String> {
        let body = json!({"grant_type": "password", "username": user, "password": password});
        let reply: UserTokenResponse = parse(self.call_ok(Method::POST, "/token", Some(body)).await?)?;
        Ok(reply.access_token)
    }

    /// Registers users (needs an app token unless the app has open registration), 60 per
    /// call. Returns the users the server could not create, with its reason (e.g. the name
    /// exists already); any other failure is an error.
    pub async fn register(&self, users: &[(&str, &str)]) -> Result<Vec<RegisterFailure>> {
        let mut failures = Vec::new();
        for batch in users.chunks(REGISTER_BATCH) {
            let body: Vec<Value> =
                batch.iter().map(|(user, password)| json!({"username": user, "password": password})).collect();
            let reply = self.call_ok(Method::POST, "/users", Some(Value::Array(body))).await?;
            failures.extend(parse::<Vec<RegisterFailure>>(reply["data"].clone())?);
        }
        Ok(failures)
    }

    /// Creates a group owned by `owner` with `members`, and returns its id. With a user token
    /// the owner is the caller (pass its name anyway).
    pub async fn create_group(&self, owner: &str, members: &[&str], public: bool) -> Result<String> {
        let body = json!({
            "groupname": format!("{owner}'s group"),
            "public": public,
            "owner": owner,
            "members": members,
        });
        let reply = self.call_ok(Method::POST, "/chatgroups", Some(body)).await?;
        Ok(parse::<GroupCreated>(reply["data"].clone())?.groupid)
    }

    /// Adds members to a group (`POST /chatgroups/{g}/users`).
    pub async fn add_members(&self, group: &str, users: &[&str]) -> Result<()> {
        self.call_ok(Method::POST, &format!("/chatgroups/{group}/users"), Some(json!({"usernames": users}))).await?;
        Ok(())
    }

    /// Makes `user` an admin of the group (`POST /chatgroups/{g}/admin`).
    pub async fn add_admin(&self, group: &str, user: &str) -> Result<()> {
        self.call_ok(Method::POST, &format!("/chatgroups/{group}/admin"), Some(json!({"newadmin": user}))).await?;
        Ok(())
    }

    /// Mutes users in the group for `duration_ms` (-1: until unmuted).
    pub async fn mute_members(&self, group: &str, users: &[&str], duration_ms: i64) -> Result<()> {
        let body = json!({"usernames": users, "mute_duration": duration_ms});
        self.call_ok(Method::POST, &format!("/chatgroups/{group}/mute"), Some(body)).await?;
        Ok(())
    }

    /// The groups `user` is in, newest joined first, at most 500
    /// (`GET /users/{u}/joined_chatgroups`; the user's own token or the app's).
    pub async fn joined_groups(&self, user: &str) -> Result<Vec<GroupSummary>> {
        parse(self.call_ok(Method::GET, &format!("/users/{user}/joined_chatgroups"), None).await?["data"].take())
    }

    /// The chat rooms `user` is in, newest joined first, at most 500
    /// (`GET /users/{u}/joined_chatrooms`).
    pub async fn joined_rooms(&self, user: &str) -> Result<Vec<JoinedRoom>> {
        parse(self.call_ok(Method::GET, &format!("/users/{user}/joined_chatrooms"), None).await?["data"].take())
    }

    /// One group's details (`GET /chatgroups/{g}`); with a user token, `permission` is the
    /// caller's role in it (`"none"` for a non-member).
    pub async fn group_details(&self, group: &str) -> Result<GroupDetails> {
        let reply = self.call_ok(Method::GET, &format!("/chatgroups/{group}"), None).await?;
        parse(first_of(reply, "group")?)
    }

    /// One chat room's details (`GET /chatrooms/{id}`).
    pub async fn room_details(&self, room: &str) -> Result<RoomDetails> {
        let reply = self.call_ok(Method::GET, &format!("/chatrooms/{room}"), None).await?;
        parse(first_of(reply, "chat room")?)
    }
}

/// The first entry of a reply's `data` array.
fn first_of(mut reply: Value, what: &str) -> Result<Value> {
    match reply["data"].get_mut(0) {
        Some(first) => Ok(first.take()),
        None => Err(Error::Protocol(format!("no {what} in the reply"))),
    }
}

fn parse<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|error| Error::Protocol(format!("unexpected reply: {error}")))
}
