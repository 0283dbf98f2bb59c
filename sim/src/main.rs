//! `logplane-sim`: drives real `logplane serve` processes with simulated data-plane workers or
//! collection agents, measures what their users would notice (balance, movement, time to
//! recover from a crash or a leader's death, time for a config change to reach every agent,
//! server memory per waiting agent) and, with `--report`, writes the figures and the goals they
//! are held to into `docs/benchmarks.md`. See `sim/README.md`.

mod agents;
mod cluster;
mod loads;
mod stats;
mod workers;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "logplane-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A pool of simulated workers: balance, moves against the minimum, crash and leader
    /// failover times, and any moment two workers could write the same keys.
    Workers(workers::Options),
    /// A fleet of simulated agents long-polling one server: propagation of config changes,
    /// server memory per waiting agent, bytes and round trips while nothing changes; and the
    /// same fleet polling on a fixed interval as the baseline.
    Agents(agents::Options),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Workers(options) => workers::run(options).await,
        Command::Agents(options) => agents::run(options).await,
    }
}
