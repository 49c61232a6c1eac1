//! The customer store, written once for both engines.
//!
//! MySQL and SQLite share `?` placeholders and, for these tables, the same SQL.
//! What differs is how a timestamp and a decimal are stored (MySQL
//! `DATETIME(6)`/`DECIMAL`, SQLite integer microseconds/text) and how the new
//! id is read back. Each engine module defines those few items
//! (`Db`, `DbRow`, `ts`, `from_ts`, `TsCol`, `money`, `from_money`,
//! `MoneyCol`, `last_insert_id`) and then expands [`impl_customer_store!`],
//! so every query below is type-checked against each engine concretely.

/// Columns of `customers`, in the order `customer_from_row` reads them.
pub(crate) const CUSTOMER_COLUMNS: &str = "id, customer_code, name, email, phone, customer_type, \
     credit_limit, address_line1, address_line2, city, province, postal_code, country, birthday, \
     is_active, merged_into, merged_by, merged_at, version, created_at, updated_at";

/// Allocates the next code number of a prefix. Runs first in the insert
/// transaction, so it takes the write lock (a row lock on MySQL, the database
/// lock on SQLite) before anything else: concurrent creates queue here and
/// never see the same number; a failed insert rolls the number back.
pub(crate) const BUMP_SEQUENCE: &str =
    "UPDATE customer_code_sequences SET last_value = last_value + 1 WHERE prefix = ?";
pub(crate) const BUMP_SEQUENCE_BY: &str =
    "UPDATE customer_code_sequences SET last_value = last_value + ? WHERE prefix = ?";
pub(crate) const READ_SEQUENCE: &str =
    "SELECT last_value FROM customer_code_sequences WHERE prefix = ?";

pub(crate) const INSERT_CUSTOMER_COLUMNS: &str = "INSERT INTO customers (customer_code, name, \
     email, phone, customer_type, credit_limit, address_line1, address_line2, city, province, \
     postal_code, country, birthday, created_at, updated_at) ";

/// Rows per multi-row `INSERT` of a bulk import (15 parameters a row stays far
/// below both engines' parameter limits).
pub(crate) const IMPORT_CHUNK: usize = 500;

/// Customer ids per `IN (...)` list when reading tags (a listing page reads
/// at most 101; imports read none).
pub(crate) const TAG_LOOKUP_CHUNK: usize = 128;

pub(crate) const UPDATE_CUSTOMER: &str = "UPDATE customers SET name = ?, email = ?, phone = ?, \
     customer_type = ?, credit_limit = ?, address_line1 = ?, address_line2 = ?, city = ?, \
     province = ?, postal_code = ?, country = ?, birthday = ?, \
     updated_at = ?, version = version + 1 WHERE id = ? AND version = ?";

pub(crate) const SET_ACTIVE: &str = "UPDATE customers SET is_active = ?, updated_at = ?, \
     version = version + 1 WHERE id = ? AND is_active <> ?";

/// Generates `impl CustomerStore` for an engine; see the module docs.
macro_rules! impl_customer_store {
    ($store:ident, $backend:literal, $pool:ty) => {
        impl $store {
            /// Applies the embedded migrations that are not applied yet.
            pub async fn migrate(&self) -> crm_core::Result<()> {
                MIGRATOR.run(&self.pool).await.map_err(|e| {
                    crm_core::Error::storage(concat!($backend, " migration failed"), e)
                })
            }

            /// The connection pool, for callers that add their own tables.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            async fn finish_connect(self, options: &$crate::StoreOptions) -> crm_core::Result<Self> {
                if options.migrate {
                    self.migrate().await?;
                }
                Ok(self)
            }
        }

        #[async_trait::async_trait]
        impl crm_core::store::CrmStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn pool_status(&self) -> Option<(u32, u32)> {
                Some((self.pool.size(), u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX)))
            }

            async fn ping(&self) -> crm_core::Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::db_err)?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }

        use crm_core::customer::query::{like_prefix, SortKey};
        use crm_core::customer::{
            ActivityFilter, Address, Customer, CustomerCode, CustomerFields, CustomerFilter,
            CustomerId, CustomerSort, CustomerType, SortDirection,
        };
        use crm_core::store::{CustomerSlice, CustomerStore};
        use crm_core::{Error, Result};
        use sqlx::{QueryBuilder, Row};
        use $crate::customers::*;
        use $crate::error::{corrupt, db_err, unique_violation};
        use $crate::shapes::{padded, shaped_chunks};

        /// Binds the caller-controlled columns, in `UPDATE_CUSTOMER` order.
        fn bind_fields<'q>(
            q: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
            f: &CustomerFields,
        ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
            q.bind(f.name.clone())
                .bind(f.email.clone())
                .bind(f.phone.clone())
                .bind(f.customer_type.as_str())
                .bind(money(f.credit_limit))
                .bind(f.address.line1.clone())
                .bind(f.address.line2.clone())
                .bind(f.address.city.clone())
                .bind(f.address.province.clone())
                .bind(f.address.postal_code.clone())
                .bind(f.address.country.clone())
                .bind(f.birthday)
        }

        /// Pushes one `INSERT_CUSTOMER_COLUMNS` row into a `VALUES` list.
        fn push_row(
            b: &mut sqlx::query_builder::Separated<'_, Db, &'static str>,
            f: &CustomerFields,
            code: &CustomerCode,
            now: chrono::DateTime<chrono::Utc>,
        ) {
            b.push_bind(code.to_string())
                .push_bind(f.name.clone())
                .push_bind(f.email.clone())
                .push_bind(f.phone.clone())
                .push_bind(f.customer_type.as_str())
                .push_bind(money(f.credit_limit))
                .push_bind(f.address.line1.clone())
                .push_bind(f.address.line2.clone())
                .push_bind(f.address.city.clone())
                .push_bind(f.address.province.clone())
                .push_bind(f.address.postal_code.clone())
                .push_bind(f.address.country.clone())
                .push_bind(f.birthday)
                .push_bind(ts(now))
                .push_bind(ts(now));
        }

        fn customer_from_row(row: &DbRow, tags: Vec<String>) -> Result<Customer> {
            let get_err = |e: sqlx::Error| db_err(e);
            let code: String = row.try_get("customer_code").map_err(get_err)?;
            let ctype: String = row.try_get("customer_type").map_err(get_err)?;
            Ok(Customer {
                id: CustomerId(row.try_get("id").map_err(get_err)?),
                customer_code: CustomerCode::parse(&code)
                    .map_err(|e| corrupt("customer_code", e))?,
                name: row.try_get("name").map_err(get_err)?,
                email: row.try_get("email").map_err(get_err)?,
                phone: row.try_get("phone").map_err(get_err)?,
                customer_type: ctype
                    .parse::<CustomerType>()
                    .map_err(|e| corrupt("customer_type", e))?,
                credit_limit: from_money(row.try_get::<MoneyCol, _>("credit_limit").map_err(get_err)?)?,
                address: Address {
                    line1: row.try_get("address_line1").map_err(get_err)?,
                    line2: row.try_get("address_line2").map_err(get_err)?,
                    city: row.try_get("city").map_err(get_err)?,
                    province: row.try_get("province").map_err(get_err)?,
                    postal_code: row.try_get("postal_code").map_err(get_err)?,
                    country: row.try_get("country").map_err(get_err)?,
                },
                birthday: row.try_get("birthday").map_err(get_err)?,
                tags,
                is_active: row.try_get("is_active").map_err(get_err)?,
                merged_into: row
                    .try_get::<Option<i64>, _>("merged_into")
                    .map_err(get_err)?
                    .map(CustomerId),
                merged_by: row.try_get("merged_by").map_err(get_err)?,
                merged_at: row
                    .try_get::<Option<TsCol>, _>("merged_at")
                    .map_err(get_err)?
                    .map(from_ts)
                    .transpose()?,
                version: row.try_get("version").map_err(get_err)?,
                created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(get_err)?)?,
                updated_at: from_ts(row.try_get::<TsCol, _>("updated_at").map_err(get_err)?)?,
            })
        }

        async fn write_tags(
            conn: &mut <Db as sqlx::Database>::Connection,
            id: CustomerId,
            tags: &[String],
            replace: bool,
        ) -> Result<()> {
            // Replacing touches only the tags that change, each by its full
            // key: a blanket `DELETE ... WHERE customer_id = ?` takes gap
            // locks on MySQL, and two updates of different customers then
            // deadlock on each other's insert (seen with two servers). The
            // caller holds the customer row, so the plain read is stable.
            let mut tags: Vec<String> = tags.to_vec();
            if replace {
                let current: Vec<String> =
                    sqlx::query_scalar("SELECT tag FROM customer_tags WHERE customer_id = ?")
                        .bind(id.0)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(db_err)?;
                for old in current.iter().filter(|t| !tags.contains(t)) {
                    sqlx::query("DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?")
                        .bind(id.0)
                        .bind(old)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                tags.retain(|t| !current.contains(t));
            }
            if tags.is_empty() {
                return Ok(());
            }
            for chunk in shaped_chunks(&tags, IMPORT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new("INSERT INTO customer_tags (customer_id, tag) ");
                qb.push_values(chunk, |mut b, tag| {
                    b.push_bind(id.0).push_bind(tag.clone());
                });
                qb.build().execute(&mut *conn).await.map_err(db_err)?;
            }
            Ok(())
        }

        async fn load_tags(
            conn: &mut <Db as sqlx::Database>::Connection,
            ids: &[CustomerId],
        ) -> Result<std::collections::HashMap<CustomerId, Vec<String>>> {
            let mut out: std::collections::HashMap<CustomerId, Vec<String>> = Default::default();
            if ids.is_empty() {
                return Ok(out);
            }
            // `IN` matches each row once, so padding (repeating an id) reads nothing twice.
            let mut unique = ids.to_vec();
            unique.sort();
            unique.dedup();
            for chunk in unique.chunks(TAG_LOOKUP_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new(
                    "SELECT customer_id, tag FROM customer_tags WHERE customer_id IN (",
                );
                let mut sep = qb.separated(", ");
                for id in padded(chunk, TAG_LOOKUP_CHUNK) {
                    sep.push_bind(id.0);
                }
                qb.push(")");
                for row in qb.build().fetch_all(&mut *conn).await.map_err(db_err)? {
                    let id: i64 = row.try_get("customer_id").map_err(db_err)?;
                    let tag: String = row.try_get("tag").map_err(db_err)?;
                    out.entry(CustomerId(id)).or_default().push(tag);
                }
            }
            // In code point order whatever the column's collation, as a
            // customer read on its own gives them.
            for tags in out.values_mut() {
                tags.sort_unstable();
            }
            Ok(out)
        }

        async fn fetch_one_customer(
            conn: &mut <Db as sqlx::Database>::Connection,
            column: &str,
            value: String,
        ) -> Result<Option<Customer>> {
            let sql = format!(
                "SELECT {CUSTOMER_COLUMNS}, {TAGS_JSON} AS tags_json FROM customers WHERE {column} = ?"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(value)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            row.map(|row| customer_from_row(&row, tags_of_row(&row)?)).transpose()
        }

        /// The tags of a row read with `TAGS_JSON AS tags_json`, sorted.
        fn tags_of_row(row: &DbRow) -> Result<Vec<String>> {
            let json: Option<String> = row.try_get("tags_json").map_err(db_err)?;
            let mut tags: Vec<String> = match json {
                Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("tags", e))?,
                None => Vec::new(),
            };
            tags.sort_unstable();
            Ok(tags)
        }

        /// A customer by id, on a connection or inside a transaction.
        async fn fetch_customer(
            conn: &mut <Db as sqlx::Database>::Connection,
            id: CustomerId,
        ) -> Result<Option<Customer>> {
            let sql = format!(
                "SELECT {CUSTOMER_COLUMNS}, {TAGS_JSON} AS tags_json FROM customers WHERE id = ?"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
            row.map(|row| customer_from_row(&row, tags_of_row(&row)?)).transpose()
        }

        /// Appends an outbox event in the caller's transaction.
        async fn append_event(
            conn: &mut <Db as sqlx::Database>::Connection,
            event: crm_core::events::EventPayload<'_>,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<i64> {
            let sql = format!(
                "INSERT INTO outbox_events (event_type, customer_id, payload, created_at, tx_token) VALUES (?, ?, ?, ?, {EVENT_TOKEN})"
            );
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event.event_type().as_str())
            .bind(event.customer_id().0)
            .bind(event.to_json().to_string())
            .bind(ts(now))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            Ok(last_insert_id(&done))
        }

        /// Appends audit records in the caller's transaction.
        async fn append_audits(
            conn: &mut <Db as sqlx::Database>::Connection,
            records: &[crm_core::audit::AuditRecord],
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<()> {
            for chunk in shaped_chunks(records, IMPORT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new(
                    "INSERT INTO audit_log (created_at, actor, role, action, customer_id, detail) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(ts(now))
                        .push_bind(r.actor.clone())
                        .push_bind(r.role.map(|role| role.as_str()))
                        .push_bind(r.action.clone())
                        .push_bind(r.customer_id.map(|c| c.0))
                        .push_bind(r.detail.to_string());
                });
                qb.build().execute(&mut *conn).await.map_err(db_err)?;
            }
            Ok(())
        }

        /// Opens the loyalty accounts and writes the `new_customer` events
        /// and the audit records of new customers.
        async fn customers_created(
            conn: &mut <Db as sqlx::Database>::Connection,
            created: &[Customer],
            now: chrono::DateTime<chrono::Utc>,
            audit: &crm_core::audit::AuditRecord,
        ) -> Result<()> {
            let records: Vec<_> = created.iter().map(|c| audit.clone().about(c.id)).collect();
            append_audits(conn, &records, now).await?;
            for chunk in shaped_chunks(created, IMPORT_CHUNK) {
                let mut qb = QueryBuilder::<Db>::new("INSERT INTO loyalty_accounts (customer_id) ");
                qb.push_values(chunk, |mut b, c| {
                    b.push_bind(c.id.0);
                });
                qb.build().execute(&mut *conn).await.map_err(db_err)?;
                let mut qb = QueryBuilder::<Db>::new(
                    "INSERT INTO outbox_events (event_type, customer_id, payload, created_at, tx_token) ",
                );
                qb.push_values(chunk, |mut b, c| {
                    let event = crm_core::events::EventPayload::NewCustomer(c);
                    b.push_bind(event.event_type().as_str())
                        .push_bind(c.id.0)
                        .push_bind(event.to_json().to_string())
                        .push_bind(ts(now))
                        .push_unseparated(format!(", {EVENT_TOKEN}"));
                });
                qb.build().execute(&mut *conn).await.map_err(db_err)?;
            }
            Ok(())
        }

        /// Saves an import run's checkpoint in the caller's transaction; see
        /// `CustomerStore::save_import_run`.
        async fn save_run(
            conn: &mut <Db as sqlx::Database>::Connection,
            save: &crm_core::customer::import::SaveRun,
        ) -> Result<()> {
            let run = &save.run;
            let detail = serde_json::json!({
                "totals": run.totals,
                "bytes_read": run.bytes_read,
                "bytes_total": run.bytes_total,
                "message": run.message,
            })
            .to_string();
            let line = i64::try_from(run.totals.line).unwrap_or(i64::MAX);
            let moved = || Error::conflict(
                crm_core::ConflictReason::ConcurrentChange,
                format!("import run {} was moved on by another process; start it again to resume", run.id),
            );
            match save.previous_line {
                None => {
                    let done = sqlx::query(
                        "INSERT INTO import_runs (id, kind, source, status, line, detail, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(run.id.clone())
                    .bind(run.kind.clone())
                    .bind(run.source.clone())
                    .bind(run.status.as_str())
                    .bind(line)
                    .bind(detail)
                    .bind(ts(run.created_at))
                    .bind(ts(run.updated_at))
                    .execute(&mut *conn)
                    .await;
                    match done {
                        Ok(_) => Ok(()),
                        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(moved()),
                        Err(e) => Err(db_err(e)),
                    }
                }
                Some(previous) => {
                    let done = sqlx::query(
                        "UPDATE import_runs SET status = ?, line = ?, detail = ?, updated_at = ? WHERE id = ? AND line = ?",
                    )
                    .bind(run.status.as_str())
                    .bind(line)
                    .bind(detail)
                    .bind(ts(run.updated_at))
                    .bind(run.id.clone())
                    .bind(i64::try_from(previous).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    if done.rows_affected() == 1 { Ok(()) } else { Err(moved()) }
                }
            }
        }

        /// What `import_runs.detail` holds.
        #[derive(serde::Deserialize)]
        struct RunDetail {
            totals: crm_core::customer::import::ImportTotals,
            #[serde(default)]
            bytes_read: u64,
            #[serde(default)]
            bytes_total: Option<u64>,
            #[serde(default)]
            message: Option<String>,
        }

        /// Pushes the `WHERE` conditions of a listing (with or without the cursor).
        fn push_filter(qb: &mut QueryBuilder<Db>, f: &CustomerFilter, with_cursor: bool) {
            qb.push(" WHERE 1 = 1");
            // `+is_active`: a two-valued column is never the index to pick; the
            // plus keeps SQLite's planner (which has no statistics) on the
            // name/code/email/phone indexes or on the primary key order.
            match f.status {
                ActivityFilter::Active => {
                    qb.push(" AND +is_active = 1");
                }
                ActivityFilter::Inactive => {
                    qb.push(" AND +is_active = 0");
                }
                ActivityFilter::All => {}
            }
            if let Some(t) = f.customer_type {
                qb.push(" AND customer_type = ").push_bind(t.as_str());
            }
            if let Some(tag) = &f.tag {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = customers.id AND t.tag = ",
                )
                .push_bind(tag.clone())
                .push(")");
            }
            if f.segment.is_some() || f.recency_score.is_some() || f.frequency_score.is_some() {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM customer_segments s WHERE s.customer_id = customers.id",
                );
                if let Some(segment) = f.segment {
                    qb.push(" AND s.segment = ").push_bind(segment.as_str());
                }
                if let Some(r) = f.recency_score {
                    qb.push(" AND s.recency_score = ").push_bind(i16::from(r));
                }
                if let Some(fr) = f.frequency_score {
                    qb.push(" AND s.frequency_score = ").push_bind(i16::from(fr));
                }
                qb.push(")");
            }
            if let Some(from) = f.created_from {
                qb.push(" AND created_at >= ").push_bind(ts(from));
            }
            if let Some(to) = f.created_to {
                qb.push(" AND created_at < ").push_bind(ts(to));
            }
            if let Some(s) = &f.search {
                qb.push(" AND (name LIKE ")
                    .push_bind(like_prefix(&s.name_prefix))
                    .push(" ESCAPE '!'");
                // Only when the term can begin a code: an `OR` on a second index
                // turns a name search into an index merge that reads every
                // matching row twice (count and page) instead of one index range.
                if CustomerCode::could_start_with(&s.code_prefix) {
                    qb.push(" OR customer_code LIKE ")
                        .push_bind(like_prefix(&s.code_prefix))
                        .push(" ESCAPE '!'");
                }
                if let Some(email) = &s.email {
                    qb.push(" OR email = ").push_bind(email.clone());
                }
                if let Some(phone) = &s.phone {
                    qb.push(" OR phone = ").push_bind(phone.clone());
                }
                qb.push(")");
            }
            if let (true, Some(c)) = (with_cursor, &f.after) {
                let cmp = match f.direction {
                    SortDirection::Asc => " > ",
                    SortDirection::Desc => " < ",
                };
                match &c.key {
                    SortKey::Id => {
                        qb.push(" AND id").push(cmp).push_bind(c.id.0);
                    }
                    SortKey::Name(v) => {
                        qb.push(" AND (name").push(cmp).push_bind(v.clone());
                        qb.push(" OR (name = ").push_bind(v.clone());
                        qb.push(" AND id").push(cmp).push_bind(c.id.0).push("))");
                    }
                    SortKey::Code(v) => {
                        qb.push(" AND (customer_code").push(cmp).push_bind(v.clone());
                        qb.push(" OR (customer_code = ").push_bind(v.clone());
                        qb.push(" AND id").push(cmp).push_bind(c.id.0).push("))");
                    }
                    SortKey::CreatedAt(t) => {
                        qb.push(" AND (created_at").push(cmp).push_bind(ts(*t));
                        qb.push(" OR (created_at = ").push_bind(ts(*t));
                        qb.push(" AND id").push(cmp).push_bind(c.id.0).push("))");
                    }
                }
            }
        }

        impl $store {
            /// Like `write_error`, for a bulk insert: finds which row of the
            /// batch clashes with an active customer.
            async fn batch_write_error(&self, e: sqlx::Error, batch: &[CustomerFields]) -> Error {
                let Some(field) = unique_violation(&e) else { return db_err(e) };
                let values: Vec<String> = batch
                    .iter()
                    .filter_map(|f| if field == "phone" { f.phone.clone() } else { f.email.clone() })
                    .collect();
                for chunk in values.chunks(IMPORT_CHUNK) {
                    let mut qb = QueryBuilder::<Db>::new("SELECT ");
                    qb.push(if field == "phone" { "phone" } else { "email" });
                    qb.push(", customer_code FROM customers WHERE is_active = 1 AND ");
                    qb.push(if field == "phone" { "phone" } else { "email" });
                    qb.push(" IN (");
                    let mut sep = qb.separated(", ");
                    for v in chunk {
                        sep.push_bind(v.clone());
                    }
                    qb.push(") LIMIT 1");
                    match qb.build().fetch_optional(&self.pool).await {
                        Ok(Some(row)) => {
                            let value: String = row.try_get(0).unwrap_or_default();
                            let code: String = row.try_get(1).unwrap_or_default();
                            return match CustomerCode::parse(&code) {
                                Ok(existing_code) => Error::DuplicateCustomer {
                                    field: if field == "phone" { "phone" } else { "email" },
                                    value,
                                    existing_code,
                                },
                                Err(e) => corrupt("customer_code", e),
                            };
                        }
                        Ok(None) => continue,
                        Err(e) => return db_err(e),
                    }
                }
                Error::conflict(crm_core::ConflictReason::ConcurrentChange, format!("a {field} of the batch was taken by a concurrent write; try again"))
            }

            /// Turns a failed write into `DuplicateCustomer` naming the active
            /// customer that holds the email or phone, or a storage error.
            async fn write_error(
                &self,
                e: sqlx::Error,
                email: Option<String>,
                phone: Option<String>,
                except: Option<CustomerId>,
            ) -> Error {
                let (field, value) = match unique_violation(&e) {
                    Some("email") => ("email", email),
                    Some("phone") => ("phone", phone),
                    Some(_) => {
                        return Error::conflict(crm_core::ConflictReason::ConcurrentChange, "customer code already taken; try again")
                    }
                    None => return db_err(e),
                };
                let Some(value) = value else { return db_err(e) };
                let sql = format!(
                    "SELECT customer_code FROM customers WHERE is_active = 1 AND {field} = ? AND id <> ?"
                );
                let found: std::result::Result<Option<String>, _> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(value.clone())
                    .bind(except.map_or(0, |id| id.0))
                    .fetch_optional(&self.pool)
                    .await;
                match found {
                    Ok(Some(code)) => match CustomerCode::parse(&code) {
                        Ok(existing_code) => Error::DuplicateCustomer {
                            field,
                            value,
                            existing_code,
                        },
                        Err(e) => corrupt("customer_code", e),
                    },
                    // The holder was deactivated between our write and this read.
                    Ok(None) => Error::conflict(crm_core::ConflictReason::ConcurrentChange, format!("{field} {value} was taken by a concurrent write; try again")),
                    Err(e) => db_err(e),
                }
            }
        }

        #[async_trait::async_trait]
        impl CustomerStore for $store {
            async fn insert_customer(
                &self,
                fields: CustomerFields,
                now: chrono::DateTime<chrono::Utc>,
                audit: &crm_core::audit::AuditRecord,
            ) -> Result<Customer> {
                let prefix = fields.customer_type.code_prefix();
                let _gate = self.gate().await;
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                sqlx::query(BUMP_SEQUENCE)
                    .bind(prefix)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let seq: i64 = sqlx::query_scalar(READ_SEQUENCE)
                    .bind(prefix)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let code = CustomerCode::new(fields.customer_type, u64::try_from(seq).unwrap_or(0))?;
                let mut qb = QueryBuilder::<Db>::new(INSERT_CUSTOMER_COLUMNS);
                qb.push_values([(&fields, &code)], |mut b, (f, code)| push_row(&mut b, f, code, now));
                let inserted = qb.build().execute(&mut *tx).await;
                let done = match inserted {
                    Ok(done) => done,
                    Err(e) => {
                        // Release the sequence lock before looking up the clash.
                        let _ = tx.rollback().await;
                        return Err(self.write_error(e, fields.email, fields.phone, None).await);
                    }
                };
                let id = CustomerId(last_insert_id(&done));
                write_tags(&mut tx, id, &fields.tags, false).await?;
                let customer = Customer {
                    id,
                    customer_code: code,
                    name: fields.name,
                    email: fields.email,
                    phone: fields.phone,
                    customer_type: fields.customer_type,
                    credit_limit: fields.credit_limit,
                    address: fields.address,
                    birthday: fields.birthday,
                    tags: fields.tags,
                    is_active: true,
                    merged_into: None,
                    merged_by: None,
                    merged_at: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                customers_created(&mut tx, std::slice::from_ref(&customer), now, audit).await?;
                seal_events(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(customer)
            }

            async fn insert_customers(
                &self,
                batch: Vec<CustomerFields>,
                now: chrono::DateTime<chrono::Utc>,
                audit: &crm_core::audit::AuditRecord,
                checkpoint: Option<&crm_core::customer::import::SaveRun>,
            ) -> Result<Vec<Customer>> {
                if batch.is_empty() {
                    if let Some(save) = checkpoint {
                        self.save_import_run(save).await?;
                    }
                    return Ok(Vec::new());
                }
                let _gate = self.gate().await;
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                // One block of numbers per type, taken in a fixed type order so
                // that concurrent imports lock the sequences in the same order.
                let mut next: std::collections::HashMap<CustomerType, u64> = Default::default();
                for t in CustomerType::ALL {
                    let n = batch.iter().filter(|f| f.customer_type == t).count() as i64;
                    if n == 0 {
                        continue;
                    }
                    sqlx::query(BUMP_SEQUENCE_BY)
                        .bind(n)
                        .bind(t.code_prefix())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    let last: i64 = sqlx::query_scalar(READ_SEQUENCE)
                        .bind(t.code_prefix())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    next.insert(t, u64::try_from(last - n + 1).unwrap_or(0));
                }
                let mut codes = Vec::with_capacity(batch.len());
                for f in &batch {
                    let seq = next.entry(f.customer_type).or_default();
                    codes.push(CustomerCode::new(f.customer_type, *seq)?);
                    *seq += 1;
                }
                let mut ids: std::collections::HashMap<String, i64> = Default::default();
                let field_chunks = shaped_chunks(&batch, IMPORT_CHUNK);
                let code_chunks = shaped_chunks(&codes, IMPORT_CHUNK);
                for (fields, codes) in field_chunks.into_iter().zip(code_chunks) {
                    let mut qb = QueryBuilder::<Db>::new(INSERT_CUSTOMER_COLUMNS);
                    qb.push_values(fields.iter().zip(codes), |mut b, (f, code)| {
                        push_row(&mut b, f, code, now)
                    });
                    if let Err(e) = qb.build().execute(&mut *tx).await {
                        let _ = tx.rollback().await;
                        return Err(self.batch_write_error(e, &batch).await);
                    }
                    let mut read = QueryBuilder::<Db>::new(
                        "SELECT id, customer_code FROM customers WHERE customer_code IN (",
                    );
                    let mut sep = read.separated(", ");
                    for code in codes {
                        sep.push_bind(code.to_string());
                    }
                    read.push(")");
                    for row in read.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                        let id: i64 = row.try_get("id").map_err(db_err)?;
                        let code: String = row.try_get("customer_code").map_err(db_err)?;
                        ids.insert(code, id);
                    }
                }
                let mut out = Vec::with_capacity(batch.len());
                for (f, code) in batch.into_iter().zip(codes) {
                    let id = ids
                        .get(code.as_str())
                        .copied()
                        .ok_or_else(|| corrupt("customer id", code.as_str()))?;
                    out.push(Customer {
                        id: CustomerId(id),
                        customer_code: code,
                        name: f.name,
                        email: f.email,
                        phone: f.phone,
                        customer_type: f.customer_type,
                        credit_limit: f.credit_limit,
                        address: f.address,
                        birthday: f.birthday,
                        tags: f.tags,
                        is_active: true,
                        merged_into: None,
                        merged_by: None,
                        merged_at: None,
                        version: 1,
                        created_at: now,
                        updated_at: now,
                    });
                }
                let tags: Vec<(i64, String)> = out
                    .iter()
                    .flat_map(|c| c.tags.iter().map(move |t| (c.id.0, t.clone())))
                    .collect();
                for chunk in shaped_chunks(&tags, IMPORT_CHUNK) {
                    let mut qb = QueryBuilder::<Db>::new("INSERT INTO customer_tags (customer_id, tag) ");
                    qb.push_values(chunk, |mut b, (id, tag)| {
                        b.push_bind(*id).push_bind(tag.clone());
                    });
                    qb.build().execute(&mut *tx).await.map_err(db_err)?;
                }
                customers_created(&mut tx, &out, now, audit).await?;
                if let Some(save) = checkpoint {
                    save_run(&mut tx, save).await?;
                }
                seal_events(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(out)
            }

            async fn find_active_by_contacts(
                &self,
                emails: &[String],
                phones: &[String],
            ) -> Result<Vec<Customer>> {
                let mut conn = self.pool.acquire().await.map_err(db_err)?;
                let mut rows = Vec::new();
                for (column_in, values) in [(ACTIVE_EMAIL_IN, emails), (ACTIVE_PHONE_IN, phones)] {
                    let mut unique = values.to_vec();
                    unique.sort();
                    unique.dedup();
                    for chunk in shaped_chunks(&unique, IMPORT_CHUNK) {
                        let mut qb = QueryBuilder::<Db>::new(format!(
                            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE {column_in}"
                        ));
                        let mut sep = qb.separated(", ");
                        for v in chunk {
                            sep.push_bind(v.clone());
                        }
                        qb.push(")");
                        rows.extend(qb.build().fetch_all(&mut *conn).await.map_err(db_err)?);
                    }
                }
                let mut ids = Vec::with_capacity(rows.len());
                let mut unique_rows = Vec::with_capacity(rows.len());
                for row in rows {
                    let id = CustomerId(row.try_get::<i64, _>("id").map_err(db_err)?);
                    if !ids.contains(&id) {
                        ids.push(id);
                        unique_rows.push(row);
                    }
                }
                let mut tags = load_tags(&mut conn, &ids).await?;
                unique_rows
                    .iter()
                    .zip(&ids)
                    .map(|(row, id)| customer_from_row(row, tags.remove(id).unwrap_or_default()))
                    .collect()
            }

            async fn import_run(&self, id: &str) -> Result<Option<crm_core::customer::import::ImportRun>> {
                let row = sqlx::query(
                    "SELECT id, kind, source, status, line, detail, created_at, updated_at FROM import_runs WHERE id = ?",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                let Some(row) = row else { return Ok(None) };
                let status: String = row.try_get("status").map_err(db_err)?;
                let detail: String = row.try_get("detail").map_err(db_err)?;
                let detail: RunDetail = serde_json::from_str(&detail).map_err(|e| corrupt("import_runs.detail", e))?;
                let line: i64 = row.try_get("line").map_err(db_err)?;
                let mut totals = detail.totals;
                totals.line = u64::try_from(line).unwrap_or(0);
                Ok(Some(crm_core::customer::import::ImportRun {
                    id: row.try_get("id").map_err(db_err)?,
                    kind: row.try_get("kind").map_err(db_err)?,
                    source: row.try_get("source").map_err(db_err)?,
                    status: crm_core::customer::import::ImportStatus::parse(&status)
                        .ok_or_else(|| corrupt("import_runs.status", &status))?,
                    totals,
                    bytes_read: detail.bytes_read,
                    bytes_total: detail.bytes_total,
                    message: detail.message,
                    created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                    updated_at: from_ts(row.try_get::<TsCol, _>("updated_at").map_err(db_err)?)?,
                }))
            }

            async fn save_import_run(&self, save: &crm_core::customer::import::SaveRun) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                save_run(&mut tx, save).await?;
                tx.commit().await.map_err(db_err)
            }

            async fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
                let mut conn = self.pool.acquire().await.map_err(db_err)?;
                fetch_customer(&mut conn, id).await
            }

            async fn customer_by_code(&self, code: CustomerCode) -> Result<Option<Customer>> {
                let mut conn = self.pool.acquire().await.map_err(db_err)?;
                fetch_one_customer(&mut conn, "customer_code", code.to_string()).await
            }

            async fn update_customer(
                &self,
                id: CustomerId,
                fields: CustomerFields,
                expected_version: i64,
                now: chrono::DateTime<chrono::Utc>,
                audit: &crm_core::audit::AuditRecord,
            ) -> Result<Option<Customer>> {
                let _gate = self.gate().await;
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                let updated = bind_fields(sqlx::query(UPDATE_CUSTOMER), &fields)
                    .bind(ts(now))
                    .bind(id.0)
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await;
                let done = match updated {
                    Ok(done) => done,
                    Err(e) => {
                        let _ = tx.rollback().await;
                        return Err(self.write_error(e, fields.email, fields.phone, Some(id)).await);
                    }
                };
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                write_tags(&mut tx, id, &fields.tags, true).await?;
                let customer = fetch_customer(&mut tx, id).await?;
                if let Some(c) = &customer {
                    append_event(&mut tx, crm_core::events::EventPayload::CustomerUpdate(&c), now).await?;
                    append_audits(&mut tx, &[audit.clone().about(id)], now).await?;
                }
                seal_events(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(customer)
            }

            async fn set_customer_active(
                &self,
                id: CustomerId,
                active: bool,
                now: chrono::DateTime<chrono::Utc>,
                audit: &crm_core::audit::AuditRecord,
            ) -> Result<Option<Customer>> {
                let _gate = self.gate().await;
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                let changed = sqlx::query(SET_ACTIVE)
                    .bind(active)
                    .bind(ts(now))
                    .bind(id.0)
                    .bind(active)
                    .execute(&mut *tx)
                    .await;
                let changed = match changed {
                    Ok(done) => done.rows_affected() > 0,
                    Err(e) => {
                        let _ = tx.rollback().await;
                        let current = self.customer(id).await.ok().flatten();
                        let (email, phone) = current.map_or((None, None), |c| (c.email, c.phone));
                        return Err(self.write_error(e, email, phone, Some(id)).await);
                    }
                };
                let customer = fetch_customer(&mut tx, id).await?;
                if let (true, Some(c)) = (changed, &customer) {
                    append_event(&mut tx, crm_core::events::EventPayload::CustomerUpdate(&c), now).await?;
                    append_audits(&mut tx, &[audit.clone().about(id)], now).await?;
                }
                seal_events(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(customer)
            }

            async fn erase_customer(
                &self,
                id: CustomerId,
                fields: CustomerFields,
                now: chrono::DateTime<chrono::Utc>,
                audit: &crm_core::audit::AuditRecord,
            ) -> Result<Option<Customer>> {
                let _gate = self.gate().await;
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                let Some(current) = fetch_customer(&mut tx, id).await? else {
                    return Ok(None);
                };
                bind_fields(sqlx::query(UPDATE_CUSTOMER), &fields)
                    .bind(ts(now))
                    .bind(id.0)
                    .bind(current.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query("UPDATE customers SET is_active = ? WHERE id = ?")
                    .bind(false)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                write_tags(&mut tx, id, &fields.tags, true).await?;
                let Some(erased) = fetch_customer(&mut tx, id).await? else {
                    return Ok(None);
                };
                // Events written before thin events carry the whole customer.
                let stored: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT id, payload FROM outbox_events WHERE customer_id = ? \
                     AND event_type IN ('new_customer', 'customer_update')",
                )
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                for (event, payload) in stored {
                    let thin = serde_json::from_str(&payload)
                        .ok()
                        .and_then(|p| crm_core::events::thin_payload(&p));
                    if let Some(thin) = thin {
                        sqlx::query("UPDATE outbox_events SET payload = ? WHERE id = ?")
                            .bind(thin.to_string())
                            .bind(event)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                }
                append_event(&mut tx, crm_core::events::EventPayload::CustomerUpdate(&erased), now).await?;
                append_audits(&mut tx, &[audit.clone().about(id)], now).await?;
                seal_events(&mut tx).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(erased))
            }

            async fn list_customers(&self, filter: CustomerFilter) -> Result<CustomerSlice> {
                let mut conn = self.pool.acquire().await.map_err(db_err)?;

                let total: i64 = if filter.count {
                    let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM customers");
                    push_filter(&mut count, &filter, false);
                    count
                        .build_query_scalar()
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_err)?
                } else {
                    0
                };

                let column = match filter.sort {
                    CustomerSort::Id => None,
                    CustomerSort::Name => Some("name"),
                    CustomerSort::Code => Some("customer_code"),
                    CustomerSort::CreatedAt => Some("created_at"),
                };
                let dir = match filter.direction {
                    SortDirection::Asc => " ASC",
                    SortDirection::Desc => " DESC",
                };
                let order = match column {
                    Some(column) => format!(" ORDER BY {column}{dir}, id{dir}"),
                    None => format!(" ORDER BY id{dir}"),
                };
                // The page, then its rows' tags in the same statement: the
                // tag subquery runs for the page's rows only.
                let mut qb = QueryBuilder::<Db>::new(format!(
                    "SELECT customers.*, {TAGS_JSON} AS tags_json FROM (SELECT {CUSTOMER_COLUMNS} FROM customers"
                ));
                push_filter(&mut qb, &filter, true);
                qb.push(order.as_str());
                qb.push(" LIMIT ").push_bind(i64::from(filter.limit));
                qb.push(" OFFSET ").push_bind(i64::try_from(filter.offset).unwrap_or(i64::MAX));
                qb.push(") AS customers");
                qb.push(order.as_str());
                let rows = qb.build().fetch_all(&mut *conn).await.map_err(db_err)?;
                let items = rows
                    .iter()
                    .map(|row| customer_from_row(row, tags_of_row(row)?))
                    .collect::<Result<Vec<_>>>()?;
                Ok(CustomerSlice {
                    items,
                    total: u64::try_from(total).unwrap_or(0),
                })
            }
        }
    };
}
