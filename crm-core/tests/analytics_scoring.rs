//! Per-customer analytics, batch scoring and snapshots.

use chrono::NaiveDate;
use crm_core::ErrorKind;
use crm_core::analytics::{
    AnalyticsConfig, AnalyticsModel, AnalyticsModelBuilder, BgNbdParams, ChurnMethod, ChurnRisk,
    CustomerSummary, GammaGammaParams, PeriodUnit, RfmSegment, Simulation, SummaryBuilder,
    SummaryOptions, summarize_sorted,
};
use rust_decimal::Decimal;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y%m%d").expect("date")
}

fn cdnow() -> Vec<CustomerSummary<u32>> {
    let path = format!(
        "{}/../tests/data/cdnow/CDNOW_sample.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("read raw");
    let options = SummaryOptions::new(PeriodUnit::Week, Some(day("19980630")))
        .with_calibration_end(day("19970930"));
    let mut builder = SummaryBuilder::new(options).expect("options");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let id: u32 = f[1].parse().expect("id");
        let amount: Decimal = f[4].parse().expect("amount");
        builder.add(&id, day(f[2]), amount).expect("purchase");
    }
    builder.finish().summaries
}

fn simulation(customers: u64) -> Simulation {
    Simulation {
        customers,
        bgnbd: BgNbdParams {
            r: 0.6,
            alpha: 5.0,
            a: 0.9,
            b: 3.2,
        },
        spend: GammaGammaParams {
            p: 5.0,
            q: 3.5,
            gamma: 20.0,
        },
        unit: PeriodUnit::Week,
        first_purchase_from: day("20240101"),
        cohort_days: 84,
        observation_end: day("20250630"),
        seed: 11,
    }
}

#[test]
fn every_cdnow_customer_gets_consistent_analytics() {
    let summaries = cdnow();
    let model =
        AnalyticsModel::fit(PeriodUnit::Week, &summaries, AnalyticsConfig::new()).expect("fit");
    assert_eq!(model.churn_method, ChurnMethod::BgNbd, "{:?}", model.notes);
    let bgnbd = model.usable_bgnbd().expect("model");
    assert!((bgnbd.params.r - 0.243).abs() < 0.0005);
    assert_eq!(model.customers, 2357);
    assert_eq!(model.repeat_customers, 946);

    let mut scorer = model.scorer();
    let mut segments = std::collections::HashSet::new();
    for s in &summaries {
        let a = scorer.score(s);
        assert_eq!(a.customer_id, s.customer);
        assert!((0.0..=1.0).contains(&a.p_alive));
        assert!((a.churn_probability - (1.0 - a.p_alive)).abs() < 1e-15);
        assert_eq!(
            a.risk_level,
            model.config.churn.thresholds.risk(a.churn_probability)
        );
        assert_eq!(a.segment, a.rfm.segment);
        segments.insert(a.segment);

        // The scorer's caches give exactly what the model functions give.
        let direct =
            bgnbd
                .params
                .conditional_expected_purchases(s.frequency, s.recency, s.t, 90.0 / 7.0);
        let cached = a.expected_purchases_90d.expect("model forecast");
        assert!(
            (cached - direct).abs() <= 1e-12 * direct.max(1.0),
            "{cached} vs {direct}"
        );
        let breakdown = model.model_lifetime_value(s).expect("model CLV");
        assert_eq!(a.model_lifetime_value, Some(breakdown.total));
        assert_eq!(breakdown.steps.len(), 12);
        assert_eq!(
            a.lifetime_value,
            model
                .config
                .heuristic_clv
                .lifetime_value_of(s, PeriodUnit::Week, 2)
        );
    }
    assert!(segments.len() >= 3, "{segments:?}");

    // Customer 1 bought 3 times for 29.33 + 29.73 + 14.96 = 74.02 in the
    // 38.86 weeks (272 days) to the calibration end: under a year, so a
    // yearly rate of 3; 3 × (74.02/3) × 0.20 - 3 × 50 = -135.20.
    let first = scorer.score(&summaries[0]);
    assert_eq!(first.lifetime_value, Decimal::new(-13520, 2));
}

#[test]
fn analytics_json_has_the_fields_the_guide_tests() {
    let summaries = cdnow();
    let model =
        AnalyticsModel::fit(PeriodUnit::Week, &summaries, AnalyticsConfig::new()).expect("fit");
    let json = serde_json::to_value(model.score(&summaries[0])).expect("json");
    for key in [
        "customer_id",
        "segment",
        "lifetime_value",
        "model_lifetime_value",
        "p_alive",
        "churn_probability",
        "risk_level",
        "recommended_action",
        "expected_purchases_90d",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert!(json["rfm"]["recency"].is_u64());
}

#[test]
fn snapshot_round_trips_and_scores_identically() {
    let summaries = cdnow();
    let model =
        AnalyticsModel::fit(PeriodUnit::Week, &summaries, AnalyticsConfig::new()).expect("fit");
    let json = model.to_snapshot_json().expect("serialise");
    let loaded = AnalyticsModel::from_snapshot_json(&json).expect("load");
    assert_eq!(loaded, model);
    for s in summaries.iter().take(200) {
        assert_eq!(loaded.score(s), model.score(s));
    }
    let mut tampered: serde_json::Value = serde_json::from_str(&json).expect("json");
    tampered["snapshot_version"] = serde_json::json!(99);
    let err = AnalyticsModel::from_snapshot_json(&tampered.to_string()).expect_err("version");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(AnalyticsModel::from_snapshot_json("{\"not\": 1}").is_err());
}

#[test]
fn too_few_customers_use_the_flagged_recency_fallback() {
    let summaries = cdnow();
    let few = &summaries[..60];
    let model = AnalyticsModel::fit(PeriodUnit::Week, few, AnalyticsConfig::new()).expect("fit");
    assert_eq!(model.churn_method, ChurnMethod::RecencyFallback);
    assert!(model.bgnbd.is_none());
    assert!(
        model.notes.iter().any(|n| n.contains("fewer than 100")),
        "{:?}",
        model.notes
    );
    for s in few {
        let a = model.score(s);
        assert_eq!(a.churn_method, ChurnMethod::RecencyFallback);
        assert_eq!(a.expected_purchases_90d, None);
        assert_eq!(a.model_lifetime_value, None);
        assert!((0.0..=1.0).contains(&a.churn_probability));
    }
    // A long-silent repeat buyer is riskier than a recent one.
    let recent = CustomerSummary {
        customer: "recent",
        frequency: 4,
        recency: 20.0,
        t: 21.0,
        monetary_value: Decimal::TEN,
        total_spend: Decimal::new(50, 0),
        holdout: None,
    };
    let silent = CustomerSummary {
        customer: "silent",
        recency: 5.0,
        ..recent.clone()
    };
    let (r, s) = (
        model.churn_prediction(&recent),
        model.churn_prediction(&silent),
    );
    assert!(r.churn_probability < s.churn_probability);
    assert_eq!(s.risk_level, ChurnRisk::Critical);
    assert_eq!(s.recommended_action, model.config.churn.actions.critical);
}

#[test]
fn thresholds_and_actions_are_configurable() {
    let summaries = cdnow();
    let mut config = AnalyticsConfig::new();
    config.churn.thresholds.medium = 0.05;
    config.churn.thresholds.high = 0.10;
    config.churn.thresholds.critical = 0.15;
    config.churn.actions.critical = "call them".into();
    let model = AnalyticsModel::fit(PeriodUnit::Week, &summaries, config).expect("fit");
    let critical = summaries
        .iter()
        .map(|s| model.score(s))
        .find(|a| a.churn_probability >= 0.15)
        .expect("some churners");
    assert_eq!(critical.risk_level, ChurnRisk::Critical);
    assert_eq!(critical.recommended_action, "call them");

    let mut bad = AnalyticsConfig::new();
    bad.churn.thresholds.high = 0.9;
    assert!(AnalyticsModel::fit(PeriodUnit::Week, &summaries, bad).is_err());
}

#[test]
fn two_streaming_passes_equal_the_in_memory_path() {
    let sim = simulation(5_000);
    let options = SummaryOptions::new(PeriodUnit::Week, Some(sim.observation_end));

    // Pass 1: fit from a stream of purchases grouped by customer.
    let mut builder =
        AnalyticsModelBuilder::new(PeriodUnit::Week, AnalyticsConfig::new()).expect("config");
    for s in summarize_sorted(options, sim.purchases().expect("sim")).expect("options") {
        builder.add(&s.expect("grouped"));
    }
    let model = builder.finish().expect("fit");
    assert_eq!(model.churn_method, ChurnMethod::BgNbd, "{:?}", model.notes);

    // Pass 2: score a second stream, one customer at a time.
    let streamed: Vec<_> = model
        .score_all(
            summarize_sorted(options, sim.purchases().expect("sim"))
                .expect("options")
                .map(|s| s.expect("grouped")),
        )
        .collect();

    let summaries: Vec<_> = summarize_sorted(options, sim.purchases().expect("sim"))
        .expect("options")
        .collect::<Result<_, _>>()
        .expect("grouped");
    let in_memory =
        AnalyticsModel::fit(PeriodUnit::Week, &summaries, AnalyticsConfig::new()).expect("fit");
    assert_eq!(in_memory, model);
    let direct: Vec<_> = summaries.iter().map(|s| in_memory.score(s)).collect();
    assert_eq!(streamed, direct);
    assert!(streamed.iter().any(|a| a.segment == RfmSegment::Champion));
}

/// The machine-owning fit (BG/NBD on a thread of its own, reading its own
/// rows) gives the model the one-thread fit gives, above and below the
/// population where it starts using threads.
#[test]
fn fit_parallel_is_fit() {
    let sim = simulation(30_000);
    let options = SummaryOptions::new(PeriodUnit::Week, Some(sim.observation_end));
    let large: Vec<CustomerSummary<u64>> = summarize_sorted(options, sim.purchases().expect("sim"))
        .expect("options")
        .collect::<Result<_, _>>()
        .expect("grouped");
    assert_eq!(large.len(), 30_000);
    assert_fit_parallel_is_fit(&large);
    assert_fit_parallel_is_fit(&cdnow());
    // Too few customers for BG/NBD: the same notes either way.
    let config = AnalyticsConfig::new();
    let few = &large[..3];
    assert_eq!(
        AnalyticsModel::fit_parallel(PeriodUnit::Week, few, config.clone()).expect("fit"),
        AnalyticsModel::fit(PeriodUnit::Week, few, config).expect("fit")
    );
}

/// `fit_parallel` of `summaries` is `fit` of them, with both models used.
fn assert_fit_parallel_is_fit<K: Sync>(summaries: &[CustomerSummary<K>]) {
    let config = AnalyticsConfig::new();
    let model =
        AnalyticsModel::fit_parallel(PeriodUnit::Week, summaries, config.clone()).expect("fit");
    let one = AnalyticsModel::fit(PeriodUnit::Week, summaries, config).expect("fit");
    assert_eq!(model, one);
    assert_eq!(model.churn_method, ChurnMethod::BgNbd, "{:?}", model.notes);
    assert!(model.gamma_gamma.is_some());
}
