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
    let summary = scratch("cdnow_summary.csv");
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

    let gg = fit("gamma-gamma", &summary);
    assert_eq!(gg["converged"], true);
    close(&gg["params"]["p"], 6.25, 0.005);
    close(&gg["params"]["q"], 3.74, 0.005);
    close(&gg["params"]["gamma"], 15.44, 0.005);
    assert_eq!(gg["diagnostics"]["customers"], 946);
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
