//! End-to-end runs of the `crm-analytics` binary: the CDNOW golden numbers
//! from the raw transactions, and one-line errors for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crm-analytics"));
    c.arg("--quiet");
    c
}

fn cdnow_raw() -> String {
    format!(
        "{}/../../tests/data/cdnow/CDNOW_sample.txt",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crm-analytics-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

const CDNOW_ARGS: [&str; 16] = [
    "--delimiter",
    "whitespace",
    "--no-header",
    "--customer-col",
    "2",
    "--date-col",
    "3",
    "--amount-col",
    "5",
    "--period",
    "week",
    "--observation-end",
    "1998-06-30",
    "--calibration-end",
    "1997-09-30",
    "--quiet",
];

fn summarize_cdnow() -> PathBuf {
    summarize_cdnow_as("cdnow_summary.csv")
}

/// The CDNOW summary in the scratch file `name` (tests run in parallel, so
/// each writes its own).
fn summarize_cdnow_as(name: &str) -> PathBuf {
    let summary = scratch(name);
    ok(bin()
        .args(["summarize", "--input", &cdnow_raw()])
        .args(CDNOW_ARGS)
        .arg("--output")
        .arg(&summary)
        .output()
        .expect("run"));
    summary
}

fn fit(model: &str, summary: &PathBuf) -> serde_json::Value {
    let out = ok(bin()
        .args(["fit", "--model", model, "--period", "week", "--input"])
        .arg(summary)
        .output()
        .expect("run"));
    serde_json::from_str(&out).expect("JSON")
}

fn close(v: &serde_json::Value, want: f64, tol: f64) {
    let got = v.as_f64().expect("number");
    assert!((got - want).abs() <= tol, "{got} vs {want}");
}

/// Checks `report["standard_errors"]` of every parameter in `params`: the
/// estimate is the one in `params`, the standard error is finite and
/// positive, and the interval is the Wald 95% interval around it.
fn check_standard_errors(report: &serde_json::Value, params: &[&str]) {
    let errors = report["standard_errors"]
        .as_object()
        .unwrap_or_else(|| panic!("standard_errors: {report}"));
    assert_eq!(errors.len(), params.len(), "{report}");
    for name in params {
        let e = &errors[*name];
        let estimate = e["estimate"].as_f64().expect("estimate");
        let se = e["standard_error"].as_f64().expect("standard_error");
        assert_eq!(e["estimate"], report["params"][*name], "{name}");
        assert!(se.is_finite() && se > 0.0, "{name}: {e}");
        close(&e["lower_95"], estimate - 1.959_964 * se, 1e-6 * estimate);
        close(&e["upper_95"], estimate + 1.959_964 * se, 1e-6 * estimate);
    }
}

#[test]
fn summarize_and_fit_reproduce_the_published_cdnow_estimates() {
    let summary = summarize_cdnow();
    let text = std::fs::read_to_string(&summary).expect("summary");
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("customer_id,frequency,recency,T,monetary_value")
    );
    assert_eq!(lines.count(), 2357);

    let bgnbd = fit("bgnbd", &summary);
    assert_eq!(bgnbd["model"], "bgnbd");
    assert_eq!(bgnbd["converged"], true);
    close(&bgnbd["params"]["r"], 0.243, 0.0005);
    close(&bgnbd["params"]["alpha"], 4.414, 0.0005);
    close(&bgnbd["params"]["a"], 0.793, 0.0005);
    close(&bgnbd["params"]["b"], 2.426, 0.0005);
    close(&bgnbd["log_likelihood"], -9582.4, 0.1);
    check_standard_errors(&bgnbd, &["r", "alpha", "a", "b"]);
    // lifetimes' BetaGeoFitter on CDNOW: se 0.013, 0.378, 0.186, 0.705.
    let se = |name: &str| &bgnbd["standard_errors"][name]["standard_error"];
    close(se("r"), 0.013, 0.0005);
    close(se("alpha"), 0.378, 0.008);
    close(se("a"), 0.186, 0.004);
    close(se("b"), 0.705, 0.014);

    let gg = fit("gamma-gamma", &summary);
    assert_eq!(gg["converged"], true);
    close(&gg["params"]["p"], 6.25, 0.005);
    close(&gg["params"]["q"], 3.74, 0.005);
    close(&gg["params"]["gamma"], 15.44, 0.005);
    assert_eq!(gg["diagnostics"]["customers"], 946);
    check_standard_errors(&gg, &["p", "q", "gamma"]);
}

#[test]
fn fit_pareto_nbd_reproduces_the_published_cdnow_estimates() {
    let summary = summarize_cdnow_as("cdnow_summary_pareto.csv");
    let pareto = fit("pareto-nbd", &summary);
    assert_eq!(pareto["model"], "pareto-nbd");
    assert_eq!(pareto["converged"], true, "{pareto}");
    assert_eq!(pareto["unit"], "week");
    // Fader, Hardie and Lee (2005) / BTYD: r 0.553, alpha 10.578, s 0.606,
    // beta 11.669, log-likelihood -9595.0.
    close(&pareto["params"]["r"], 0.553, 0.002);
    close(&pareto["params"]["alpha"], 10.578, 0.02);
    close(&pareto["params"]["s"], 0.606, 0.002);
    close(&pareto["params"]["beta"], 11.669, 0.03);
    close(&pareto["log_likelihood"], -9595.0, 0.2);
    assert_eq!(pareto["diagnostics"]["customers"], 2357);
    check_standard_errors(&pareto, &["r", "alpha", "s", "beta"]);
}

#[test]
fn fit_mbg_nbd_reproduces_the_published_cdnow_estimates() {
    let summary = summarize_cdnow_as("cdnow_summary_mbg.csv");
    let mbg = fit("mbg-nbd", &summary);
    assert_eq!(mbg["model"], "mbg-nbd");
    assert_eq!(mbg["converged"], true, "{mbg}");
    // Batislam, Denizel and Filiztekin (2007), as BTYDplus fits it: r 0.525,
    // alpha 6.183, a 0.891, b 1.614.
    close(&mbg["params"]["r"], 0.525, 0.002);
    close(&mbg["params"]["alpha"], 6.183, 0.02);
    close(&mbg["params"]["a"], 0.891, 0.003);
    close(&mbg["params"]["b"], 1.614, 0.01);
    assert_eq!(mbg["diagnostics"]["customers"], 2357);
    check_standard_errors(&mbg, &["r", "alpha", "a", "b"]);
}

#[test]
fn fit_bg_bb_reproduces_the_published_donations_estimates() {
    let donations =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/donations/donations.csv");
    let bgbb = fit("bg-bb", &donations);
    assert_eq!(bgbb["model"], "bg-bb");
    assert_eq!(bgbb["converged"], true, "{bgbb}");
    // Fader, Hardie and Shang (2010): alpha 1.204, beta 0.750, gamma 0.657,
    // delta 2.783, log-likelihood -33,225.6.
    close(&bgbb["params"]["alpha"], 1.204, 0.002);
    close(&bgbb["params"]["beta"], 0.750, 0.002);
    close(&bgbb["params"]["gamma"], 0.657, 0.002);
    close(&bgbb["params"]["delta"], 2.783, 0.01);
    close(&bgbb["log_likelihood"], -33225.6, 0.2);
    check_standard_errors(&bgbb, &["alpha", "beta", "gamma", "delta"]);
}

#[test]
fn score_writes_one_row_per_customer_and_snapshots_reload() {
    let scores = scratch("scores.csv");
    let snapshot = scratch("model.json");
    let args = || {
        let mut c = bin();
        c.args(["score", "--input", &cdnow_raw()])
            .args(&CDNOW_ARGS[..13]);
        c
    };
    ok(args()
        .arg("--output")
        .arg(&scores)
        .arg("--snapshot-out")
        .arg(&snapshot)
        .output()
        .expect("run"));
    let text = std::fs::read_to_string(&scores).expect("scores");
    let header = text.lines().next().expect("header");
    for column in [
        "segment",
        "lifetime_value",
        "p_alive",
        "churn_probability",
        "risk_level",
        "recommended_action",
        "expected_purchases_90d",
    ] {
        assert!(header.split(',').any(|c| c == column), "missing {column}");
    }
    assert_eq!(text.lines().count(), 2358);

    let again = scratch("scores_again.csv");
    ok(args()
        .arg("--output")
        .arg(&again)
        .arg("--snapshot-in")
        .arg(&snapshot)
        .output()
        .expect("run"));
    assert_eq!(std::fs::read_to_string(&again).expect("scores"), text);
}

#[test]
fn timings_name_every_step_with_its_page_faults() {
    let out = bin()
        .args(["--timings", "score", "--input", &cdnow_raw()])
        .args(&CDNOW_ARGS[..13])
        .arg("--output")
        .arg(scratch("scores_timed.csv"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stderr).expect("utf-8");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("timing: ")).collect();
    let steps: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("timing: ")?.split(':').next())
        .collect();
    assert_eq!(
        steps,
        [
            "start",
            "reading transactions",
            "finishing summaries",
            "fitting models",
            "scoring customers"
        ],
        "{text}"
    );
    if cfg!(target_os = "linux") {
        // "timing: STEP: 1.9 ms, 37 page faults, resident 14.1 MB"
        let mut faults = 0;
        for line in &lines {
            let rest = line.rsplit_once(": ").map(|(_, r)| r).expect("a step");
            let parts: Vec<&str> = rest.split(", ").collect();
            assert_eq!(parts.len(), 3, "{line}");
            assert!(parts[0].ends_with(" ms"), "{line}");
            faults += parts[1]
                .strip_suffix(" page faults")
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no page faults in {line}"));
            let resident: f64 = parts[2]
                .strip_prefix("resident ")
                .and_then(|r| r.strip_suffix(" MB"))
                .and_then(|r| r.parse().ok())
                .unwrap_or_else(|| panic!("no resident memory in {line}"));
            assert!(resident > 0.0, "{line}");
        }
        // Scoring 2,357 customers touches fresh memory.
        assert!(faults > 0, "{text}");
    }
}

fn fails_with(file_text: &str, extra: &[&str], expected: &[&str]) {
    let input = scratch(&format!("bad-{}.csv", expected[0].len() + file_text.len()));
    std::fs::write(&input, file_text).expect("write");
    let out = bin()
        .args(["summarize", "--input"])
        .arg(&input)
        .args([
            "--customer-col",
            "customer",
            "--date-col",
            "date",
            "--period",
            "day",
        ])
        .args(extra)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for part in expected {
        assert!(stderr.contains(part), "{part:?} not in {stderr:?}");
    }
    assert!(stderr.contains(&input.display().to_string()), "{stderr}");
}

#[test]
fn bad_input_is_one_line_naming_file_line_and_column() {
    fails_with(
        "customer,date,amount\nA,2024-01-01,1\n",
        &["--amount-col", "price"],
        &[":1:", "\"price\"", "no such column"],
    );
    fails_with(
        "customer,date,amount\nA,2024-01-01,1\nA,2024-02-30,2\n",
        &["--amount-col", "amount"],
        &[":3:", "\"date\"", "2024-02-30"],
    );
    fails_with(
        "customer,date,amount\nA,2024-01-01,1\nB,2024-01-02,-3.50\n",
        &["--amount-col", "amount"],
        &[":3:", "\"amount\"", "negative amount"],
    );
    fails_with(
        "customer,date,amount\nA,2024-01-05,1\nA,2024-01-02,1\n",
        &["--amount-col", "amount"],
        &[":3:", "\"date\"", "--sort"],
    );
}

/// The fast reader and the csv crate agree: a BOM, CRLF line ends, blank
/// lines, quoted fields from the middle of the file on (with a delimiter
/// inside), and numeric ids that later meet text ids (`7` stays one
/// customer when `A-1` turns the keys to text), and an error after the
/// switch still names its line.
#[test]
fn every_csv_form_summarises_the_same() {
    let summarize = |name: &str, text: &[u8]| -> String {
        let input = scratch(name);
        std::fs::write(&input, text).expect("write");
        ok(bin()
            .args(["summarize", "--input"])
            .arg(&input)
            .args([
                "--customer-col",
                "customer",
                "--date-col",
                "date",
                "--amount-col",
                "amount",
                "--period",
                "day",
                "--observation-end",
                "2024-03-01",
            ])
            .output()
            .expect("run"))
    };
    let plain = summarize(
        "plain.csv",
        b"customer,date,amount\n7,2024-01-01,10.5\nA-1,2024-01-02,3\n7,2024-01-31,2\n7,2024-01-31,1.25\nB,2024-02-01,4\n",
    );
    let messy = summarize(
        "messy.csv",
        b"\xEF\xBB\xBFcustomer,date,amount\r\n7,2024-01-01,10.5\r\n\r\n\"A-1\",2024-01-02,3\r\n7,2024-01-31,\"2\"\r\n7,2024-01-31,1.25\r\n\"B\",2024-02-01,4",
    );
    assert_eq!(plain, messy);
    let rows: Vec<&str> = plain.lines().collect();
    assert_eq!(
        rows,
        [
            "customer_id,frequency,recency,T,monetary_value",
            "7,1,30,60,3.25",
            "A-1,0,0,59,0",
            "B,0,0,29,0",
        ]
    );
    fails_with(
        "customer,date,amount\n7,2024-01-01,1\n\"x, y\",2024-01-02,1\n7,2023-12-31,1\n",
        &["--amount-col", "amount"],
        &[":4:", "\"date\"", "not in date order"],
    );
}

/// `summarize` of a simulated transactions file by week, into the scratch
/// file `name`: the run and the output's path.
fn summarize_weeks(input: &PathBuf, name: &str, extra: &[&str]) -> (Output, PathBuf) {
    let out = scratch(name);
    let run = bin()
        .arg("summarize")
        .arg("--input")
        .arg(input)
        .args(["--customer-col", "customer_id", "--date-col", "date"])
        .args(["--amount-col", "amount", "--period", "week"])
        .args(["--observation-end", "2025-12-31", "--output"])
        .arg(&out)
        .args(extra)
        .output()
        .expect("run");
    (run, out)
}

/// The lines of a file, sorted.
fn sorted_lines(path: &PathBuf) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// `--sort` reads through `for_each` (one batch refilled again and again)
/// and must give what the two-thread batch path gives, past one batch
/// (16,384 rows).
#[test]
fn sort_gives_the_same_summaries_past_one_batch() {
    let tx = scratch("sort_tx.csv");
    ok(bin()
        .args(["simulate", "--customers", "2500", "--order", "customer"])
        .arg("--output")
        .arg(&tx)
        .output()
        .expect("run"));
    let rows = std::fs::read_to_string(&tx).expect("read").lines().count();
    assert!(rows > 16_384, "{rows} rows");
    let summarize = |name: &str, extra: &[&str]| {
        let (run, out) = summarize_weeks(&tx, name, extra);
        ok(run);
        sorted_lines(&out)
    };
    let streamed = summarize("sort_streamed.csv", &[]);
    assert_eq!(streamed.len(), 2501);
    assert_eq!(summarize("sort_sorted.csv", &["--sort"]), streamed);
}

/// A file large enough to be read in parts (one per core, each summarised
/// on its own, then joined) gives the summaries of one stream (`--sort`
/// reads it as one); purchases out of date order across the parts are
/// reported at their line, as one stream reports them.
#[test]
fn a_file_read_in_parts_summarises_as_one_stream() {
    let tx = scratch("parts_tx.csv");
    ok(bin()
        .args(["simulate", "--customers", "40000", "--output"])
        .arg(&tx)
        .output()
        .expect("run"));
    let text = std::fs::read_to_string(&tx).expect("read");
    assert!(
        text.len() > 8 << 20,
        "{} bytes: not read in parts",
        text.len()
    );
    let (run, parts) = summarize_weeks(&tx, "parts_summary.csv", &[]);
    ok(run);
    let (run, stream) = summarize_weeks(&tx, "parts_stream.csv", &["--sort"]);
    ok(run);
    let parts = sorted_lines(&parts);
    assert!(parts.len() > 39_000, "{} customers", parts.len());
    assert_eq!(parts, sorted_lines(&stream));

    // The first customer buys again, on a day before the file's first.
    let first = text.lines().nth(1).expect("a row");
    let customer = first.split(',').next().expect("a customer");
    let late = scratch("parts_late.csv");
    std::fs::write(&late, format!("{text}{customer},2000-01-01,1.00\n")).expect("write");
    let (run, _) = summarize_weeks(&late, "parts_late_summary.csv", &[]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let line = text.lines().count() + 1;
    assert!(
        stderr.contains(&format!(":{line}:")) && stderr.contains("not in date order"),
        "{stderr}"
    );
}
