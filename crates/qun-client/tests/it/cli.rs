//! `qun chat` (`qun_server::chat_cli::chat`) driven with scripted input against the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use qun_client::Incoming;
use qun_server::chat_cli::{ChatArgs, Output, chat};
use tokio::sync::mpsc;

use crate::harness::{TestServer, WAIT, next_message};

/// Waits until a printed line satisfies `wanted`.
async fn printed(lines: &Mutex<Vec<String>>, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(line) = lines.lock().unwrap().iter().find(|line| wanted(line)) {
            return line.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "not printed; got {:?}", lines.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn chat_sends_lines_prints_messages_events_and_refusals() {
    let server = TestServer::start().await;
    server.users(&["alice", "bob"]).await;
    let group = server.admin.create_group("alice", &["bob"], true).await.expect("group");
    // Bob chats from the terminal; Alice (the owner) from the client.
    let (alice, mut alice_incoming) = server.connect("alice", "dev-a").await;

    let args = ChatArgs {
        server: server.base_url.clone(),
        appkey: "qun#test".into(),
        user: "bob".into(),
        password: "pw-bob".into(),
        group: Some(group.clone()),
        to: None,
        device: None,
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let output: Output = Arc::new(move |line| sink.lock().unwrap().push(line.to_owned()));
    let (input, input_receiver) = mpsc::channel(4);
    let cli = tokio::spawn(chat(args, input_receiver, output, std::future::pending()));

    printed(&lines, |line| line.starts_with("* connected as bob")).await;
    input.send("hello from the terminal\n".into()).await.unwrap();
    let Incoming::Message { from, text, .. } = next_message(&mut alice_incoming).await else { unreachable!() };
    assert_eq!((from.as_str(), text.as_str()), ("bob", "hello from the terminal"));

    alice.send_group_text(&group, "hi terminal", Vec::new()).await.expect("alice sends");
    let line = printed(&lines, |line| line.ends_with("alice: hi terminal")).await;
    assert!(line.starts_with('[') && line.as_bytes()[9] == b']', "[HH:MM:SS] prefix: {line}");

    server.admin.mute_members(&group, &["bob"], 60_000).await.expect("mute");
    printed(&lines, |line| line.starts_with("* muteMember by") && line.contains("(bob)")).await;
    input.send("am I muted?".into()).await.unwrap();
    printed(&lines, |line| line == "! not sent: user is mute").await;

    // End of input: the CLI logs out and returns.
    drop(input);
    tokio::time::timeout(WAIT, cli).await.expect("the cli ends").unwrap().expect("no error");
    server.wait_for_sessions(1).await;
    assert_eq!(lines.lock().unwrap().last().map(String::as_str), Some("* connection closed"));
}

#[tokio::test]
async fn chat_refuses_a_wrong_password() {
    let server = TestServer::start().await;
    server.users(&["alice"]).await;
    let args = ChatArgs {
        server: server.base_url.clone(),
        appkey: "qun#test".into(),
        user: "alice".into(),
        password: "wrong".into(),
        group: None,
        to: Some("bob".into()),
        device: None,
    };
    let (_input, input_receiver) = mpsc::channel(1);
    let error = chat(args, input_receiver, Arc::new(|_| {}), std::future::pending()).await.expect_err("refused");
    assert!(format!("{error:#}").contains("login"), "{error:#}");
}
