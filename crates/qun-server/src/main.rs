//! The `qun` binary: `qun serve` starts the server, `qun chat` is a terminal chat client.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "qun", version, about = "Qun: a self-hosted group and chatroom server, Agora Chat compatible")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve(qun_server::config::ServeArgs),
    /// Chat in a group (--group) or with a user (--to) from the terminal: each line you type is
    /// sent, incoming messages and group events are printed.
    Chat(qun_server::chat_cli::ChatArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The chat client's terminal is for the chat: only warnings by default.
    let default_log = match cli.command {
        Command::Serve(_) => "info",
        Command::Chat(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("QUN_LOG").unwrap_or_else(|_| default_log.into()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(async move {
            let config = qun_server::config::Config::resolve(args)?;
            qun_server::serve(config, qun_server::shutdown_signal()).await
        }),
        Command::Chat(args) => runtime.block_on(qun_server::chat_cli::run(args)),
    }
}
