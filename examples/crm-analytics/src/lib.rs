//! The `crm-analytics` command-line tool: customer analytics from a CSV of
//! transactions, for analysts without Rust or Python.
//!
//! - `summarize`: transactions to one `customer_id,frequency,recency,T,monetary_value` row per customer.
//! - `fit`: a BG/NBD, MBG/NBD, Pareto/NBD, BG/BB or Gamma-Gamma fit of such a summary, as
//!   JSON: estimates, standard errors and 95% intervals, diagnostics.
//! - `score`: one row per customer with RFM, CLV, churn and forecasts.
//!
//! All computation is `crm_core::analytics`; this crate only reads files,
//! writes files and reports bad input as one line naming file, line and column.

pub mod evaluate;
pub mod progress;

/// Reading transaction and summary files: [`crm_csv::transactions`].
pub use crm_csv::transactions as input;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use crm_core::analytics::{
    AnalyticsConfig, AnalyticsModel, BgBbData, BgBbModel, BgNbdData, BgNbdModel, BgNbdParams,
    CustomerSummary, FitOptions, GammaGammaData, GammaGammaModel, GammaGammaParams, MbgNbdData,
    MbgNbdModel, ParetoNbdData, ParetoNbdModel, PeriodUnit, Simulation, SummaryBuilder,
    SummaryOptions, SummaryReport,
};
use rust_decimal::Decimal;

use crate::input::{Delimiter, ReadError, SummaryFile, TransactionFile};
use crate::progress::Progress;

/// Everything that can go wrong, as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input at a place in a file.
    #[error("{file}:{line}: {}{message}", column.as_ref().map(|c| format!("column {c:?}: ")).unwrap_or_default())]
    Input {
        /// The file.
        file: String,
        /// 1-based line (1 is the header).
        line: u64,
        /// The column, when one is to blame.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A file could not be opened, read or written.
    #[error("{0}")]
    Io(String),
    /// The analytics refused the data or settings.
    #[error("{0}")]
    Analytics(#[from] crm_core::Error),
}

impl From<ReadError> for CliError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Input {
                file,
                line,
                column,
                message,
            } => Self::Input {
                file,
                line,
                column,
                message,
            },
            other => Self::Io(other.to_string()),
        }
    }
}

/// Customer analytics from transaction files: RFM segments, BG/NBD churn,
/// Gamma-Gamma spend and lifetime value.
#[derive(Debug, Parser)]
#[command(name = "crm-analytics", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// No progress bar.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print how long each step took (reading, fitting, scoring ...) to
    /// standard error; on Linux also its page faults and the resident
    /// memory at its end.
    #[arg(long, global = true)]
    pub timings: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarise transactions per customer: customer_id,frequency,recency,T,monetary_value.
    Summarize(SummarizeArgs),
    /// Fit BG/NBD, MBG/NBD, Pareto/NBD, BG/BB or Gamma-Gamma on a summary CSV and print the
    /// estimates, their standard errors and 95% intervals and the fit
    /// diagnostics as JSON.
    Fit(FitArgs),
    /// Score every customer: RFM, segment, CLV, P(alive), churn risk, 90-day forecast.
    Score(ScoreArgs),
    /// Generate synthetic transactions from the BG/NBD and Gamma-Gamma
    /// processes (seeded: the same arguments give the same file).
    Simulate(SimulateArgs),
    /// Fit BG/NBD, MBG/NBD and Pareto/NBD before --calibration-end, score
    /// their predictions of each customer's purchases after it, and choose
    /// a model: JSON report, short table on standard error.
    Evaluate(evaluate::EvaluateArgs),
}

/// `simulate` options; the defaults make about ten purchases per customer
/// (the benchmark data of `benches/`).
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of customers.
    #[arg(long, default_value_t = 100_000)]
    pub customers: u64,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Unit of the BG/NBD parameters.
    #[arg(long, value_parser = parse_period, default_value = "week")]
    pub period: PeriodUnit,
    /// BG/NBD r.
    #[arg(long, default_value_t = BENCH_SIMULATION.bgnbd.r)]
    pub r: f64,
    /// BG/NBD alpha (in --period units).
    #[arg(long, default_value_t = BENCH_SIMULATION.bgnbd.alpha)]
    pub alpha: f64,
    /// BG/NBD a.
    #[arg(long, default_value_t = BENCH_SIMULATION.bgnbd.a)]
    pub a: f64,
    /// BG/NBD b.
    #[arg(long, default_value_t = BENCH_SIMULATION.bgnbd.b)]
    pub b: f64,
    /// Gamma-Gamma p.
    #[arg(long, default_value_t = BENCH_SIMULATION.spend.p)]
    pub p: f64,
    /// Gamma-Gamma q.
    #[arg(long, default_value_t = BENCH_SIMULATION.spend.q)]
    pub q: f64,
    /// Gamma-Gamma gamma.
    #[arg(long, default_value_t = BENCH_SIMULATION.spend.gamma)]
    pub gamma: f64,
    /// First day of first purchases.
    #[arg(long, value_parser = parse_day, default_value = "2024-01-01")]
    pub start: NaiveDate,
    /// First purchases spread over this many days.
    #[arg(long, default_value_t = BENCH_SIMULATION.cohort_days)]
    pub cohort_days: u32,
    /// Last day observed.
    #[arg(long, value_parser = parse_day, default_value = "2025-12-31")]
    pub observation_end: NaiveDate,
    /// Row order of the output: `date` (as a till or an export writes
    /// them: by day, customers interleaved) or `customer` (grouped by
    /// customer, each in date order; streams without holding the data).
    #[arg(long, value_enum, default_value = "date")]
    pub order: SimulateOrder,
    /// Output CSV `customer_id,date,amount` (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Row order of `simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimulateOrder {
    /// By date; within a day, customers in a seeded pseudo-random order.
    Date,
    /// By customer id, each customer's purchases in date order.
    Customer,
}

/// The benchmark data: about ten purchases per customer over two years,
/// weekly parameters. `benches/` and `benches/reference/` use it with
/// customers = 100,000 and 1,000,000.
pub const BENCH_SIMULATION: Simulation = Simulation {
    customers: 100_000,
    bgnbd: BgNbdParams {
        r: 1.5,
        alpha: 9.0,
        a: 0.8,
        b: 14.0,
    },
    spend: GammaGammaParams {
        p: 6.0,
        q: 4.0,
        gamma: 60.0,
    },
    unit: PeriodUnit::Week,
    first_purchase_from: match NaiveDate::from_ymd_opt(2024, 1, 1) {
        Some(d) => d,
        None => NaiveDate::MIN,
    },
    cohort_days: 365,
    observation_end: match NaiveDate::from_ymd_opt(2025, 12, 31) {
        Some(d) => d,
        None => NaiveDate::MAX,
    },
    seed: 2026,
};

/// Which transaction file, which columns, which periods.
#[derive(Debug, Args)]
pub struct TransactionArgs {
    /// The transactions file.
    #[arg(long)]
    pub input: PathBuf,
    /// Column of the customer id (a header name, or a 1-based position with --no-header).
    #[arg(long)]
    pub customer_col: String,
    /// Column of the purchase date (YYYY-MM-DD, YYYYMMDD or RFC 3339; UTC).
    #[arg(long)]
    pub date_col: String,
    /// Column of the amount paid; without it, spend-based results are 0 or empty.
    #[arg(long)]
    pub amount_col: Option<String>,
    /// Time unit of recency, T and the models.
    #[arg(long, value_parser = parse_period)]
    pub period: PeriodUnit,
    /// Last day observed (inclusive); default: the latest purchase date.
    #[arg(long, value_parser = parse_day)]
    pub observation_end: Option<NaiveDate>,
    /// Last day of the calibration period (inclusive): adds holdout columns.
    #[arg(long, value_parser = parse_day)]
    pub calibration_end: Option<NaiveDate>,
    /// Field separator.
    #[arg(long, value_enum, default_value = "comma")]
    pub delimiter: Delimiter,
    /// The file has no header line; columns are 1-based positions.
    #[arg(long)]
    pub no_header: bool,
    /// chrono format of the dates (e.g. %d/%m/%Y) when not ISO 8601.
    #[arg(long)]
    pub date_format: Option<String>,
    /// Sort transactions in memory first (memory grows with transactions);
    /// needed only when a customer's purchases are not in date order.
    #[arg(long)]
    pub sort: bool,
}

/// `summarize` options.
#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Input and columns.
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// Output CSV (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// The models `fit` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// BG/NBD purchase and drop-out model (columns frequency, recency, T).
    Bgnbd,
    /// MBG/NBD: BG/NBD where a customer may also drop out at the first
    /// purchase (columns frequency, recency, T).
    MbgNbd,
    /// Pareto/NBD purchase and drop-out model (columns frequency, recency, T).
    ParetoNbd,
    /// Gamma-Gamma spend model (columns frequency, monetary_value; repeat customers).
    GammaGamma,
    /// BG/BB for discrete opportunities (columns frequency, recency and
    /// periods as whole numbers of opportunities, optional weights).
    BgBb,
}

/// `fit` options.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Which model.
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// Summary CSV as written by `summarize`.
    #[arg(long)]
    pub input: PathBuf,
    /// L2 penalty coefficient (same scale as lifetimes' penalizer_coef).
    #[arg(long, default_value_t = 0.0)]
    pub penalty: f64,
    /// The unit recency and T are in, reported with the estimates.
    #[arg(long, value_parser = parse_period)]
    pub period: Option<PeriodUnit>,
}

/// `score` options.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Input and columns.
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// Output CSV (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// JSON file of analytics settings (thresholds, actions, CLV horizon ...).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Gross margin for both CLVs (default 0.20).
    #[arg(long)]
    pub margin: Option<Decimal>,
    /// Cost per transaction of the guide's CLV (default 50).
    #[arg(long)]
    pub cost_per_transaction: Option<Decimal>,
    /// Write the fitted model snapshot (JSON) here, for offline scoring.
    #[arg(long)]
    pub snapshot_out: Option<PathBuf>,
    /// Score with this snapshot instead of fitting.
    #[arg(long)]
    pub snapshot_in: Option<PathBuf>,
}

fn parse_period(s: &str) -> Result<PeriodUnit, String> {
    s.parse().map_err(|e: crm_core::Error| e.to_string())
}

fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y%m%d"))
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let progress = Progress::new(cli.quiet).with_timings(cli.timings);
    let result = match cli.command {
        Command::Summarize(args) => summarize(&args, &progress),
        Command::Fit(args) => fit(&args),
        Command::Score(args) => score(&args, &progress, cli.quiet),
        Command::Simulate(args) => simulate(&args, &progress),
        Command::Evaluate(args) => evaluate::run(&args, &progress, cli.quiet),
    };
    progress.clear();
    result
}

impl TransactionArgs {
    fn file(&self) -> TransactionFile {
        TransactionFile {
            path: self.input.clone(),
            customer_col: self.customer_col.clone(),
            date_col: self.date_col.clone(),
            amount_col: self.amount_col.clone(),
            delimiter: self.delimiter,
            has_header: !self.no_header,
            date_format: self.date_format.clone(),
        }
    }

    fn options(&self) -> SummaryOptions {
        SummaryOptions {
            unit: self.period,
            observation_end: self.observation_end,
            calibration_end: self.calibration_end,
        }
    }

    /// Summarises the file in one pass (memory grows with customers only,
    /// unless `--sort`): a second thread reads and parses while this one
    /// summarises. Customer ids are numbers until the first one that is not.
    pub fn summarize(&self, progress: &Progress) -> Result<Summaries, CliError> {
        let file = self.file();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        // Room for as many customers as a part of the file can hold lines
        // (at most `CUSTOMERS_HINT`): the tallies then never move as they
        // grow. Room not used is never touched, so costs no memory.
        let bytes = std::fs::metadata(&self.input).map_or(0, |m| m.len());
        let room = |parts: u64| {
            usize::try_from((bytes / parts / MIN_LINE_BYTES).min(CUSTOMERS_HINT)).unwrap_or(0)
        };
        let in_context = |e: crm_core::Error, line: u64| -> CliError {
            let column = e.field_errors().first().map(|f| match f.field.as_str() {
                "date" => self.date_col.clone(),
                "amount" => self.amount_col.clone().unwrap_or_default(),
                other => other.to_owned(),
            });
            let mut message = e
                .field_errors()
                .first()
                .map_or_else(|| e.to_string(), |f| f.message.clone());
            if e.field_errors().first().is_some_and(|f| f.rule == "order") {
                message.push_str(" (or pass --sort)");
            }
            CliError::Input {
                file: self.input.display().to_string(),
                line,
                column,
                message,
            }
        };
        if self.sort {
            let mut rows: Vec<(String, NaiveDate, Decimal)> = Vec::new();
            file.for_each(progress, |row| -> Result<(), CliError> {
                rows.push((row.customer.to_text(), row.date, row.amount));
                Ok(())
            })?;
            progress.step("sorting transactions");
            rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            let Some(mut text) = Builder::with_capacity(self.options(), 0)?.into_text() else {
                return Err(CliError::Io("no summary builder".into()));
            };
            for (customer, date, amount) in rows {
                text.add(customer.as_str(), date, amount)
                    .map_err(|e| in_context(e, 0))?;
            }
            return Ok(Summaries::Text(text.finish()));
        }
        let add = |builder: &mut Builder, batch: &input::Batch| -> Result<(), CliError> {
            let mut rows = batch.rows().peekable();
            let mut window = Vec::with_capacity(WARM_WINDOW);
            while rows.peek().is_some() {
                window.clear();
                window.extend(rows.by_ref().take(WARM_WINDOW));
                builder.warm(&window);
                for row in &window {
                    builder.add(row).map_err(|e| in_context(e, row.line))?;
                }
            }
            Ok(())
        };
        // The CLI owns the machine: one part of the file per core, each
        // read and summarised on its own, then joined (without a holdout
        // period, whose customers first seen late cannot be joined). Where
        // that is not possible (quotes, a small file, an error past the
        // first part, purchases out of order across parts), the file is
        // read once more in one stream, which reports the first error.
        if threads > 1 && self.calibration_end.is_none() {
            let states = (0..threads)
                .map(|_| Builder::with_capacity(self.options(), room(threads as u64)))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(parts) = file.for_each_batch_in_parts(progress, states, add)? {
                progress.step("finishing summaries");
                if let Ok(summaries) = Builder::finish_parts(parts) {
                    return Ok(summaries);
                }
            }
        }
        let mut builder = Builder::with_capacity(self.options(), room(1))?;
        file.for_each_batch(progress, |batch| add(&mut builder, batch))?;
        progress.step("finishing summaries");
        Ok(builder.finish())
    }
}

/// Summaries keyed by number when every customer id of the file is a
/// number as it prints, else by text.
#[derive(Debug)]
pub enum Summaries {
    /// Every id was a canonical number.
    Numbers(SummaryReport<u64>),
    /// At least one id was not.
    Text(SummaryReport<String>),
}

impl Summaries {
    /// The summaries with text keys.
    pub fn into_text(self) -> SummaryReport<String> {
        match self {
            Self::Text(report) => report,
            Self::Numbers(report) => SummaryReport {
                summaries: report
                    .summaries
                    .into_iter()
                    .map(|s| CustomerSummary {
                        customer: s.customer.to_string(),
                        frequency: s.frequency,
                        recency: s.recency,
                        t: s.t,
                        monetary_value: s.monetary_value,
                        total_spend: s.total_spend,
                        holdout: s.holdout,
                    })
                    .collect(),
                unit: report.unit,
                observation_end: report.observation_end,
                calibration_end: report.calibration_end,
                purchases: report.purchases,
                ignored_after_end: report.ignored_after_end,
                holdout_only_customers: report.holdout_only_customers,
            },
        }
    }
}

/// Purchases whose customers' tallies are fetched together (see
/// [`SummaryBuilder::warm`]).
const WARM_WINDOW: usize = 128;

/// The shortest line of a transactions file (`1,2024-01-01,1` and its end):
/// a file of `n` bytes holds at most `n / MIN_LINE_BYTES` customers.
const MIN_LINE_BYTES: u64 = 15;

/// Most customers a summary builder reserves room for from the file's size
/// (tallies of 44 bytes: 46 MB of address space, only touched as used).
const CUSTOMERS_HINT: u64 = 1 << 20;

/// The summary builder: numeric keys until the first id that is not a
/// number, text keys from then on.
struct Builder {
    numbers: Option<SummaryBuilder<u64>>,
    text: Option<SummaryBuilder<String>>,
    scratch: String,
}

impl Builder {
    /// A builder with room for `customers` (see
    /// [`SummaryBuilder::with_capacity`]).
    fn with_capacity(options: SummaryOptions, customers: usize) -> Result<Self, crm_core::Error> {
        Ok(Self {
            numbers: Some(SummaryBuilder::with_capacity(options, customers)?),
            text: None,
            scratch: String::new(),
        })
    }

    #[inline]
    fn add(&mut self, row: &input::Row<'_>) -> Result<(), crm_core::Error> {
        use crate::input::CustomerRef;
        use std::fmt::Write as _;
        match (&mut self.numbers, row.customer) {
            (Some(b), CustomerRef::Number(n)) => return b.add(&n, row.date, row.amount),
            (Some(_), CustomerRef::Text(_)) => self.switch_to_text(),
            (None, _) => {}
        }
        let Some(text) = self.text.as_mut() else {
            return Ok(());
        };
        match row.customer {
            CustomerRef::Text(t) => text.add(t, row.date, row.amount),
            CustomerRef::Number(n) => {
                self.scratch.clear();
                let _ = write!(self.scratch, "{n}");
                text.add(self.scratch.as_str(), row.date, row.amount)
            }
        }
    }

    /// Fetches the tallies of these rows' customers together (numeric
    /// keys; text keys are looked up as they come).
    fn warm(&self, rows: &[input::Row<'_>]) {
        if let Some(numbers) = &self.numbers {
            numbers.warm(rows.iter().filter_map(|r| match &r.customer {
                input::CustomerRef::Number(n) => Some(n),
                input::CustomerRef::Text(_) => None,
            }));
        }
    }

    #[cold]
    fn switch_to_text(&mut self) {
        if let Some(numbers) = self.numbers.take() {
            self.text = Some(numbers.map_keys(|k| k.to_string()));
        }
    }

    /// The summaries of a file read in parts, one builder per part in
    /// file order (see [`SummaryBuilder::finish_parts_parallel`]); text
    /// keys if any part has them.
    fn finish_parts(parts: Vec<Builder>) -> Result<Summaries, crm_core::Error> {
        if parts.iter().all(|b| b.numbers.is_some()) {
            let numbers = parts.into_iter().filter_map(|b| b.numbers).collect();
            return Ok(Summaries::Numbers(SummaryBuilder::finish_parts_parallel(
                numbers,
            )?));
        }
        let text = parts.into_iter().filter_map(Builder::into_text).collect();
        Ok(Summaries::Text(SummaryBuilder::finish_parts_parallel(
            text,
        )?))
    }

    fn into_text(mut self) -> Option<SummaryBuilder<String>> {
        self.switch_to_text();
        self.text
    }

    fn finish(self) -> Summaries {
        match (self.numbers, self.text) {
            (Some(b), _) => Summaries::Numbers(b.finish_parallel()),
            (None, Some(b)) => Summaries::Text(b.finish_parallel()),
            (None, None) => unreachable!("a builder holds numbers or text"),
        }
    }
}

fn create(path: &Option<PathBuf>) -> Result<Box<dyn Write>, CliError> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(p).map_err(|e| CliError::Io(format!("{}: {e}", p.display())))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

fn csv_error(path: &Option<PathBuf>) -> impl Fn(csv::Error) -> CliError + '_ {
    move |e| {
        CliError::Io(format!(
            "{}: {e}",
            path.as_deref()
                .map_or("standard output".into(), |p| p.display().to_string())
        ))
    }
}

fn summarize(args: &SummarizeArgs, progress: &Progress) -> Result<(), CliError> {
    match args.transactions.summarize(progress)? {
        Summaries::Numbers(report) => write_summaries(args, &report),
        Summaries::Text(report) => write_summaries(args, &report),
    }
}

fn write_summaries<K: std::fmt::Display>(
    args: &SummarizeArgs,
    report: &SummaryReport<K>,
) -> Result<(), CliError> {
    use std::fmt::Write as _;
    let holdout = report.calibration_end.is_some();
    let mut out = csv::Writer::from_writer(create(&args.output)?);
    let err = csv_error(&args.output);
    let mut header = vec!["customer_id", "frequency", "recency", "T", "monetary_value"];
    if holdout {
        header.extend([
            "frequency_holdout",
            "monetary_value_holdout",
            "duration_holdout",
        ]);
    }
    out.write_record(&header).map_err(&err)?;
    let mut field = String::new();
    let mut put = |out: &mut csv::Writer<Box<dyn Write>>, value: &dyn std::fmt::Display| {
        field.clear();
        let _ = write!(field, "{value}");
        out.write_field(&field)
    };
    for s in &report.summaries {
        put(&mut out, &s.customer).map_err(&err)?;
        put(&mut out, &s.frequency).map_err(&err)?;
        put(&mut out, &s.recency).map_err(&err)?;
        put(&mut out, &s.t).map_err(&err)?;
        put(&mut out, &Money(s.monetary_value)).map_err(&err)?;
        if let Some(h) = &s.holdout {
            put(&mut out, &h.frequency).map_err(&err)?;
            put(&mut out, &Money(h.monetary_value)).map_err(&err)?;
            put(&mut out, &h.duration).map_err(&err)?;
        }
        out.write_record(None::<&[u8]>).map_err(&err)?;
    }
    out.flush()
        .map_err(|e| CliError::Io(format!("cannot write the output: {e}")))?;
    Ok(())
}

/// An amount as the CLI prints it: at most 6 decimals, no trailing zeros.
struct Money(Decimal);

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0.round_dp(6).normalize(), f)
    }
}

fn fit(args: &FitArgs) -> Result<(), CliError> {
    let file = SummaryFile { path: &args.input };
    let options = FitOptions {
        penalty: args.penalty,
        ..FitOptions::default()
    };
    let unit = args.period;
    // The purchase and drop-out models read the same columns and report
    // the same way.
    macro_rules! fit_btyd {
        ($data:ty, $model:ty, $name:literal) => {{
            let rows = file.read(&["frequency", "recency", "T"])?;
            let data = <$data>::from_rows(
                unit.unwrap_or_default(),
                rows.iter()
                    .map(|r| (r.frequency, r.recency.unwrap_or(0.0), r.t.unwrap_or(0.0))),
            )
            .map_err(|e| row_error(&args.input, &rows, e))?;
            let model = <$model>::fit(&data, &options)?;
            FitReport::new(
                $name,
                &model.params,
                &model.standard_errors,
                model.diagnostics,
                unit,
            )
        }};
    }
    let json = match args.model {
        ModelKind::Bgnbd => fit_btyd!(BgNbdData, BgNbdModel, "bgnbd"),
        ModelKind::MbgNbd => fit_btyd!(MbgNbdData, MbgNbdModel, "mbg-nbd"),
        ModelKind::ParetoNbd => fit_btyd!(ParetoNbdData, ParetoNbdModel, "pareto-nbd"),
        ModelKind::BgBb => {
            let rows = file.read(&["frequency", "recency", "periods"])?;
            let whole = |r: &crate::input::SummaryRow, v: Option<f64>, column: &str| {
                v.filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x <= f64::from(u32::MAX))
                    .map(|x| x as u32)
                    .ok_or_else(|| CliError::Input {
                        file: args.input.display().to_string(),
                        line: r.line,
                        column: Some(column.into()),
                        message: "a whole number of opportunities >= 0 is required".into(),
                    })
            };
            let mut histories = Vec::with_capacity(rows.len());
            for r in &rows {
                histories.push((
                    r.frequency,
                    whole(r, r.recency, "recency")?,
                    whole(r, r.periods, "periods")?,
                    r.weights.unwrap_or(1.0),
                ));
            }
            let data = BgBbData::from_weighted_rows(histories)
                .map_err(|e| row_error(&args.input, &rows, e))?;
            let model = BgBbModel::fit(&data, &options)?;
            FitReport::new(
                "bg-bb",
                &model.params,
                &model.standard_errors,
                model.diagnostics,
                None,
            )
        }
        ModelKind::GammaGamma => {
            let rows: Vec<_> = file
                .read(&["frequency", "monetary_value"])?
                .into_iter()
                .filter(|r| r.frequency > 0)
                .collect();
            let data = GammaGammaData::from_rows(
                rows.iter()
                    .map(|r| (r.frequency, r.monetary_value.unwrap_or_default())),
            )
            .map_err(|e| row_error(&args.input, &rows, e))?;
            let model = GammaGammaModel::fit(&data, &options)?;
            FitReport::new(
                "gamma-gamma",
                &model.params,
                &model.standard_errors,
                model.diagnostics,
                None,
            )
        }
    };
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| CliError::Io(format!("cannot write JSON: {e}")))?;
    writeln!(std::io::stdout().lock(), "{text}")
        .map_err(|e| CliError::Io(format!("cannot write to standard output: {e}")))
}

impl FitReport {
    fn new(
        model: &'static str,
        params: &impl serde::Serialize,
        standard_errors: &impl serde::Serialize,
        diagnostics: crm_core::analytics::FitDiagnostics,
        unit: Option<PeriodUnit>,
    ) -> Self {
        Self {
            model,
            params: serde_json::json!(params),
            standard_errors: serde_json::json!(standard_errors),
            log_likelihood: diagnostics.log_likelihood,
            converged: diagnostics.converged,
            unit,
            diagnostics,
        }
    }
}

/// What `fit` prints, in this key order.
#[derive(Debug, serde::Serialize)]
struct FitReport {
    model: &'static str,
    params: serde_json::Value,
    /// Per parameter: `estimate`, `standard_error`, `lower_95`, `upper_95`
    /// (Wald interval); `null` when the Hessian at the estimates is not
    /// positive definite.
    standard_errors: serde_json::Value,
    log_likelihood: f64,
    converged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<PeriodUnit>,
    diagnostics: crm_core::analytics::FitDiagnostics,
}

/// Maps a core "row N" validation error back to the file line.
fn row_error(path: &Path, rows: &[input::SummaryRow], e: crm_core::Error) -> CliError {
    let Some(field) = e.field_errors().first() else {
        return e.into();
    };
    let row = field
        .message
        .strip_prefix("row ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<usize>().ok());
    match row.and_then(|i| rows.get(i)) {
        Some(r) => CliError::Input {
            file: path.display().to_string(),
            line: r.line,
            column: Some(field.field.clone()),
            message: field
                .message
                .split_once(": ")
                .map_or(field.message.clone(), |(_, m)| m.to_owned()),
        },
        None => e.into(),
    }
}

fn score(args: &ScoreArgs, progress: &Progress, quiet: bool) -> Result<(), CliError> {
    let tx = &args.transactions;
    let mut config =
        match &args.config {
            Some(path) => serde_json::from_str::<AnalyticsConfig>(&input::read_text(path)?)
                .map_err(|e| CliError::Input {
                    file: path.display().to_string(),
                    line: e.line() as u64,
                    column: None,
                    message: format!("not an analytics config: {e}"),
                })?,
            None => AnalyticsConfig::new(),
        };
    if let Some(margin) = args.margin {
        config.heuristic_clv.gross_margin = margin;
        config.model_clv.margin = margin;
    }
    if let Some(cost) = args.cost_per_transaction {
        config.heuristic_clv.cost_per_transaction = cost;
    }
    // The scores need no standard errors; a saved model keeps them.
    let standard_errors = args.snapshot_out.is_some();
    config.bgnbd_fit.standard_errors = standard_errors;
    config.gamma_gamma_fit.standard_errors = standard_errors;
    config.validate()?;

    match tx.summarize(progress)? {
        Summaries::Numbers(report) => score_report(args, config, report, progress, quiet),
        Summaries::Text(report) => score_report(args, config, report, progress, quiet),
    }
}

fn score_report<K: CsvField + Clone + Send + Sync>(
    args: &ScoreArgs,
    config: AnalyticsConfig,
    report: SummaryReport<K>,
    progress: &Progress,
    quiet: bool,
) -> Result<(), CliError> {
    let tx = &args.transactions;
    let mut opening = None;
    let model = match &args.snapshot_in {
        Some(path) => {
            let model = AnalyticsModel::from_snapshot_json(&input::read_text(path)?)?;
            if model.unit != tx.period {
                return Err(CliError::Io(format!(
                    "{}: the snapshot is in {}s, --period says {}",
                    path.display(),
                    model.unit,
                    tx.period
                )));
            }
            model
        }
        None => {
            progress.step("fitting models");
            // Emptying the file a previous run left (the kernel frees its
            // cached pages one by one: several milliseconds) overlaps the
            // fits, now that the input has been read without error.
            if let (Some(path), false) = (&args.output, report.summaries.is_empty()) {
                let path = path.clone();
                opening = Some(std::thread::spawn(move || File::create(path)));
            }
            // The CLI owns the machine: both fits at once.
            AnalyticsModel::fit_parallel(tx.period, &report.summaries, config)?
        }
    };
    if let Some(path) = &args.snapshot_out {
        let json = model.to_snapshot_json()?;
        std::fs::write(path, json).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    }
    if !quiet {
        for note in &model.notes {
            progress.println(&format!("note: {note}"));
        }
    }

    let mut out: Box<dyn Write> = match (opening, &args.output) {
        (Some(opening), Some(path)) => {
            let file = opening
                .join()
                .map_err(|_| CliError::Io(format!("{}: could not be opened", path.display())))?
                .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
            // Chunks of rows go straight to the file: no copy into a buffer.
            Box::new(file)
        }
        _ => create(&args.output)?,
    };
    let err = |e: std::io::Error| CliError::Io(format!("cannot write the output: {e}"));
    let mut header = csv::Writer::from_writer(Vec::new());
    header
        .write_record(SCORE_COLUMNS)
        .map_err(csv_error(&args.output))?;
    out.write_all(
        &header
            .into_inner()
            .map_err(|e| CliError::Io(e.to_string()))?,
    )
    .map_err(err)?;
    progress.start_items(report.summaries.len() as u64, "scoring customers");
    // Scoring and formatting take most of this step: every core takes every
    // n-th chunk with a scorer of its own (whose cache of model values then
    // serves all its chunks), and this thread writes the chunks in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let chunks: Vec<&[CustomerSummary<K>]> = report.summaries.chunks(SCORE_CHUNK).collect();
    let model = &model;
    std::thread::scope(|scope| -> Result<(), CliError> {
        let mut results = Vec::with_capacity(threads);
        let mut spent = Vec::with_capacity(threads);
        for worker in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
            // Written chunks' memory goes back to their thread, which then
            // fills it again instead of new pages.
            let (back, returned) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
            let mine: Vec<&[CustomerSummary<K>]> = chunks
                .iter()
                .skip(worker)
                .step_by(threads)
                .copied()
                .collect();
            scope.spawn(move || {
                let mut scorer = model.scorer();
                let mut line = CsvLine::with_capacity(0);
                for chunk in mine {
                    line.buf = returned.try_recv().unwrap_or_default();
                    // A closed channel: the writer stopped on an error.
                    if tx.send(score_chunk(&mut scorer, &mut line, chunk)).is_err() {
                        return;
                    }
                }
            });
            results.push(rx);
            spent.push(back);
        }
        let mut done = 0u64;
        for (i, chunk) in chunks.iter().enumerate() {
            let part = results[i % threads]
                .recv()
                .map_err(|_| CliError::Io("a scoring thread failed".into()))?;
            out.write_all(&part).map_err(err)?;
            // Full (the thread has not taken the last ones) or gone: dropped.
            let _ = spent[i % threads].try_send(part);
            done += chunk.len() as u64;
            progress.set(done);
        }
        Ok(())
    })?;
    progress.finish();
    out.flush().map_err(err)?;
    Ok(())
}

/// Customers per unit of work of `score`: a chunk's rows (about 470 KB)
/// stay in cache until written, and the few buffers in flight touch fewer
/// new pages than chunks four times larger did.
const SCORE_CHUNK: usize = 2_048;

/// Scores `chunk` and formats its CSV rows, in `line`'s buffer (emptied
/// first, its memory kept), which it returns.
fn score_chunk<K: CsvField + Clone>(
    scorer: &mut crm_core::analytics::Scorer<'_>,
    line: &mut CsvLine,
    chunk: &[CustomerSummary<K>],
) -> Vec<u8> {
    line.buf.clear();
    line.buf.reserve(chunk.len() * 192);
    for s in chunk {
        let a = scorer.score(s);
        a.customer_id.write_to(line);
        line.count(a.frequency);
        // Times are whole days in the unit: few distinct values.
        line.repeated_float(a.recency);
        line.repeated_float(a.t);
        line.decimal(a.monetary_value.round_dp(6).normalize());
        line.count(a.rfm.recency.into());
        line.count(a.rfm.frequency.into());
        line.count(a.rfm.monetary.into());
        line.repeated_float(a.rfm.total);
        line.label(a.segment.as_str());
        line.label(a.rfm.detailed_segment.label());
        line.decimal(a.lifetime_value);
        if let Some(v) = a.model_lifetime_value {
            line.decimal(v);
        } else {
            line.empty();
        }
        if let Some(v) = a.expected_average_spend {
            line.decimal(v);
        } else {
            line.empty();
        }
        line.float(a.p_alive);
        line.float(a.churn_probability);
        line.label(a.risk_level.as_str());
        line.repeated_text(a.risk_level as usize, &a.recommended_action);
        line.label(a.churn_method.as_str());
        if let Some(v) = a.expected_purchases_90d {
            line.float(v);
        } else {
            line.empty();
        }
        line.end();
    }
    std::mem::take(&mut line.buf)
}

/// `v` exactly as `Display` writes it, by zmij (several times faster),
/// where the two must agree; `None` elsewhere, for `Display` to write.
///
/// Both write the shortest digits that read back as `v`. They can differ
/// only when two equally short candidates are equally close, which needs
/// `v`'s exact decimal expansion to be at most one digit longer than the
/// shortest form, so at most 18 significant digits, where the two may
/// break the tie differently. Floats computed by the models have 50 or more
/// digits in their exact expansion. The check below bounds that count
/// from below, from the binary exponent and mantissa, and leaves short
/// ones to `Display`, as it does values zmij writes with an exponent
/// (outside [1e-5, 1e16)) and integers from 2^53.
#[inline]
fn shortest(v: f64, buffer: &mut zmij::Buffer) -> Option<&str> {
    let magnitude = v.abs();
    if !(1e-5..9_007_199_254_740_992.0).contains(&magnitude) {
        return None;
    }
    // v = mantissa * 2^exponent with an odd mantissa (normal floats here).
    let bits = v.to_bits();
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let binary_exponent = ((bits >> 52) & 0x7ff) as i32 - 1023; // 2^e <= |v| < 2^(e+1)
    let exponent = binary_exponent - 52 + mantissa.trailing_zeros() as i32;
    if exponent < 0 {
        // Exactly -exponent digits after the point (the last one a 5).
        let fraction_digits = f64::from(-exponent);
        let significant = if binary_exponent >= 0 {
            // At least floor(e * log10 2) + 1 digits before the point.
            (f64::from(binary_exponent) * std::f64::consts::LOG10_2).floor() + 1.0 + fraction_digits
        } else {
            // Fewer than -e * log10 2 + 1 zeros right after the point.
            fraction_digits - (f64::from(-binary_exponent) * std::f64::consts::LOG10_2 + 1.0)
        };
        if significant <= 19.0 {
            return None;
        }
    }
    let text = buffer.format_finite(v);
    // An exponent (`e-5`, at most `e-324`) is within the last five bytes.
    if text.as_bytes().iter().rev().take(5).any(|&b| b == b'e') {
        return None;
    }
    // zmij writes `1.0` for 1, `Display` writes `1`.
    Some(text.strip_suffix(".0").unwrap_or(text))
}

/// CSV rows written straight into bytes: numbers need no quoting, so they
/// skip the csv writer's per-field checks (integers and amounts through
/// itoa, floats through zmij where it writes what `Display` would);
/// text is quoted when it must be (RFC 4180, as the csv crate does).
struct CsvLine {
    buf: Vec<u8>,
    /// No separator before the first field of a row.
    first: bool,
    /// Floats written lately, by their bits (see [`repeated_float`](Self::repeated_float)).
    floats: Vec<WrittenFloat>,
    /// Labels met lately, by address and length, with whether each needs
    /// quotes and its text (see [`label`](Self::label)).
    labels: [LabelSlot; LABEL_SLOTS],
    /// The last text of each [`repeated_text`](Self::repeated_text) slot
    /// and whether it needs quotes.
    texts: Vec<(String, bool)>,
}

/// Slots of [`CsvLine::label`]'s table (a power of two).
const LABEL_SLOTS: usize = 64;

/// A label met lately, by address and length; whether it needs quotes, and
/// its text when it has at most 24 bytes (otherwise `len` exceeds 24).
#[derive(Clone, Copy)]
struct LabelSlot {
    at: usize,
    len: usize,
    quoted: bool,
    text: [u8; 24],
}

impl LabelSlot {
    const EMPTY: Self = Self {
        at: 0,
        len: 0,
        quoted: false,
        text: [0; 24],
    };
}

/// A float and its text, when it has at most 24 bytes.
#[derive(Clone, Copy)]
struct WrittenFloat {
    bits: u64,
    len: u8,
    text: [u8; 24],
}

/// Slots of [`CsvLine::repeated_float`]'s table (a power of two).
const WRITTEN_FLOATS: usize = 4096;

impl CsvLine {
    fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            first: true,
            floats: Vec::new(),
            labels: [LabelSlot::EMPTY; LABEL_SLOTS],
            texts: Vec::new(),
        }
    }

    /// [`text`](Self::text) of a column whose value mostly repeats the
    /// last one of its `slot` (a recommended action per risk level): a
    /// repeat is compared, not checked for quotes again.
    fn repeated_text(&mut self, slot: usize, s: &str) {
        if self.texts.len() <= slot {
            self.texts.resize_with(slot + 1, Default::default);
        }
        let (last, quoted) = &mut self.texts[slot];
        if last.as_str() != s {
            *last = s.to_owned();
            *quoted = needs_quotes(s.as_bytes());
        }
        let quoted = *quoted;
        if quoted {
            self.text(s);
        } else {
            self.separate();
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    /// [`float`](Self::float) for a column with few distinct values (times
    /// in whole days, score means): each value's text is kept in a table
    /// and copied when it comes again.
    fn repeated_float(&mut self, v: f64) {
        let bits = v.to_bits();
        if self.floats.is_empty() {
            self.floats = vec![
                WrittenFloat {
                    // Empty: no text.
                    bits: u64::MAX,
                    len: 0,
                    text: [0; 24],
                };
                WRITTEN_FLOATS
            ];
        }
        let slot = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % WRITTEN_FLOATS;
        if let Some(hit) = self
            .floats
            .get(slot)
            .copied()
            .filter(|w| w.bits == bits && w.len > 0)
        {
            self.separate();
            self.fixed(&hit.text, usize::from(hit.len));
            return;
        }
        let start = self.buf.len();
        self.float(v);
        let written = self.buf.get(start..).unwrap_or_default();
        // Past the separator, if any.
        let text = written.strip_prefix(b",").unwrap_or(written);
        if let (Ok(len), Some(entry)) = (u8::try_from(text.len()), self.floats.get_mut(slot))
            && text.len() <= 24
        {
            entry.bits = bits;
            entry.len = len;
            entry.text[..text.len()].copy_from_slice(text);
        }
    }

    /// The first `len` bytes of `text`: all of it is copied (a fixed size,
    /// which the compiler copies inline, not through a `memcpy` call) and
    /// the rest cut off again.
    #[inline]
    fn fixed(&mut self, text: &[u8; 24], len: usize) {
        let at = self.buf.len();
        self.buf.extend_from_slice(text);
        self.buf.truncate(at + len.min(24));
    }

    /// A count below a hundred (a frequency, an RFM score) without
    /// formatting; larger ones through itoa.
    #[inline]
    fn count(&mut self, v: u32) {
        if v >= 100 {
            return self.int(v);
        }
        self.separate();
        // Both below 10: u8 arithmetic cannot overflow.
        let (tens, ones) = ((v / 10) as u8, (v % 10) as u8);
        if tens > 0 {
            self.buf.push(b'0' + tens);
        }
        self.buf.push(b'0' + ones);
    }

    #[inline]
    fn separate(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    fn empty(&mut self) {
        self.separate();
    }

    fn end(&mut self) {
        self.buf.push(b'\n');
        self.first = true;
    }

    fn int<I: itoa::Integer>(&mut self, v: I) {
        self.separate();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn float(&mut self, v: f64) {
        use std::io::Write as _;
        self.separate();
        // P(alive) and churn of a customer without repeat purchases.
        if v == 0.0 && v.is_sign_positive() {
            self.buf.push(b'0');
            return;
        }
        if v == 1.0 {
            self.buf.push(b'1');
            return;
        }
        match shortest(v, &mut zmij::Buffer::new()) {
            Some(text) => self.buf.extend_from_slice(text.as_bytes()),
            None => {
                let _ = write!(self.buf, "{v}");
            }
        }
    }

    /// As `Decimal`'s `Display` writes it (every digit of its scale).
    fn decimal(&mut self, d: Decimal) {
        self.separate();
        let mantissa = d.mantissa();
        if mantissa == 0 && d.is_sign_negative() {
            self.buf.extend_from_slice(d.to_string().as_bytes());
            return;
        }
        if mantissa < 0 {
            self.buf.push(b'-');
        }
        let mut itoa = itoa::Buffer::new();
        // Money fits 64 bits, whose digits come several times faster.
        let digits = match u64::try_from(mantissa.unsigned_abs()) {
            Ok(small) => itoa.format(small),
            Err(_) => itoa.format(mantissa.unsigned_abs()),
        }
        .as_bytes();
        let scale = d.scale() as usize;
        if scale == 0 {
            self.buf.extend_from_slice(digits);
        } else if digits.len() > scale {
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            self.buf.extend_from_slice(whole);
            self.buf.push(b'.');
            self.buf.extend_from_slice(fraction);
        } else {
            self.buf.extend_from_slice(b"0.");
            self.buf
                .extend(std::iter::repeat_n(b'0', scale - digits.len()));
            self.buf.extend_from_slice(digits);
        }
    }

    /// [`text`](Self::text) of one of a few fixed labels (a segment, a
    /// risk level): whether it needs quotes is found once per label.
    fn label(&mut self, s: &'static str) {
        let (at, len) = (s.as_ptr() as usize, s.len());
        let slot = ((at ^ len).wrapping_mul(0x9E37_79B9) >> 7) & (LABEL_SLOTS - 1);
        let entry = match self.labels.get(slot) {
            Some(&entry) if (entry.at, entry.len) == (at, len) => entry,
            _ => {
                let mut entry = LabelSlot {
                    at,
                    len,
                    quoted: needs_quotes(s.as_bytes()),
                    text: [0; 24],
                };
                if let Some(text) = entry.text.get_mut(..len) {
                    text.copy_from_slice(s.as_bytes());
                }
                if let Some(cached) = self.labels.get_mut(slot) {
                    *cached = entry;
                }
                entry
            }
        };
        if entry.quoted {
            self.text(s);
        } else if len <= 24 {
            self.separate();
            self.fixed(&entry.text, len);
        } else {
            self.separate();
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    fn text(&mut self, s: &str) {
        self.separate();
        if needs_quotes(s.as_bytes()) {
            self.buf.push(b'"');
            for b in s.bytes() {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(s.as_bytes());
        }
    }
}

/// Whether a field holds a delimiter, a quote or a line break (RFC 4180),
/// eight bytes at a time.
#[inline]
fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // The bytes of `word` equal to `byte`, as their high bits (exact).
    let equal = |word: u64, byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
    };
    let special = |word: u64| {
        equal(word, b',') | equal(word, b'"') | equal(word, b'\n') | equal(word, b'\r') != 0
    };
    let (words, rest) = field.as_chunks::<8>();
    if words.iter().any(|w| special(u64::from_le_bytes(*w))) {
        return true;
    }
    rest.iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// A customer id as a field of [`CsvLine`].
trait CsvField {
    /// Writes the id as the line's next field.
    fn write_to(&self, line: &mut CsvLine);
}

impl CsvField for u64 {
    fn write_to(&self, line: &mut CsvLine) {
        line.int(*self);
    }
}

impl CsvField for String {
    fn write_to(&self, line: &mut CsvLine) {
        line.text(self);
    }
}

/// The columns of `score`.
pub const SCORE_COLUMNS: [&str; 20] = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "rfm_score",
    "segment",
    "detailed_segment",
    "lifetime_value",
    "model_lifetime_value",
    "expected_average_spend",
    "p_alive",
    "churn_probability",
    "risk_level",
    "recommended_action",
    "churn_method",
    "expected_purchases_90d",
];

fn simulate(args: &SimulateArgs, progress: &Progress) -> Result<(), CliError> {
    let spec = Simulation {
        customers: args.customers,
        bgnbd: BgNbdParams {
            r: args.r,
            alpha: args.alpha,
            a: args.a,
            b: args.b,
        },
        spend: GammaGammaParams {
            p: args.p,
            q: args.q,
            gamma: args.gamma,
        },
        unit: args.period,
        first_purchase_from: args.start,
        cohort_days: args.cohort_days,
        observation_end: args.observation_end,
        seed: args.seed,
    };
    let mut out = csv::Writer::from_writer(create(&args.output)?);
    let err = csv_error(&args.output);
    out.write_record(["customer_id", "date", "amount"])
        .map_err(&err)?;
    progress.start_items(args.customers, "simulating customers");
    let mut record = csv::StringRecord::new();
    let mut write = |customer: u64, date: NaiveDate, amount: Decimal| {
        use std::fmt::Write as _;
        record.clear();
        let mut field = String::new();
        let _ = write!(field, "{customer}");
        record.push_field(&field);
        field.clear();
        let _ = write!(field, "{date}");
        record.push_field(&field);
        field.clear();
        let _ = write!(field, "{amount}");
        record.push_field(&field);
        out.write_record(&record).map_err(&err)
    };
    match args.order {
        SimulateOrder::Customer => {
            for p in spec.purchases()? {
                write(p.customer, p.at.date_naive(), p.amount)?;
                if p.customer % 65_536 == 0 {
                    progress.set(p.customer);
                }
            }
        }
        SimulateOrder::Date => {
            // Day first; within a day a seeded mix of the customer id, so
            // that consecutive rows belong to unrelated customers, as on a
            // till. Memory grows with purchases (about 40 bytes each).
            let mut rows: Vec<(NaiveDate, u64, u64, Decimal)> = Vec::new();
            for p in spec.purchases()? {
                let mix = (p.customer ^ args.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                rows.push((p.at.date_naive(), mix.rotate_left(29), p.customer, p.amount));
                if p.customer % 65_536 == 0 {
                    progress.set(p.customer);
                }
            }
            progress.step("sorting by date");
            rows.sort_unstable_by_key(|&(date, mix, customer, _)| (date, mix, customer));
            for (date, _, customer, amount) in rows {
                write(customer, date, amount)?;
            }
        }
    }
    out.flush()
        .map_err(|e| CliError::Io(format!("cannot write the output: {e}")))?;
    Ok(())
}

/// Summaries of a file, for tests and benchmarks.
pub fn summaries_of(args: &TransactionArgs) -> Result<Vec<CustomerSummary<String>>, CliError> {
    Ok(args.summarize(&Progress::new(true))?.into_text().summaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_byte_by_byte() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let field: Vec<u8> = (0..len)
                .map(|i| {
                    let b = (x >> ((i % 8) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
                    // Mostly letters, some of each special byte.
                    match b % 23 {
                        0 => b',',
                        1 => b'"',
                        2 => b'\n',
                        3 => b'\r',
                        4 => b | 0x80,
                        _ => b'a' + b % 26,
                    }
                })
                .collect();
            let want = field
                .iter()
                .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
            assert_eq!(needs_quotes(&field), want, "{field:?}");
        }
    }

    #[test]
    fn floats_print_as_display_does() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.1 + 0.2,
            1e-5,
            9.99e-6,
            1e15,
            1e16,
            123_456_789.125,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            // Ties between two shortest forms.
            662_936_471_232_937.0 + 0.25,
            164_778_648_825_338.0 + 0.625,
            1.0 + 3.0 / 131_072.0,
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(f64::from_bits(x));
            values.push((x % 1_000_000) as f64 / 7.0);
            // Every magnitude, with full and with short mantissas.
            let exponent = ((x >> 52) % 24) as i32 - 7;
            let fraction = (x & ((1 << 52) - 1)) as f64 / (1u64 << 52) as f64;
            values.push((1.0 + fraction) * 10f64.powi(exponent));
            let short = ((x >> 20) & 0xFFFF) as f64;
            values.push(short * 2f64.powi(exponent * 3 - 20));
            values.push((x >> 11) as f64 / 8.0);
        }
        // From the table of texts: the first time and when it comes again
        // (a slot reused by another value writes that value).
        let mut line = CsvLine::with_capacity(64);
        for round in 0..2 {
            for v in values.iter().take(20_000) {
                line.buf.clear();
                line.first = round == 0;
                line.repeated_float(*v);
                let want = if round == 0 {
                    v.to_string()
                } else {
                    format!(",{v}")
                };
                assert_eq!(line.buf, want.as_bytes(), "{v:e}");
            }
        }
        let mut buffer = zmij::Buffer::new();
        let mut fast = 0;
        for v in &values {
            if let Some(text) = shortest(*v, &mut buffer) {
                assert_eq!(text, v.to_string(), "{v:e}");
                fast += 1;
            }
        }
        // The fast path is the common one (the short and out-of-range
        // values above are the exceptions).
        assert!(fast * 3 > values.len(), "{fast} of {}", values.len());
        for model_value in [0.039460283164927015, 104.28571428571429, 4.285714285714286] {
            assert!(
                shortest(model_value, &mut buffer).is_some(),
                "{model_value}"
            );
        }
    }

    #[test]
    fn amounts_print_as_display_does() {
        let mut values = vec![
            Decimal::ZERO,
            -Decimal::ZERO,
            Decimal::new(-0, 3),
            Decimal::new(5, 0),
            Decimal::new(-5, 3),
            Decimal::new(123_450, 2),
            Decimal::new(1, 28),
            Decimal::MAX,
            Decimal::MIN,
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mantissa = (x >> 1) as i64 * if x & 1 == 0 { 1 } else { -1 };
            values.push(Decimal::new(mantissa, (x % 29) as u32));
            values.push(Decimal::new((x % 100_000) as i64, (x % 7) as u32));
        }
        let mut line = CsvLine::with_capacity(64);
        for d in values {
            line.buf.clear();
            line.first = true;
            line.decimal(d);
            assert_eq!(String::from_utf8_lossy(&line.buf), d.to_string(), "{d:?}");
        }
    }

    #[test]
    fn text_is_quoted_as_the_csv_crate_does() {
        for text in ["plain", "a,b", "say \"hi\"", "two\nlines", "", " padded "] {
            let mut line = CsvLine::with_capacity(64);
            line.text("x");
            line.text(text);
            line.end();
            let mut expected = csv::Writer::from_writer(Vec::new());
            expected.write_record(["x", text]).expect("in memory");
            assert_eq!(
                String::from_utf8_lossy(&line.buf),
                String::from_utf8_lossy(&expected.into_inner().expect("in memory")),
            );
        }
    }

    #[test]
    fn counts_and_labels_print_as_integers_and_text_do() {
        let (mut fast, mut plain) = (CsvLine::with_capacity(64), CsvLine::with_capacity(64));
        for v in (0..1_000).chain([u32::MAX]) {
            fast.count(v);
            plain.int(v);
        }
        for label in [
            "LOST",
            "Cannot Lose Them",
            "a label longer than twenty-four bytes",
            "LOST",
        ] {
            fast.label(label);
            plain.text(label);
        }
        assert_same_rows(&mut fast, &mut plain);
    }

    /// Ends both lines' last row and checks they hold the same text.
    fn assert_same_rows(a: &mut CsvLine, b: &mut CsvLine) {
        a.end();
        b.end();
        assert_eq!(
            String::from_utf8_lossy(&a.buf),
            String::from_utf8_lossy(&b.buf)
        );
    }

    #[test]
    fn repeated_text_is_quoted_as_text_is() {
        // Slots switching between texts that need quotes and texts that
        // do not, repeats and changes alike.
        let texts = [
            "plain",
            "a,b",
            "plain",
            "say \"hi\"",
            "a,b",
            "",
            "a,b",
            "plain",
        ];
        let (mut repeated, mut fresh) = (CsvLine::with_capacity(64), CsvLine::with_capacity(64));
        for (i, text) in texts.iter().enumerate() {
            for slot in [i % 2, 3] {
                repeated.repeated_text(slot, text);
                fresh.text(text);
            }
            assert_same_rows(&mut repeated, &mut fresh);
        }
        assert!(String::from_utf8_lossy(&fresh.buf).contains("\"a,b\",\"a,b\""));
    }
}
