//! `crm-analytics`: customer analytics from transaction files.
//!
//! Run it with, for example:
//!
//! ```text
//! cargo run -p crm-analytics --release -- summarize --input tests/data/cdnow/CDNOW_sample.txt \
//!     --delimiter whitespace --no-header --customer-col 2 --date-col 3 --amount-col 5 \
//!     --period week --observation-end 1998-06-30 --calibration-end 1997-09-30 --output summary.csv
//! cargo run -p crm-analytics --release -- fit --model bgnbd --input summary.csv --period week
//! cargo run -p crm-analytics --release -- fit --model pareto-nbd --input summary.csv --period week
//! cargo run -p crm-analytics --release -- score --input tx.csv --customer-col customer_id \
//!     --date-col date --amount-col amount --period week --output scores.csv
//! ```

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, built to back its memory with transparent huge pages (see
/// `.cargo/config.toml`): the CLI touches tens of megabytes of fresh memory
/// per run, and the kernel's work to fault them in 4 KB pages was about a
/// tenth of a run (benches/README.md, "Huge pages, shared growth points,
/// memory that does not move").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = crm_analytics::Cli::parse();
    match crm_analytics::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
