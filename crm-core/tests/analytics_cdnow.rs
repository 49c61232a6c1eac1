//! Golden tests on the CDNOW sample (Fader, Hardie and Lee 2005): the
//! published summary, BG/NBD and Gamma-Gamma estimates and predictions.
//! The data and its source are in `tests/data/cdnow/`.

use chrono::NaiveDate;
use crm_core::analytics::{
    BgNbdData, BgNbdModel, BgNbdParams, CustomerSummary, FitOptions, PeriodUnit, SummaryBuilder,
    SummaryOptions,
};
use rust_decimal::Decimal;

mod common;

use common::{data_path, read_csv};

/// `(id, x, t_x, T, zbar)` from the published summary.
fn published_summary() -> Vec<(u32, u32, f64, f64, f64)> {
    read_csv("cdnow_customers_summary_with_transactions.csv", |f| {
        (
            f[0].parse().expect("id"),
            f[1].parse().expect("x"),
            f[2].parse().expect("t_x"),
            f[3].parse().expect("T"),
            f[4].parse().expect("zbar"),
        )
    })
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y%m%d").expect("date")
}

/// Summaries of the raw transactions, as the literature defines them.
fn summaries_from_raw() -> Vec<CustomerSummary<u32>> {
    let text = std::fs::read_to_string(data_path("CDNOW_sample.txt")).expect("read raw");
    let options = SummaryOptions::new(PeriodUnit::Week, Some(day("19980630")))
        .with_calibration_end(day("19970930"));
    let mut builder = SummaryBuilder::new(options).expect("options");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let id: u32 = f[1].parse().expect("sample id");
        let amount: Decimal = f[4].parse().expect("amount");
        builder.add(&id, day(f[2]), amount).expect("valid purchase");
    }
    builder.finish().summaries
}

const PUBLISHED: BgNbdParams = BgNbdParams {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

fn assert_close(name: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{name}: got {got}, want {want} +/- {tol}"
    );
}

#[test]
fn summary_of_raw_transactions_matches_the_published_one() {
    let ours = summaries_from_raw();
    let published = published_summary();
    assert_eq!(ours.len(), 2357);
    assert_eq!(ours.iter().filter(|s| s.frequency > 0).count(), 946);
    for (s, p) in ours.iter().zip(&published) {
        assert_eq!(s.customer, p.0);
        assert_eq!(s.frequency, p.1, "customer {}", p.0);
        // The published file rounds weeks and dollars to two decimals.
        assert_close("recency", s.recency, p.2, 0.005 + 1e-9);
        assert_close("T", s.t, p.3, 0.005 + 1e-9);
        let m: f64 = s.monetary_value.try_into().expect("f64");
        assert_close("zbar", m, p.4, 0.005 + 1e-9);
    }
}

#[test]
fn bgnbd_fit_reproduces_fader_hardie_lee_2005() {
    for (source, data) in [
        (
            "published summary",
            BgNbdData::from_rows(
                PeriodUnit::Week,
                published_summary().iter().map(|p| (p.1, p.2, p.3)),
            )
            .expect("rows"),
        ),
        (
            "raw transactions",
            BgNbdData::from_summaries(PeriodUnit::Week, &summaries_from_raw()).expect("rows"),
        ),
    ] {
        let model = BgNbdModel::fit(&data, &FitOptions::default()).expect("fit");
        let p = model.params;
        eprintln!("{source}: {p:?} {:?}", model.diagnostics);
        assert!(
            model.diagnostics.converged,
            "{source}: {:?}",
            model.diagnostics
        );
        assert_close("r", p.r, 0.243, 0.0005);
        assert_close("alpha", p.alpha, 4.414, 0.0005);
        assert_close("a", p.a, 0.793, 0.0005);
        assert_close("b", p.b, 2.426, 0.0005);
        assert_close(
            "log-likelihood",
            model.diagnostics.log_likelihood,
            -9582.4,
            0.1,
        );
        assert_eq!(model.diagnostics.customers, 2357);
    }
}

#[test]
fn log_likelihood_at_the_published_parameters() {
    let data = BgNbdData::from_rows(
        PeriodUnit::Week,
        published_summary().iter().map(|p| (p.1, p.2, p.3)),
    )
    .expect("rows");
    assert_close("LL", data.log_likelihood(&PUBLISHED), -9582.4, 0.05);
}

/// The published BG/NBD estimates at full precision (our fit of the published
/// summary; `lifetimes` 0.11.3 gives the same to 6 digits).
fn fitted_published_summary() -> BgNbdParams {
    let data = BgNbdData::from_rows(
        PeriodUnit::Week,
        published_summary().iter().map(|p| (p.1, p.2, p.3)),
    )
    .expect("rows");
    BgNbdModel::fit(&data, &FitOptions::default())
        .expect("fit")
        .params
}

#[test]
fn expected_purchases_of_a_new_customer() {
    // The paper's figures were computed at the unrounded estimates: the
    // 3-decimal parameters move E[X(t)] in the 4th decimal (1.0420 instead of
    // 1.0405 at t = 31.8571), so the golden check uses the full-precision fit.
    let mle = fitted_published_summary();
    for (t, want) in [
        (0.1429, 0.0078),
        (1.0, 0.0532),
        (3.0, 0.1506),
        (31.8571, 1.0405),
        (32.0, 1.0437),
    ] {
        assert_close(
            &format!("E[X({t})]"),
            mle.expected_purchases_new_customer(t),
            want,
            0.00005,
        );
    }
    // t = 78: the published 1.8576 is the Gauss series cut after about 150
    // terms (z = 78/82.4 converges slowly); the series summed to convergence
    // (mpmath at 50 digits, scipy) gives 1.857972.
    assert_close(
        "E[X(78)]",
        mle.expected_purchases_new_customer(78.0),
        1.857_972,
        0.000_002,
    );
    assert_close(
        "E[X(78)] vs published",
        mle.expected_purchases_new_customer(78.0),
        1.8576,
        0.0005,
    );
}

#[test]
fn predictions_match_scipy_at_the_rounded_parameters() {
    // lifetimes 0.11.3 / scipy.special.hyp2f1 at r, alpha, a, b = 0.243,
    // 4.414, 0.793, 2.426 (benches/reference/golden_values.py).
    for (t, want) in [
        (0.1429, 0.007_828_347_516_068_002),
        (1.0, 0.053_267_891_171_656_27),
        (3.0, 0.150_865_230_893_048_96),
        (31.8571, 1.041_996_060_852_195_9),
        (32.0, 1.045_243_328_374_436),
        (78.0, 1.860_519_057_942_745_5),
    ] {
        let got = PUBLISHED.expected_purchases_new_customer(t);
        assert!(
            (got - want).abs() < 1e-12 * want,
            "E[X({t})] {got} vs {want}"
        );
    }
    let got = PUBLISHED.conditional_expected_purchases(2, 30.43, 38.86, 39.0);
    assert!((got - 1.226_028_174_767_135).abs() < 1e-12, "{got}");
}

#[test]
fn conditional_expectation_and_probabilities() {
    assert_close(
        "E[Y(39) | 2, 30.43, 38.86]",
        PUBLISHED.conditional_expected_purchases(2, 30.43, 38.86, 39.0),
        1.226,
        0.0005,
    );
    assert_close(
        "P(X(39) = 0)",
        PUBLISHED.probability_of_purchases(0, 39.0),
        0.5737864,
        0.0000001,
    );
}

#[test]
fn gamma_gamma_fit_reproduces_fader_hardie_2013() {
    use crm_core::analytics::{GammaGammaData, GammaGammaModel, GammaGammaParams};
    let summaries = summaries_from_raw();
    let data = GammaGammaData::from_summaries(&summaries).expect("repeat customers");
    assert_eq!(data.customers(), 946);
    let model = GammaGammaModel::fit(&data, &FitOptions::default()).expect("fit");
    eprintln!("{model:?}");
    assert!(model.diagnostics.converged, "{:?}", model.diagnostics);
    assert_close("p", model.params.p, 6.25, 0.005);
    assert_close("q", model.params.q, 3.74, 0.005);
    assert_close("gamma", model.params.gamma, 15.44, 0.005);

    // Conditional expected average spend of the first ten customers (Fader
    // and Hardie's note), computed like the paper at the unrounded estimates.
    let published: GammaGammaParams = model.params;
    let want = [
        24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17,
    ];
    for (s, w) in summaries.iter().zip(want) {
        let m: f64 = s.monetary_value.try_into().expect("f64");
        let got = published
            .expected_average_spend_f64(s.frequency, m)
            .expect("q > 1");
        assert_close(&format!("E[M] customer {}", s.customer), got, w, 0.005);
    }
}

#[test]
fn units_are_honest_the_same_data_in_days_or_months_gives_the_same_model() {
    let raw = |unit: PeriodUnit| {
        let text = std::fs::read_to_string(data_path("CDNOW_sample.txt")).expect("read raw");
        let options =
            SummaryOptions::new(unit, Some(day("19980630"))).with_calibration_end(day("19970930"));
        let mut builder = SummaryBuilder::new(options).expect("options");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let id: u32 = f[1].parse().expect("id");
            let amount: Decimal = f[4].parse().expect("amount");
            builder.add(&id, day(f[2]), amount).expect("purchase");
        }
        let summaries = builder.finish().summaries;
        let data = BgNbdData::from_summaries(unit, &summaries).expect("rows");
        let model = BgNbdModel::fit(&data, &FitOptions::default()).expect("fit");
        let repeat: u32 = summaries.iter().map(|s| s.frequency).sum();
        (model, f64::from(repeat))
    };
    let (weeks, repeat) = raw(PeriodUnit::Week);
    for unit in [PeriodUnit::Day, PeriodUnit::Month] {
        let (other, _) = raw(unit);
        assert!(other.diagnostics.converged, "{unit}");
        assert_eq!(other.unit, unit);
        let scale = PeriodUnit::Week.days() / unit.days();
        let p = other.params;
        assert_close("r", p.r, weeks.params.r, 1e-5);
        assert_close("a", p.a, weeks.params.a, 1e-5);
        assert_close("b", p.b, weeks.params.b, 1e-4);
        // alpha is a time scale: 4.41 weeks = 30.9 days = 1.01 months.
        assert_close("alpha", p.alpha / scale, weeks.params.alpha, 1e-4);
        // The likelihood is a density in time: it moves by x·ln(scale).
        assert_close(
            "LL",
            other.diagnostics.log_likelihood + repeat * scale.ln(),
            weeks.diagnostics.log_likelihood,
            1e-3,
        );
        // And so do the predictions: 39 weeks ahead is the same forecast.
        let in_weeks = weeks
            .params
            .conditional_expected_purchases(2, 30.43, 38.86, 39.0);
        let in_unit =
            p.conditional_expected_purchases(2, 30.43 * scale, 38.86 * scale, 39.0 * scale);
        assert_close("E[Y(39 weeks)]", in_unit, in_weeks, 1e-5);
    }
}

/// Relative difference `|got - want| / want`.
fn relative(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn bgnbd_standard_errors_match_lifetimes() {
    let data = BgNbdData::from_rows(
        PeriodUnit::Week,
        published_summary().iter().map(|p| (p.1, p.2, p.3)),
    )
    .expect("rows");
    let model = BgNbdModel::fit(&data, &FitOptions::default()).expect("fit");
    let se = model.standard_errors.expect("standard errors");
    eprintln!("BG/NBD CDNOW standard errors: {se:?}");
    // lifetimes' BetaGeoFitter on the CDNOW summary (its documentation's
    // `summary`): se(coef) r 0.013, alpha 0.378, a 0.186, b 0.705.
    for (name, e, estimate, want) in [
        ("r", se.r, model.params.r, 0.013),
        ("alpha", se.alpha, model.params.alpha, 0.378),
        ("a", se.a, model.params.a, 0.186),
        ("b", se.b, model.params.b, 0.705),
    ] {
        assert_eq!(e.estimate, estimate, "{name}");
        // The published figures have three decimals: 2% relative, or half
        // a unit of the last published digit.
        assert!(
            relative(e.standard_error, want) <= 0.02 || (e.standard_error - want).abs() <= 5e-4,
            "{name}: standard error {} vs lifetimes {want}",
            e.standard_error
        );
        let half = 1.959_963_984_540_054 * e.standard_error;
        assert!((e.upper_95 - e.estimate - half).abs() <= 1e-12 * e.estimate.max(1.0));
        assert!((e.estimate - e.lower_95 - half).abs() <= 1e-12 * e.estimate.max(1.0));
    }
    // The same figures from the public pieces: the Hessian and the estimates.
    let h = data.objective_hessian(&model.params, 0.0);
    let p = model.params;
    let again = crm_core::analytics::fit::parameter_estimates(
        &h,
        &[p.r, p.alpha, p.a, p.b],
        data.customers() as f64,
    )
    .expect("positive definite");
    assert_eq!(again, vec![se.r, se.alpha, se.a, se.b]);
}

#[test]
fn gamma_gamma_standard_errors_are_finite_and_cover_the_estimates() {
    use crm_core::analytics::{GammaGammaData, GammaGammaModel};
    let summaries = summaries_from_raw();
    let data = GammaGammaData::from_summaries(&summaries).expect("repeat customers");
    let model = GammaGammaModel::fit(&data, &FitOptions::default()).expect("fit");
    let se = model.standard_errors.expect("standard errors");
    eprintln!("Gamma-Gamma CDNOW standard errors: {se:?}");
    for (name, e, estimate) in [
        ("p", se.p, model.params.p),
        ("q", se.q, model.params.q),
        ("gamma", se.gamma, model.params.gamma),
    ] {
        assert_eq!(e.estimate, estimate, "{name}");
        assert!(
            e.standard_error.is_finite() && e.standard_error > 0.0,
            "{name}: {e:?}"
        );
        assert!(
            e.lower_95 < e.estimate && e.estimate < e.upper_95,
            "{name}: {e:?}"
        );
        // Not absurdly large on 946 repeat customers.
        assert!(e.standard_error < e.estimate, "{name}: {e:?}");
    }
}

#[test]
fn snapshots_without_standard_errors_still_load() {
    use crm_core::analytics::{AnalyticsConfig, AnalyticsModel};
    let summaries = summaries_from_raw();
    let model =
        AnalyticsModel::fit(PeriodUnit::Week, &summaries, AnalyticsConfig::new()).expect("fit");
    let bgnbd = model.bgnbd.as_ref().expect("BG/NBD fitted");
    let gamma_gamma = model.gamma_gamma.as_ref().expect("Gamma-Gamma fitted");
    assert!(bgnbd.standard_errors.is_some());
    assert!(gamma_gamma.standard_errors.is_some());
    let json = model.to_snapshot_json().expect("serialise");
    let mut old: serde_json::Value = serde_json::from_str(&json).expect("json");
    // A snapshot written before the standard errors existed.
    for key in ["bgnbd", "gamma_gamma"] {
        let removed = old[key]
            .as_object_mut()
            .expect("model object")
            .remove("standard_errors");
        assert!(removed.is_some(), "{key} had standard errors");
    }
    let loaded = AnalyticsModel::from_snapshot_json(&old.to_string()).expect("old snapshot");
    let (b, g) = (
        loaded.bgnbd.as_ref().expect("BG/NBD"),
        loaded.gamma_gamma.as_ref().expect("Gamma-Gamma"),
    );
    assert_eq!(b.standard_errors, None);
    assert_eq!(g.standard_errors, None);
    assert_eq!(b.params, bgnbd.params);
    assert_eq!(g.params, gamma_gamma.params);
    for s in summaries.iter().take(50) {
        assert_eq!(loaded.score(s), model.score(s));
    }
}
