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

pub mod input;
pub mod progress;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use crm_core::analytics::{
    AnalyticsConfig, AnalyticsModel, BgBbData, BgBbModel, BgNbdData, BgNbdModel, BgNbdParams,
    CustomerAnalytics, CustomerSummary, FitOptions, GammaGammaData, GammaGammaModel,
    GammaGammaParams, MbgNbdData, MbgNbdModel, ParetoNbdData, ParetoNbdModel, PeriodUnit,
    Simulation, SummaryBuilder, SummaryOptions, SummaryReport,
};
use rust_decimal::Decimal;

use crate::input::{Delimiter, SummaryFile, TransactionFile};
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
    /// Output CSV `customer_id,date,amount` (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
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
    let progress = Progress::new(cli.quiet);
    let result = match cli.command {
        Command::Summarize(args) => summarize(&args, &progress),
        Command::Fit(args) => fit(&args),
        Command::Score(args) => score(&args, &progress, cli.quiet),
        Command::Simulate(args) => simulate(&args, &progress),
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
    /// unless `--sort`).
    fn summarize(&self, progress: &Progress) -> Result<SummaryReport<String>, CliError> {
        let file = self.file();
        let mut builder = SummaryBuilder::<String>::new(self.options())?;
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
            file.for_each(progress, |row| {
                rows.push((row.customer.to_owned(), row.date, row.amount));
                Ok(())
            })?;
            progress.step("sorting transactions");
            rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            for (customer, date, amount) in rows {
                builder
                    .add(customer.as_str(), date, amount)
                    .map_err(|e| in_context(e, 0))?;
            }
        } else {
            file.for_each(progress, |row| {
                builder
                    .add(row.customer, row.date, row.amount)
                    .map_err(|e| in_context(e, row.line))
            })?;
        }
        Ok(builder.finish())
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

fn money(d: Decimal) -> String {
    d.round_dp(6).normalize().to_string()
}

fn summarize(args: &SummarizeArgs, progress: &Progress) -> Result<(), CliError> {
    let report = args.transactions.summarize(progress)?;
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
    for s in &report.summaries {
        let mut row = vec![
            s.customer.clone(),
            s.frequency.to_string(),
            s.recency.to_string(),
            s.t.to_string(),
            money(s.monetary_value),
        ];
        if let Some(h) = &s.holdout {
            row.extend([
                h.frequency.to_string(),
                money(h.monetary_value),
                h.duration.to_string(),
            ]);
        }
        out.write_record(&row).map_err(&err)?;
    }
    out.flush()
        .map_err(|e| CliError::Io(format!("cannot write the output: {e}")))?;
    Ok(())
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
    config.validate()?;

    let report = tx.summarize(progress)?;
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
            AnalyticsModel::fit(tx.period, &report.summaries, config)?
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

    let mut out = csv::Writer::from_writer(create(&args.output)?);
    let err = csv_error(&args.output);
    out.write_record(SCORE_COLUMNS).map_err(&err)?;
    progress.start_items(report.summaries.len() as u64, "scoring customers");
    let mut scorer = model.scorer();
    let mut record = csv::StringRecord::new();
    for (i, s) in report.summaries.into_iter().enumerate() {
        let a = scorer.score_owned(s);
        fill_record(&mut record, &a);
        out.write_record(&record).map_err(&err)?;
        if i % 65_536 == 0 {
            progress.set(i as u64);
        }
    }
    progress.finish();
    out.flush()
        .map_err(|e| CliError::Io(format!("cannot write the output: {e}")))?;
    Ok(())
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

fn fill_record(record: &mut csv::StringRecord, a: &CustomerAnalytics<String>) {
    let opt = |v: Option<String>| v.unwrap_or_default();
    record.clear();
    record.push_field(&a.customer_id);
    record.push_field(&a.frequency.to_string());
    record.push_field(&a.recency.to_string());
    record.push_field(&a.t.to_string());
    record.push_field(&money(a.monetary_value));
    record.push_field(&a.rfm.recency.to_string());
    record.push_field(&a.rfm.frequency.to_string());
    record.push_field(&a.rfm.monetary.to_string());
    record.push_field(&a.rfm.total.to_string());
    record.push_field(a.segment.as_str());
    record.push_field(a.rfm.detailed_segment.label());
    record.push_field(&a.lifetime_value.to_string());
    record.push_field(&opt(a.model_lifetime_value.map(|v| v.to_string())));
    record.push_field(&opt(a.expected_average_spend.map(|v| v.to_string())));
    record.push_field(&a.p_alive.to_string());
    record.push_field(&a.churn_probability.to_string());
    record.push_field(a.risk_level.as_str());
    record.push_field(&a.recommended_action);
    record.push_field(a.churn_method.as_str());
    record.push_field(&opt(a.expected_purchases_90d.map(|v| v.to_string())));
}

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
    let mut id_text = String::new();
    for purchase in spec.purchases()? {
        use std::fmt::Write as _;
        id_text.clear();
        let _ = write!(id_text, "{}", purchase.customer);
        record.clear();
        record.push_field(&id_text);
        record.push_field(&purchase.at.date_naive().to_string());
        record.push_field(&purchase.amount.to_string());
        out.write_record(&record).map_err(&err)?;
        if purchase.customer % 65_536 == 0 {
            progress.set(purchase.customer);
        }
    }
    out.flush()
        .map_err(|e| CliError::Io(format!("cannot write the output: {e}")))?;
    Ok(())
}

/// Summaries of a file, for tests and benchmarks.
pub fn summaries_of(args: &TransactionArgs) -> Result<Vec<CustomerSummary<String>>, CliError> {
    Ok(args.summarize(&Progress::new(true))?.summaries)
}
