//! The conformance cases. Each takes a fresh [`Backend`] and asserts
//! behaviour through the public `Crm` facade only.

use std::collections::HashSet;

use chrono::{Duration, NaiveDate};
use crm_core::{
    ActivityFilter, Address, Customer, CustomerPatch, CustomerQuery, CustomerSort, CustomerType,
    Error, ErrorKind, NewCustomer, SortDirection,
};
use rust_decimal::Decimal;

use crate::Backend;

fn dec(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

fn person(name: &str) -> NewCustomer {
    NewCustomer {
        name: name.into(),
        ..NewCustomer::default()
    }
}

fn all() -> CustomerQuery {
    CustomerQuery {
        status: ActivityFilter::All,
        limit: Some(100),
        ..CustomerQuery::default()
    }
}

async fn create(b: &Backend, c: NewCustomer) -> Customer {
    b.crm.customers().create(c).await.expect("create")
}

fn fields_of(e: &Error) -> Vec<(&str, &str)> {
    e.field_errors()
        .iter()
        .map(|f| (f.field.as_str(), f.rule.as_str()))
        .collect()
}

/// A full record is stored normalised and read back identically by id and code.
pub async fn create_and_read_back(b: Backend) {
    let created = create(
        &b,
        NewCustomer {
            name: "  Toko Sinar Jaya ".into(),
            email: Some("Owner@SinarJaya.CO.ID".into()),
            phone: Some("0812-3456-7890".into()),
            customer_type: CustomerType::Wholesale,
            credit_limit: dec("15000000.5"),
            address: Address {
                line1: Some("Jl. Merdeka 10".into()),
                city: Some("Bandung".into()),
                province: Some("Jawa Barat".into()),
                postal_code: Some("40111".into()),
                country: Some("id".into()),
                line2: None,
            },
            birthday: NaiveDate::from_ymd_opt(1980, 2, 29),
            // Quotes, a comma, a backslash and non-ASCII survive the store
            // (a customer is read with its tags as JSON).
            tags: vec![
                "VIP".into(),
                "b2b".into(),
                r#"say "hi", \ ok"#.into(),
                "Pelanggan-ÉLITE ✓".into(),
            ],
        },
    )
    .await;
    assert_eq!(created.name, "Toko Sinar Jaya");
    assert_eq!(created.customer_code.as_str(), "WS00000001");
    assert_eq!(created.email.as_deref(), Some("owner@sinarjaya.co.id"));
    assert_eq!(created.phone.as_deref(), Some("+6281234567890"));
    assert_eq!(created.credit_limit, dec("15000000.50"));
    assert_eq!(created.address.country.as_deref(), Some("ID"));
    assert_eq!(
        created.tags,
        ["b2b", "pelanggan-élite ✓", r#"say "hi", \ ok"#, "vip"]
    );
    assert!(created.is_active);
    assert_eq!(created.version, 1);
    assert_eq!(created.created_at, crate::harness::start_time());
    assert_eq!(created.updated_at, created.created_at);

    let by_id = b.crm.customers().get(created.id).await.expect("get by id");
    assert_eq!(by_id, created, "{}: read back differs", b.name);
    let by_code = b
        .crm
        .customers()
        .by_code("ws00000001".into())
        .await
        .expect("get by code");
    assert_eq!(by_code, created);
}

/// Each type has its own sequence; codes are prefix + 8 digits.
pub async fn codes_are_allocated_per_type(b: Backend) {
    let mut codes = Vec::new();
    for t in [
        CustomerType::Retail,
        CustomerType::Retail,
        CustomerType::Wholesale,
        CustomerType::Distributor,
        CustomerType::Corporate,
        CustomerType::Retail,
    ] {
        let c = create(
            &b,
            NewCustomer {
                customer_type: t,
                ..person("Someone")
            },
        )
        .await;
        codes.push(c.customer_code.to_string());
    }
    assert_eq!(
        codes,
        [
            "RT00000001",
            "RT00000002",
            "WS00000001",
            "DS00000001",
            "CP00000001",
            "RT00000003"
        ]
    );
}

/// Many concurrent updates that replace tags, on different customers: every
/// one succeeds (on MySQL a blanket tag delete took gap locks and two
/// updates deadlocked on each other's insert).
pub async fn concurrent_tag_updates_of_different_customers_all_succeed(b: Backend) {
    let mut ids = Vec::new();
    for i in 0..16 {
        let c = b
            .crm
            .customers()
            .create(person(&format!("Tagged {i}")))
            .await
            .expect("create");
        ids.push(c.id);
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|&id| {
            let crm = b.crm.clone();
            tokio::spawn(async move {
                let mut last = None;
                for round in 0..6 {
                    let patch = CustomerPatch {
                        tags: Some(vec![format!("t{round}"), "vip".into()]),
                        ..Default::default()
                    };
                    last = Some(
                        crm.customers()
                            .update(crm_core::UpdateCustomer { id, patch })
                            .await?,
                    );
                }
                Ok::<_, crm_core::Error>(last)
            })
        })
        .collect();
    for t in tasks {
        let c = t
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{}: update failed: {e}", b.name))
            .expect("updated");
        let mut tags = c.tags.clone();
        tags.sort();
        assert_eq!(tags, ["t5", "vip"], "{}", b.name);
    }
}

/// 50 concurrent RETAIL creates get 50 distinct `RT` codes of length 10.
pub async fn concurrent_creates_get_distinct_codes(b: Backend) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let crm = b.crm.clone();
            tokio::spawn(async move { crm.customers().create(person(&format!("Buyer {i}"))).await })
        })
        .collect();
    let mut codes = HashSet::new();
    for t in tasks {
        let c = t.await.expect("task").expect("create");
        assert!(c.customer_code.as_str().starts_with("RT"));
        assert_eq!(c.customer_code.as_str().len(), 10);
        codes.insert(c.customer_code.to_string());
    }
    assert_eq!(codes.len(), 50, "{}: codes were shared", b.name);
    let expected: HashSet<String> = (1..=50).map(|n| format!("RT{n:08}")).collect();
    assert_eq!(codes, expected, "{}: codes have gaps", b.name);
}

async fn one_wins_one_conflicts(b: &Backend, first: NewCustomer, second: NewCustomer, field: &str) {
    let (x, y) = tokio::join!(
        tokio::spawn({
            let crm = b.crm.clone();
            async move { crm.customers().create(first).await }
        }),
        tokio::spawn({
            let crm = b.crm.clone();
            async move { crm.customers().create(second).await }
        }),
    );
    let results = [x.expect("task"), y.expect("task")];
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "{}: expected exactly one create to succeed: {results:?}",
        b.name
    );
    let err = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("one conflict");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    match err {
        Error::DuplicateCustomer {
            field: f,
            existing_code,
            ..
        } => {
            assert_eq!(*f, field);
            assert_eq!(
                existing_code, &winners[0].customer_code,
                "conflict must name the winner"
            );
        }
        other => panic!("{}: expected DuplicateCustomer, got {other:?}", b.name),
    }
    assert!(
        err.to_string().contains(winners[0].customer_code.as_str()),
        "message names the code: {err}"
    );
    let page = b.crm.customers().list(all()).await.expect("list");
    assert_eq!(page.total, Some(1), "{}: the loser wrote something", b.name);
}

/// Same email in another letter case, concurrently: one customer, one conflict naming it.
pub async fn concurrent_same_email_in_other_case_gives_one_conflict(b: Backend) {
    let first = NewCustomer {
        email: Some("Budi.Santoso@Example.com".into()),
        ..person("Budi")
    };
    let second = NewCustomer {
        email: Some("budi.santoso@EXAMPLE.COM".into()),
        customer_type: CustomerType::Corporate,
        ..person("Budi S")
    };
    one_wins_one_conflicts(&b, first, second, "email").await;
}

/// `0812...` and `+62812...` are the same phone: one customer, one conflict.
pub async fn concurrent_same_phone_in_other_format_gives_one_conflict(b: Backend) {
    let first = NewCustomer {
        phone: Some("0812-3456-7890".into()),
        ..person("Siti")
    };
    let second = NewCustomer {
        phone: Some("+62 812 3456 7890".into()),
        ..person("Siti A")
    };
    one_wins_one_conflicts(&b, first, second, "phone").await;
}

/// Four bad fields, one error listing all four, nothing written.
pub async fn invalid_create_reports_every_field_and_writes_nothing(b: Backend) {
    let err = b
        .crm
        .customers()
        .create(NewCustomer {
            name: "n".repeat(300),
            email: Some("x@".into()),
            phone: Some("abc".into()),
            credit_limit: dec("-5"),
            ..NewCustomer::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        fields_of(&err),
        [
            ("name", "max_length"),
            ("email", "email"),
            ("phone", "phone"),
            ("credit_limit", "min")
        ]
    );
    assert_eq!(
        b.crm.customers().list(all()).await.expect("list").total,
        Some(0)
    );
    // No code number was used up either.
    let c = create(&b, person("First")).await;
    assert_eq!(c.customer_code.as_str(), "RT00000001");
}

/// A patch changes only what it names, bumps version and updated_at, and is validated whole.
pub async fn update_changes_named_fields_and_validates(b: Backend) {
    let c = create(
        &b,
        NewCustomer {
            email: Some("a@example.com".into()),
            phone: Some("081234567890".into()),
            tags: vec!["old".into()],
            ..person("Ani")
        },
    )
    .await;
    b.clock.advance(Duration::minutes(5));
    let updated = b
        .crm
        .customers()
        .update(crm_core::UpdateCustomer {
            id: c.id,
            patch: CustomerPatch {
                name: Some("Ani Wijaya".into()),
                email: Some(None),
                credit_limit: Some(dec("2500000")),
                tags: Some(vec!["Gold".into(), "jakarta".into()]),
                ..CustomerPatch::default()
            },
        })
        .await
        .expect("update");
    assert_eq!(updated.name, "Ani Wijaya");
    assert_eq!(updated.email, None);
    assert_eq!(
        updated.phone.as_deref(),
        Some("+6281234567890"),
        "untouched field kept"
    );
    assert_eq!(updated.credit_limit, dec("2500000.00"));
    assert_eq!(updated.tags, ["gold", "jakarta"]);
    assert_eq!(updated.version, 2);
    assert_eq!(
        updated.updated_at,
        crate::harness::start_time() + Duration::minutes(5)
    );
    assert_eq!(updated.created_at, c.created_at);
    assert_eq!(b.crm.customers().get(c.id).await.expect("get"), updated);

    let err = b
        .crm
        .customers()
        .update(crm_core::UpdateCustomer {
            id: c.id,
            patch: CustomerPatch {
                name: Some(String::new()),
                phone: Some(Some("12".into())),
                credit_limit: Some(dec("-1")),
                ..CustomerPatch::default()
            },
        })
        .await
        .expect_err("invalid");
    assert_eq!(
        fields_of(&err),
        [
            ("name", "required"),
            ("phone", "phone"),
            ("credit_limit", "min")
        ]
    );
    assert_eq!(
        b.crm.customers().get(c.id).await.expect("get"),
        updated,
        "nothing written"
    );

    // Fields that cannot be updated are rejected when read from JSON.
    let err = CustomerPatch::from_json(serde_json::json!({"customer_code": "RT00000009"}))
        .expect_err("not updatable");
    assert_eq!(fields_of(&err), [("customer_code", "not_updatable")]);
}

/// An update cannot take an email that an active customer holds.
pub async fn update_cannot_take_another_customers_email(b: Backend) {
    let a = create(
        &b,
        NewCustomer {
            email: Some("taken@example.com".into()),
            ..person("A")
        },
    )
    .await;
    let other = create(&b, person("B")).await;
    let err = b
        .crm
        .customers()
        .update(crm_core::UpdateCustomer {
            id: other.id,
            patch: CustomerPatch {
                email: Some(Some("TAKEN@example.com".into())),
                ..CustomerPatch::default()
            },
        })
        .await
        .expect_err("duplicate");
    match err {
        Error::DuplicateCustomer {
            field,
            existing_code,
            ..
        } => {
            assert_eq!(field, "email");
            assert_eq!(existing_code, a.customer_code);
        }
        other => panic!("expected DuplicateCustomer, got {other:?}"),
    }
    assert_eq!(
        b.crm.customers().get(other.id).await.expect("get").email,
        None
    );
}

/// Soft delete hides from default lists, keeps the record, frees the contact;
/// reactivation fails if someone active took the contact meanwhile.
pub async fn deactivate_hides_and_frees_contact_then_reactivate_checks_it(b: Backend) {
    let old = create(
        &b,
        NewCustomer {
            email: Some("shared@example.com".into()),
            ..person("Old")
        },
    )
    .await;
    b.clock.advance(Duration::seconds(1));
    let gone = b
        .crm
        .customers()
        .deactivate(old.id)
        .await
        .expect("deactivate");
    assert!(!gone.is_active);
    assert_eq!(gone.version, 2);
    let again = b
        .crm
        .customers()
        .deactivate(old.id)
        .await
        .expect("idempotent");
    assert_eq!(again.version, 2, "deactivating twice changes nothing");

    let default_list = b
        .crm
        .customers()
        .list(CustomerQuery::default())
        .await
        .expect("list");
    assert_eq!(default_list.total, Some(0));
    assert!(default_list.items.is_empty());
    let inactive = b
        .crm
        .customers()
        .list(CustomerQuery {
            status: ActivityFilter::Inactive,
            ..CustomerQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(
        inactive.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [old.id]
    );
    assert_eq!(
        b.crm
            .customers()
            .get(old.id)
            .await
            .expect("history stays")
            .name,
        "Old"
    );

    let new = create(
        &b,
        NewCustomer {
            email: Some("Shared@example.com".into()),
            ..person("New")
        },
    )
    .await;
    let err = b
        .crm
        .customers()
        .reactivate(old.id)
        .await
        .expect_err("taken");
    match &err {
        Error::DuplicateCustomer { existing_code, .. } => {
            assert_eq!(existing_code, &new.customer_code)
        }
        other => panic!("expected DuplicateCustomer, got {other:?}"),
    }
    assert!(!b.crm.customers().get(old.id).await.expect("get").is_active);

    b.crm
        .customers()
        .deactivate(new.id)
        .await
        .expect("deactivate new");
    let back = b
        .crm
        .customers()
        .reactivate(old.id)
        .await
        .expect("reactivate");
    assert!(back.is_active);
    assert_eq!(
        b.crm
            .customers()
            .list(CustomerQuery::default())
            .await
            .expect("list")
            .total,
        Some(1)
    );
}

/// Filters: type, tag, status, created range; totals follow the filters.
pub async fn filters_by_type_tag_status_and_created_range(b: Backend) {
    let t0 = crate::harness::start_time();
    let mut ids = Vec::new();
    for (i, (t, tag)) in [
        (CustomerType::Retail, "vip"),
        (CustomerType::Wholesale, "vip"),
        (CustomerType::Wholesale, "b2b"),
        (CustomerType::Corporate, "b2b"),
    ]
    .into_iter()
    .enumerate()
    {
        let c = create(
            &b,
            NewCustomer {
                customer_type: t,
                tags: vec![tag.into()],
                ..person(&format!("C{i}"))
            },
        )
        .await;
        ids.push(c.id);
        b.clock.advance(Duration::days(1));
    }
    b.crm
        .customers()
        .deactivate(ids[1])
        .await
        .expect("deactivate");

    let list = |q: CustomerQuery| {
        let crm = b.crm.clone();
        async move {
            let page = crm.customers().list(q).await.expect("list");
            (
                page.total
                    .expect("an offset page without a search is counted"),
                page.items.iter().map(|c| c.id).collect::<Vec<_>>(),
            )
        }
    };
    let wholesale = list(CustomerQuery {
        customer_type: Some(CustomerType::Wholesale),
        ..CustomerQuery::default()
    })
    .await;
    assert_eq!(wholesale, (1, vec![ids[2]]));
    let vip_all = list(CustomerQuery {
        tag: Some("VIP".into()),
        status: ActivityFilter::All,
        ..CustomerQuery::default()
    })
    .await;
    assert_eq!(vip_all, (2, vec![ids[0], ids[1]]));
    let middle = list(CustomerQuery {
        created_from: Some(t0 + Duration::days(1)),
        created_to: Some(t0 + Duration::days(3)),
        status: ActivityFilter::All,
        ..CustomerQuery::default()
    })
    .await;
    assert_eq!(middle, (2, vec![ids[1], ids[2]]));
    let err = b
        .crm
        .customers()
        .list(CustomerQuery {
            created_from: Some(t0 + Duration::days(3)),
            created_to: Some(t0),
            ..CustomerQuery::default()
        })
        .await
        .expect_err("inverted range");
    assert_eq!(fields_of(&err), [("created_from", "range")]);
}

/// Search matches a name prefix (any case), a code prefix, an email, or a
/// phone typed in any format; LIKE wildcards in the term are literal.
pub async fn search_by_name_prefix_code_email_and_phone(b: Backend) {
    let budi = create(
        &b,
        NewCustomer {
            email: Some("budi@example.com".into()),
            ..person("Budi Santoso")
        },
    )
    .await;
    let bud = create(&b, person("budiman")).await;
    let siti = create(
        &b,
        NewCustomer {
            phone: Some("+62 812 3456 7890".into()),
            customer_type: CustomerType::Corporate,
            ..person("Siti 50% Off")
        },
    )
    .await;
    let _other = create(&b, person("Andi")).await;

    let search = |q: &str| {
        let crm = b.crm.clone();
        let q = q.to_string();
        async move {
            crm.customers()
                .list(CustomerQuery {
                    q: Some(q),
                    ..CustomerQuery::default()
                })
                .await
                .expect("search")
                .items
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("BUDI").await, [budi.id, bud.id]);
    assert_eq!(search("budi ").await, [budi.id, bud.id], "term is trimmed");
    assert_eq!(search("Budi S").await, [budi.id]);
    assert_eq!(search("cp0000").await, [siti.id]);
    assert_eq!(search(siti.customer_code.as_str()).await, [siti.id]);
    assert_eq!(search("Budi@Example.com").await, [budi.id]);
    assert_eq!(search("0812-3456-7890").await, [siti.id]);
    assert_eq!(search("Siti 50%").await, [siti.id]);
    assert!(
        search("%").await.is_empty(),
        "a bare wildcard matches nothing"
    );
    assert!(search("_udi").await.is_empty());

    // A search is not counted unless asked; then every match is.
    let page = |count: Option<bool>| {
        let crm = b.crm.clone();
        async move {
            crm.customers()
                .list(CustomerQuery {
                    q: Some("budi".into()),
                    limit: Some(1),
                    count,
                    ..CustomerQuery::default()
                })
                .await
                .expect("search")
        }
    };
    let uncounted = page(None).await;
    assert_eq!(uncounted.total, None, "{}", b.name);
    assert!(uncounted.next_cursor.is_some(), "{}", b.name);
    assert_eq!(page(Some(true)).await.total, Some(2), "{}", b.name);
    assert_eq!(page(Some(false)).await.total, None, "{}", b.name);
}

/// Offset pages with totals; the limit is capped at the maximum; bad paging is rejected.
pub async fn offset_pages_and_limit_cap(b: Backend) {
    for i in 0..105 {
        create(&b, person(&format!("Customer {i:03}"))).await;
    }
    let page = |page: u32, limit: u32| {
        let crm = b.crm.clone();
        async move {
            crm.customers()
                .list(CustomerQuery {
                    page: Some(page),
                    limit: Some(limit),
                    ..CustomerQuery::default()
                })
                .await
        }
    };
    let p2 = page(2, 10).await.expect("page 2");
    assert_eq!(p2.total, Some(105));
    assert_eq!((p2.page, p2.limit), (2, 10));
    let names: Vec<_> = p2.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"Customer 010"));
    assert_eq!(names.len(), 10);
    assert!(p2.next_cursor.is_some());
    let last = page(11, 10).await.expect("last page");
    assert_eq!(last.items.len(), 5);
    assert_eq!(last.next_cursor, None);
    let capped = page(1, 1000).await.expect("capped");
    assert_eq!(capped.limit, 100);
    assert_eq!(capped.items.len(), 100);
    let err = page(0, 0).await.expect_err("zero page and limit");
    assert_eq!(fields_of(&err), [("limit", "min"), ("page", "min")]);
    let beyond = page(50, 10).await.expect("beyond the end");
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, Some(105));
}

/// Following `next_cursor` visits every matching customer exactly once, in
/// order, for every sort key and direction, even with duplicate sort values.
pub async fn keyset_cursor_walks_every_sort_without_gaps(b: Backend) {
    let names = [
        "delta", "Alpha", "charlie", "bravo", "alpha", "Echo", "bravo",
    ];
    let mut created = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let t = CustomerType::ALL[i % 4];
        created.push(
            create(
                &b,
                NewCustomer {
                    customer_type: t,
                    ..person(n)
                },
            )
            .await,
        );
        if i % 3 != 0 {
            b.clock.advance(Duration::seconds(1)); // some equal timestamps
        }
    }
    let filter_ref = crm_core::customer::CustomerFilter {
        customer_type: None,
        status: ActivityFilter::All,
        tag: None,
        created_from: None,
        created_to: None,
        search: None,
        sort: CustomerSort::Id,
        direction: SortDirection::Asc,
        after: None,
        offset: 0,
        limit: 100,
        count: true,
        segment: None,
        recency_score: None,
        frequency_score: None,
    };
    for sort in [
        CustomerSort::Id,
        CustomerSort::Name,
        CustomerSort::Code,
        CustomerSort::CreatedAt,
    ] {
        for direction in [SortDirection::Asc, SortDirection::Desc] {
            let mut expected = created.clone();
            let f = crm_core::customer::CustomerFilter {
                sort,
                direction,
                ..filter_ref.clone()
            };
            expected.sort_by(|a, b| f.compare(a, b));
            let expected: Vec<_> = expected.iter().map(|c| c.id).collect();

            let mut seen = Vec::new();
            let mut cursor = None;
            for _ in 0..10 {
                let page = b
                    .crm
                    .customers()
                    .list(CustomerQuery {
                        limit: Some(2),
                        cursor: cursor.clone(),
                        sort,
                        direction,
                        ..CustomerQuery::default()
                    })
                    .await
                    .expect("page");
                // Counted on the first (offset) page only.
                assert_eq!(page.total, cursor.is_none().then_some(7));
                seen.extend(page.items.iter().map(|c| c.id));
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(
                seen, expected,
                "{}: cursor walk by {sort:?} {direction:?}",
                b.name
            );
        }
    }
    let by_name = b
        .crm
        .customers()
        .list(CustomerQuery {
            limit: Some(2),
            sort: CustomerSort::Name,
            ..CustomerQuery::default()
        })
        .await
        .expect("page");
    let err = b
        .crm
        .customers()
        .list(CustomerQuery {
            cursor: by_name.next_cursor,
            sort: CustomerSort::Code,
            ..CustomerQuery::default()
        })
        .await
        .expect_err("cursor of another sort");
    assert_eq!(fields_of(&err), [("cursor", "cursor")]);
}

/// Unknown ids and codes are `NotFound`, for reads and writes alike.
pub async fn missing_customers_are_not_found(b: Backend) {
    let id = crm_core::CustomerId(424_242);
    for err in [
        b.crm.customers().get(id).await.expect_err("get"),
        b.crm
            .customers()
            .by_code("RT09999999".into())
            .await
            .expect_err("by code"),
        b.crm
            .customers()
            .update(crm_core::UpdateCustomer {
                id,
                patch: CustomerPatch {
                    name: Some("X".into()),
                    ..CustomerPatch::default()
                },
            })
            .await
            .expect_err("update"),
        b.crm
            .customers()
            .deactivate(id)
            .await
            .expect_err("deactivate"),
        b.crm
            .customers()
            .reactivate(id)
            .await
            .expect_err("reactivate"),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{}: {err}", b.name);
    }
    let err = b
        .crm
        .customers()
        .by_code("nonsense".into())
        .await
        .expect_err("bad code");
    assert_eq!(err.kind(), ErrorKind::Validation);
}

/// Bulk import: all rows or none; every bad row reported; codes in input order.
pub async fn import_is_all_or_nothing(b: Backend) {
    let existing = create(
        &b,
        NewCustomer {
            email: Some("taken@example.com".into()),
            ..person("Existing")
        },
    )
    .await;
    let rows = |n: usize| -> Vec<NewCustomer> {
        (0..n)
            .map(|i| NewCustomer {
                email: Some(format!("row{i}@example.com")),
                tags: vec![format!("batch{}", i % 3)],
                customer_type: if i % 2 == 0 {
                    CustomerType::Retail
                } else {
                    CustomerType::Wholesale
                },
                ..person(&format!("Row {i}"))
            })
            .collect()
    };

    let mut bad = rows(5);
    bad[1].name = String::new();
    bad[3].email = Some("row0@EXAMPLE.com".into());
    bad[4].phone = Some("abc".into());
    let err = b
        .crm
        .customers()
        .import(bad)
        .await
        .expect_err("invalid rows");
    assert_eq!(
        fields_of(&err),
        [
            ("[1].name", "required"),
            ("[3].email", "duplicate_in_batch"),
            ("[4].phone", "phone")
        ]
    );

    let mut clash = rows(1200);
    clash[1100].email = Some("Taken@example.com".into());
    let err = b
        .crm
        .customers()
        .import(clash)
        .await
        .expect_err("clash with existing");
    match &err {
        Error::DuplicateCustomer { existing_code, .. } => {
            assert_eq!(existing_code, &existing.customer_code)
        }
        other => panic!("{}: expected DuplicateCustomer, got {other:?}", b.name),
    }
    assert_eq!(
        b.crm.customers().list(all()).await.expect("list").total,
        Some(1),
        "{}: partial import",
        b.name
    );

    let imported = b.crm.customers().import(rows(1200)).await.expect("import");
    assert_eq!(imported.len(), 1200);
    assert_eq!(
        imported[0].customer_code.as_str(),
        "RT00000002",
        "no numbers burnt by failed imports"
    );
    assert_eq!(imported[1].customer_code.as_str(), "WS00000001");
    assert_eq!(imported[1199].customer_code.as_str(), "WS00000600");
    for c in [&imported[0], &imported[777], &imported[1199]] {
        assert_eq!(
            &b.crm.customers().get(c.id).await.expect("get"),
            c,
            "{}: read back",
            b.name
        );
    }
    let tagged = b
        .crm
        .customers()
        .list(CustomerQuery {
            tag: Some("batch1".into()),
            ..CustomerQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(tagged.total, Some(400));
    let next = create(&b, person("After")).await;
    assert_eq!(next.customer_code.as_str(), "RT00000602");
}
