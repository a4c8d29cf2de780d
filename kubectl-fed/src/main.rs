//! `kubectl-fed` (`kubectl fed ...` once on PATH): parses arguments and runs
//! the command.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = kubectl_fed::Cli::parse();
    kubectl_fed::init_logging(&cli);
    match kubectl_fed::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
