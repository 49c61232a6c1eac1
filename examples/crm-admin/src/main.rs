//! `crm-admin`: customer files in and out of the CRM.
//!
//! ```text
//! crm-admin import-customers customers.csv --dry-run
//! crm-admin import-customers customers.csv --on-duplicate update --report rejected.csv
//! crm-admin import-customers customers.csv --run-id april      # resumes "april" if it was cut off
//! crm-admin import-purchases purchases.csv
//! crm-admin export-customers --out customers.csv --type wholesale
//! crm-admin export-scores --out scores.csv
//! ```
//!
//! The database is `--database-url`, else `DATABASE_URL`, else
//! `sqlite://crm.db` (the example server's default). Progress goes to
//! standard error; the summary is JSON on standard output.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use crm_core::users::{Actor, Role};
use crm_core::{ActivityFilter, Crm, CustomerQuery, CustomerType, DuplicatePolicy};
use crm_csv::customers::{CustomerColumn, CustomerCsvOptions};
use crm_csv::import::{ImportFileOptions, ImportProgress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "crm-admin",
    version,
    about = "Customer files in and out of the CRM"
)]
struct Cli {
    /// The database (`sqlite://crm.db`, `mysql://user:pass@host/db`);
    /// default `DATABASE_URL`, else `sqlite://crm.db`.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// No progress bar.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import customers from a CSV file (UTF-8, comma, semicolon or tab).
    ImportCustomers(ImportArgs),
    /// Import purchase history from a CSV file (earns no points).
    ImportPurchases(PurchaseArgs),
    /// Export customers as CSV.
    ExportCustomers(ExportArgs),
    /// Export every customer's analytics scores as CSV.
    ExportScores {
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The CSV file.
    file: PathBuf,
    /// Decide every row and report, write nothing to the database.
    #[arg(long)]
    dry_run: bool,
    /// What to do with a row matching a stored customer (same email or phone).
    #[arg(long, value_enum, default_value = "skip")]
    on_duplicate: Policy,
    /// Where to write the rejected rows (default: FILE with `.rejected.csv`).
    #[arg(long)]
    report: Option<PathBuf>,
    /// The run's id: give the id of a run that was cut off to resume it
    /// (default: a new id, printed at the start).
    #[arg(long)]
    run_id: Option<String>,
    /// Column mapping, `HEADER=FIELD` (repeatable), e.g. `"Nama Toko=name"`.
    #[arg(long = "map", value_name = "HEADER=FIELD")]
    map: Vec<String>,
    /// Field separator (default: detected).
    #[arg(long, value_enum)]
    delimiter: Option<Delimiter>,
    /// Rows per batch (one transaction each).
    #[arg(long, default_value_t = crm_csv::import::DEFAULT_BATCH)]
    batch: usize,
}

#[derive(clap::Args)]
struct PurchaseArgs {
    /// The CSV file: `customer_code` (or `customer_id`), `store_id`,
    /// `receipt_id`, `purchase_date`, `total_amount`, optional `currency`.
    file: PathBuf,
    /// Check every row and report, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where to write the rejected rows (default: FILE with `.rejected.csv`).
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only this type.
    #[arg(long = "type", value_enum)]
    customer_type: Option<Type>,
    /// Active (default), inactive or all.
    #[arg(long, value_enum, default_value = "active")]
    status: Status,
    /// Only customers with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Search (name prefix, code, email or phone).
    #[arg(long)]
    q: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Policy {
    Skip,
    Update,
    Report,
}

#[derive(Clone, Copy, ValueEnum)]
enum Delimiter {
    Comma,
    Semicolon,
    Tab,
}

#[derive(Clone, Copy, ValueEnum)]
enum Type {
    Retail,
    Wholesale,
    Distributor,
    Corporate,
}

#[derive(Clone, Copy, ValueEnum)]
enum Status {
    Active,
    Inactive,
    All,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crm-admin: {e}");
            ExitCode::from(2)
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn run(cli: Cli) -> Result<ExitCode, BoxError> {
    let url = cli
        .database_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "sqlite://crm.db".into());
    let store = crm_sqlx::connect(&url).await?;
    let crm = Crm::from_arc(store).acting_as(Actor {
        user: "crm-admin".into(),
        role: Role::Admin,
    });
    let code = match cli.command {
        Command::ImportCustomers(args) => import_customers(&crm, args, cli.quiet).await?,
        Command::ImportPurchases(args) => import_purchases(&crm, args, cli.quiet).await?,
        Command::ExportCustomers(args) => {
            let query = CustomerQuery {
                customer_type: args.customer_type.map(|t| match t {
                    Type::Retail => CustomerType::Retail,
                    Type::Wholesale => CustomerType::Wholesale,
                    Type::Distributor => CustomerType::Distributor,
                    Type::Corporate => CustomerType::Corporate,
                }),
                status: match args.status {
                    Status::Active => ActivityFilter::Active,
                    Status::Inactive => ActivityFilter::Inactive,
                    Status::All => ActivityFilter::All,
                },
                tag: args.tag,
                q: args.q,
                ..CustomerQuery::default()
            };
            let n = with_output(args.out.as_deref(), |out| {
                Box::pin(crm_csv::export::export_customers(&crm, query, out))
            })
            .await?;
            eprintln!("exported {n} customers");
            ExitCode::SUCCESS
        }
        Command::ExportScores { out } => {
            let n = with_output(out.as_deref(), |out| {
                Box::pin(crm_csv::export::export_scores(&crm, out))
            })
            .await?;
            eprintln!("exported the scores of {n} customers");
            ExitCode::SUCCESS
        }
    };
    crm.close().await;
    Ok(code)
}

type Export<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<u64, crm_csv::export::ExportError>> + 'a>,
>;

/// Runs an export into a file (written beside and renamed when complete,
/// so a failed export leaves no partial file) or standard output.
async fn with_output<'a>(
    path: Option<&Path>,
    export: impl FnOnce(Box<dyn std::io::Write + 'a>) -> Export<'a>,
) -> Result<u64, BoxError> {
    match path {
        None => {
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            Ok(export(Box::new(out)).await?)
        }
        Some(path) => {
            let partial = path.with_extension("partial");
            let file = std::fs::File::create(&partial)
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            let n = export(Box::new(std::io::BufWriter::new(file))).await?;
            std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(n)
        }
    }
}

fn progress_bar(quiet: bool, len: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        len,
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {msg} [{elapsed_precise}, {eta} left]",
    ) {
        bar.set_style(style);
    }
    bar
}

fn report_path(file: &Path, report: Option<PathBuf>) -> PathBuf {
    report.unwrap_or_else(|| file.with_extension("rejected.csv"))
}

async fn import_customers(crm: &Crm, args: ImportArgs, quiet: bool) -> Result<ExitCode, BoxError> {
    let mut mapping = Vec::new();
    for m in &args.map {
        let Some((header, field)) = m.rsplit_once('=') else {
            return Err(format!("--map {m:?}: expected HEADER=FIELD").into());
        };
        let column = CustomerColumn::parse(field.trim()).ok_or_else(|| {
            format!(
                "--map {m:?}: unknown field {field:?} (name, email, phone, customer_type, credit_limit, address.line1, address.line2, address.city, address.province, address.postal_code, address.country, birthday, tags)"
            )
        })?;
        mapping.push((header.trim().to_string(), column));
    }
    let run_id = match (&args.run_id, args.dry_run) {
        (Some(id), _) => Some(id.clone()),
        (None, true) => None,
        (None, false) => Some(format!("cli-{}-{}", run_stamp(), std::process::id())),
    };
    if let (Some(id), None) = (&run_id, &args.run_id) {
        eprintln!("run id {id}: if this run is cut off, resume it with --run-id {id}");
    }
    let report = report_path(&args.file, args.report);
    let options = ImportFileOptions {
        csv: CustomerCsvOptions {
            delimiter: args.delimiter.map(|d| match d {
                Delimiter::Comma => b',',
                Delimiter::Semicolon => b';',
                Delimiter::Tab => b'\t',
            }),
            mapping,
        },
        on_duplicate: match args.on_duplicate {
            Policy::Skip => DuplicatePolicy::Skip,
            Policy::Update => DuplicatePolicy::Update,
            Policy::Report => DuplicatePolicy::Report,
        },
        dry_run: args.dry_run,
        run_id,
        batch_size: Some(args.batch),
        report: Some(report.clone()),
    };
    let size = std::fs::metadata(&args.file).map(|m| m.len()).ok();
    let bar = Arc::new(progress_bar(quiet, size));
    let dry_run = args.dry_run;
    let shown = bar.clone();
    let summary = crm_csv::import::import_customers_file(
        crm,
        &args.file,
        &options,
        move |p: &ImportProgress<'_>| {
            shown.set_position(p.bytes_read);
            let t = p.totals;
            shown.set_message(format!(
                "{} rows: {} created, {} updated, {} skipped, {} duplicates, {} rejected",
                t.rows, t.created, t.updated, t.skipped, t.duplicates, t.rejected
            ));
            if dry_run {
                // A dry run lists every rejected row as it goes.
                shown.suspend(|| {
                    let mut err = std::io::stderr().lock();
                    for i in &p.batch.issues {
                        let _ = writeln!(
                            err,
                            "line {}: {} {} ({}): {}",
                            i.line,
                            i.status.as_str(),
                            i.field,
                            i.rule,
                            i.message
                        );
                    }
                });
            }
        },
    )
    .await?;
    bar.finish_and_clear();
    let mut out = serde_json::to_value(&summary)?;
    if let Some(o) = out.as_object_mut() {
        // The report file holds every issue; the summary keeps stdout short.
        o.remove("issues");
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    let t = summary.totals;
    eprintln!(
        "{}{} rows: {} created, {} updated, {} unchanged, {} skipped, {} duplicates, {} rejected{}",
        if dry_run {
            "dry run, nothing written: "
        } else {
            ""
        },
        t.rows,
        t.created,
        t.updated,
        t.unchanged,
        t.skipped,
        t.duplicates,
        t.rejected,
        if summary.issues.is_empty() {
            String::new()
        } else {
            format!("; report: {}", report.display())
        }
    );
    Ok(if t.rejected > 0 || t.duplicates > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn import_purchases(
    crm: &Crm,
    args: PurchaseArgs,
    quiet: bool,
) -> Result<ExitCode, BoxError> {
    let report = report_path(&args.file, args.report);
    let size = std::fs::metadata(&args.file).map(|m| m.len()).ok();
    let bar = Arc::new(progress_bar(quiet, size));
    let shown = bar.clone();
    let summary = crm_csv::purchases::import_purchases_file(
        crm,
        &args.file,
        &crm_csv::purchases::PurchaseFileOptions {
            dry_run: args.dry_run,
            report: Some(report.clone()),
            ..Default::default()
        },
        move |bytes, t| {
            shown.set_position(bytes);
            shown.set_message(format!(
                "{} rows: {} imported, {} already stored, {} rejected",
                t.rows, t.created, t.skipped, t.rejected
            ));
        },
    )
    .await?;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&summary)?);
    let t = summary.totals;
    eprintln!(
        "{}{} rows: {} imported, {} already stored, {} rejected{}",
        if args.dry_run {
            "dry run, nothing written: "
        } else {
            ""
        },
        t.rows,
        t.created,
        t.skipped,
        t.rejected,
        if t.rejected > 0 {
            format!("; report: {}", report.display())
        } else {
            String::new()
        }
    );
    Ok(if t.rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The current UTC time as `YYYYMMDDTHHMMSS`, for run ids.
fn run_stamp() -> String {
    use crm_core::Clock as _;
    crm_core::SystemClock
        .now()
        .format("%Y%m%dT%H%M%S")
        .to_string()
}
