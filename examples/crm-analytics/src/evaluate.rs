//! `evaluate`: which model forecasts this business best? Fits BG/NBD,
//! MBG/NBD and Pareto/NBD on the purchases up to `--calibration-end`,
//! predicts each customer's purchases after it (to `--observation-end`),
//! compares with what they bought, and writes the comparison as JSON (see
//! [`crm_core::analytics::evaluate`]), with a short table on standard error
//! unless `--quiet`.

use std::io::Write;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;
use crm_core::analytics::{EvaluateOptions, FitOptions, ModelEvaluation, evaluate_models};
use serde::Serialize;

use crate::progress::Progress;
use crate::{CliError, TransactionArgs, create};

/// `evaluate` options.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Input and columns; `--calibration-end` is required.
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// Output JSON (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// L2 penalty coefficient of every fit (same scale as lifetimes' penalizer_coef).
    #[arg(long, default_value_t = 0.0)]
    pub penalty: f64,
    /// Largest aggregate relative error of the holdout total for a model to be chosen.
    #[arg(long, default_value_t = EvaluateOptions::new().max_aggregate_error)]
    pub max_aggregate_error: f64,
    /// Fewest customers a model is chosen on.
    #[arg(long, default_value_t = EvaluateOptions::new().min_customers)]
    pub min_customers: u64,
}

/// What `evaluate` writes: where the periods split, then the evaluation.
#[derive(Debug, Serialize)]
struct EvaluateReport<'a> {
    input: String,
    calibration_end: Option<NaiveDate>,
    observation_end: Option<NaiveDate>,
    #[serde(flatten)]
    evaluation: &'a ModelEvaluation,
}

/// Runs `evaluate`.
pub fn run(args: &EvaluateArgs, progress: &Progress, quiet: bool) -> Result<(), CliError> {
    let tx = &args.transactions;
    if tx.calibration_end.is_none() {
        return Err(crm_core::Error::invalid(
            "calibration_end",
            "required",
            "evaluate needs --calibration-end: the models are fitted before it and checked after it",
        )
        .into());
    }
    let options = EvaluateOptions {
        fit: FitOptions {
            penalty: args.penalty,
            ..FitOptions::default()
        },
        min_customers: args.min_customers,
        max_aggregate_error: args.max_aggregate_error,
    };
    options.validate()?;
    let report = tx.summarize(progress)?.into_text();
    progress.step("fitting and scoring models");
    let evaluation = evaluate_models(tx.period, &report.summaries, &options)?;
    let json = EvaluateReport {
        input: tx.input.display().to_string(),
        calibration_end: report.calibration_end,
        observation_end: report.observation_end,
        evaluation: &evaluation,
    };
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| CliError::Io(format!("cannot write JSON: {e}")))?;
    let mut out = create(&args.output)?;
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Io(format!("cannot write the output: {e}")))?;
    progress.clear();
    if !quiet {
        for line in table(&evaluation) {
            progress.println(&line);
        }
    }
    Ok(())
}

/// The short human summary: one line per model, then the choice.
pub fn table(e: &ModelEvaluation) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{} customers, {} holdout purchases over {:.2} {}s",
            e.customers, e.actual_holdout_purchases, e.holdout_duration, e.unit
        ),
        format!(
            "{:<11} {:>11} {:>11} {:>8} {:>8} {:>10} {:>8}  {}",
            "model", "log-lik", "AIC", "MAE", "RMSE", "predicted", "error", "usable"
        ),
    ];
    for m in &e.models {
        lines.push(format!(
            "{:<11} {:>11.2} {:>11.2} {:>8.4} {:>8.4} {:>10.1} {:>8}  {}",
            m.model.as_str(),
            m.log_likelihood,
            m.aic,
            m.mae,
            m.rmse,
            m.predicted_holdout_purchases,
            m.aggregate_relative_error
                .map_or_else(|| "-".to_owned(), |v| format!("{:+.1}%", v * 100.0)),
            if m.usable {
                "yes".to_owned()
            } else {
                format!("no: {}", m.issues.join("; "))
            }
        ));
    }
    for f in &e.failures {
        lines.push(format!("{:<11} failed: {}", f.model.as_str(), f.error));
    }
    lines.push(match e.chosen {
        Some(m) => format!("chosen: {m} ({})", e.reason),
        None => format!("no model chosen: {}", e.reason),
    });
    lines
}
