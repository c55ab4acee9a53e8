//! The `qun` binary: `qun serve` starts the server.

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("QUN_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(async move {
            let config = qun_server::config::Config::resolve(args)?;
            qun_server::serve(config, qun_server::shutdown_signal()).await
        }),
    }
}
