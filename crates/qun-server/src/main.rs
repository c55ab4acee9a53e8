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
    init_logs(default_log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(async move {
            let config = qun_server::config::Config::resolve(args)?;
            qun_server::serve(config, qun_server::shutdown_signal()).await
        }),
        Command::Chat(args) => runtime.block_on(qun_server::chat_cli::run(args)),
    }
}

/// How log lines are written (`QUN_LOG_FORMAT`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LogFormat {
    /// Human-readable lines, coloured when stderr is a terminal (the default).
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, the event's fields.
    Json,
}

impl LogFormat {
    /// `QUN_LOG_FORMAT`: unset or empty is text.
    fn from_env() -> anyhow::Result<LogFormat> {
        match std::env::var("QUN_LOG_FORMAT") {
            Err(std::env::VarError::NotPresent) => Ok(LogFormat::Text),
            Ok(value) if value.is_empty() || value == "text" => Ok(LogFormat::Text),
            Ok(value) if value == "json" => Ok(LogFormat::Json),
            Ok(value) => anyhow::bail!("QUN_LOG_FORMAT must be \"text\" or \"json\", not {value:?}"),
            Err(std::env::VarError::NotUnicode(value)) => {
                anyhow::bail!("QUN_LOG_FORMAT must be \"text\" or \"json\", not {value:?}")
            }
        }
    }
}

/// Logs go to stderr (stdout stays free), filtered by `QUN_LOG` (else `default_log`), in the
/// format of `QUN_LOG_FORMAT`. Text is coloured only when stderr is a terminal and `NO_COLOR`
/// is unset, so files and pipes get no escape codes.
fn init_logs(default_log: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    let format = LogFormat::from_env()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("QUN_LOG").unwrap_or_else(|_| default_log.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
            builder.with_ansi(std::io::stderr().is_terminal() && !no_color).init();
        }
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
    Ok(())
}
