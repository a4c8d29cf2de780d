//! `federation-apiserver`: parses arguments and runs the library's server.

use clap::Parser;
use federation_apiserver::server::{self, ServerConfig};

/// mimalloc: the server allocates and frees many small JSON values per
/// request; glibc malloc was a third of its CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Flotilla's Kubernetes-compatible federation API server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: ServerConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let running = server::start(
        cli.config,
        federation_apiserver::flotilla_kinds::federation_registry(),
        server::shutdown_signal(),
    )
    .await?;
    println!(
        "federation-apiserver listening on https://{} (kubeconfig: {})",
        running.addr,
        running.kubeconfig.display()
    );
    running.wait().await?;
    Ok(())
}
