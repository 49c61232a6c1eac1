//! # crm-conformance
//!
//! One suite of behaviour every storage backend must show, written once as
//! async functions over a [`Backend`] and run unchanged against memory, SQLite
//! and MySQL by the test files in `tests/tests/` through [`conformance_suite!`].
//!
//! MySQL reads `CRM_TEST_MYSQL_URL` (e.g. `mysql://crm:crm@127.0.0.1:3306/crm_test`)
//! and creates a fresh database for every test, dropped afterwards. Without
//! the variable the MySQL cases print that they are skipped; with `CI=true` a
//! missing or unreachable MySQL fails them.

pub mod cases;
pub mod comms_cases;
pub mod customer_import_cases;
pub mod hardening_cases;
pub mod harness;
pub mod import_cases;
pub mod loyalty_cases;
pub mod property;

pub use harness::Backend;

/// Expands to one `#[tokio::test]` per conformance case, each getting a fresh
/// backend from `$factory` (an `async fn() -> Option<Backend>`; `None` = skipped).
#[macro_export]
macro_rules! conformance_suite {
    ($factory:path) => {
        $crate::conformance_suite!(@cases $factory;
            create_and_read_back,
            codes_are_allocated_per_type,
            concurrent_creates_get_distinct_codes,
            concurrent_tag_updates_of_different_customers_all_succeed,
            concurrent_same_email_in_other_case_gives_one_conflict,
            concurrent_same_phone_in_other_format_gives_one_conflict,
            invalid_create_reports_every_field_and_writes_nothing,
            update_changes_named_fields_and_validates,
            update_cannot_take_another_customers_email,
            deactivate_hides_and_frees_contact_then_reactivate_checks_it,
            filters_by_type_tag_status_and_created_range,
            search_by_name_prefix_code_email_and_phone,
            offset_pages_and_limit_cap,
            keyset_cursor_walks_every_sort_without_gaps,
            missing_customers_are_not_found,
            import_is_all_or_nothing,
        );
        $crate::conformance_suite!(@loyalty $factory;
            purchase_earns_once_per_receipt,
            redeem_never_overdraws,
            reads_of_an_unknown_customer_are_not_found,
            amounts_beyond_the_stored_range_are_validation_errors,
            concurrent_redemptions_take_exactly_what_fits,
            lots_expire_soonest_first_and_once,
            refunds_reverse_once_and_record_debt,
            refund_gives_back_points_redeemed_on_the_receipt,
            tiers_follow_points_earned_not_balance,
            merge_moves_everything_once,
            outbox_has_one_event_per_change,
            concurrent_mixed_operations_with_duplicate_keys,
            replay_after_a_dropped_connection_applies_once,
            analytics_score_customers_from_the_store,
        );
        $crate::conformance_suite!(@hardening $factory;
            manual_points_are_capped_by_role,
            points_never_overflow,
            refunds_give_back_only_the_customers_own_redemption,
            refusals_are_final,
            concurrent_replays_answer_like_the_first_try,
            late_commits_are_delivered_once_in_order,
            a_failed_commit_leaves_nothing,
            segments_come_from_the_last_fit,
            dashboard_and_segment_filters_come_from_the_last_fit,
            user_changes_end_tokens,
            outbox_retention_asks_old_readers_to_resync,
            audit_trail_names_the_actor_of_every_change,
            erasure_removes_personal_data_and_keeps_the_ledger,
        );
        $crate::conformance_suite!(@import $factory;
            history_import_feeds_analytics_without_points,
            history_import_reports_every_bad_row_and_writes_nothing,
            history_import_reruns_skip_what_is_stored,
            history_import_checks_customers,
        );
        $crate::conformance_suite!(@customer_import $factory;
            customer_import_decides_every_row,
            customer_import_dry_run_writes_nothing,
            customer_import_update_and_report_policies,
            customer_import_resumes_without_duplicates,
        );
        $crate::conformance_suite!(@comms $factory;
            campaigns_send_once_to_each_consenting_customer,
            concurrent_dispatchers_send_each_mail_once,
            interrupted_claims_are_not_sent_again,
            failed_sends_are_retried_with_backoff,
            sms_respects_quiet_hours,
            unsubscribe_links_opt_out_once,
            templates_and_campaigns_are_checked_when_saved,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn random_sequences_keep_the_invariants() {
            let Some(backend) = $factory().await else { return };
            $crate::harness::run(backend, $crate::property::random_sequences_keep_the_invariants).await;
        }
    };
    (@loyalty $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = $factory().await else { return };
                $crate::harness::run(backend, $crate::loyalty_cases::$case).await;
            }
        )*
    };
    (@hardening $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = $factory().await else { return };
                $crate::harness::run(backend, $crate::hardening_cases::$case).await;
            }
        )*
    };
    (@comms $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = $factory().await else { return };
                $crate::harness::run(backend, $crate::comms_cases::$case).await;
            }
        )*
    };
    (@import $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = $factory().await else { return };
                $crate::harness::run(backend, $crate::import_cases::$case).await;
            }
        )*
    };
    (@customer_import $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = $factory().await else { return };
                $crate::harness::run(backend, $crate::customer_import_cases::$case).await;
            }
        )*
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(backend) = $factory().await else { return };
                $crate::harness::run(backend, $crate::cases::$case).await;
            }
        )*
    };
}
