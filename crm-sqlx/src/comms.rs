//! The communications store for both engines (same macro scheme as
//! `customers.rs`). Each engine module defines `CLAIM_LOCK`: MySQL claims
//! recipients with `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers take
//! different rows instead of queueing; SQLite has one writer at a time.

/// Generates `CommsStore` for an engine.
macro_rules! impl_comms_store {
    ($store:ident) => {
        mod comms_impl {
            use super::*;
            use chrono::{DateTime, Utc};
            use crm_core::comms::{
                Campaign, CampaignProgress, CampaignStatus, Channel, CommsStore, Communication,
                CommunicationStatus, ConsentRecord, DeliveryStatus, Locale, QuietHoursPolicy,
                Recipient, RecipientOutcome, Target, Template, reasons,
            };
            use crm_core::customer::CustomerId;
            use crm_core::loyalty::{LoyaltyAccount, Purchase};
            use crm_core::{Error, Result};
            use sqlx::{QueryBuilder, Row};
            use $crate::error::{corrupt, db_err, is_foreign_key_violation, retry_conflicts};
            use $crate::ledger::PURCHASE_COLUMNS;

            const TEMPLATE_COLUMNS: &str =
                "id, name, channel, locale, subject, body_text, body_html, created_by, created_at";
            const CONSENT_COLUMNS: &str =
                "id, customer_id, channel, granted, source, recorded_by, recorded_at";
            const CAMPAIGN_COLUMNS: &str = "id, name, template_id, channel, target, quiet_hours, status, \
                 scheduled_at, created_by, created_at, started_at, finished_at";
            const RECIPIENT_COLUMNS: &str = "id, campaign_id, customer_id, channel, status, attempts, \
                 next_attempt_at, reason, provider_message_id";
            const LOG_COLUMNS: &str = "id, customer_id, channel, template_id, campaign_id, status, reason, \
                 subject, provider_message_id, sent_date";

            fn channel(row: &DbRow) -> Result<Channel> {
                let s: String = row.try_get("channel").map_err(db_err)?;
                Channel::parse(&s).ok_or_else(|| corrupt("channel", &s))
            }

            fn opt_ts(row: &DbRow, col: &str) -> Result<Option<DateTime<Utc>>> {
                row.try_get::<Option<TsCol>, _>(col)
                    .map_err(db_err)?
                    .map(from_ts)
                    .transpose()
            }

            fn template_from_row(row: &DbRow) -> Result<Template> {
                let locale: String = row.try_get("locale").map_err(db_err)?;
                Ok(Template {
                    id: row.try_get("id").map_err(db_err)?,
                    name: row.try_get("name").map_err(db_err)?,
                    channel: channel(row)?,
                    locale: Locale::parse(&locale).ok_or_else(|| corrupt("locale", &locale))?,
                    subject: row.try_get("subject").map_err(db_err)?,
                    text: row.try_get("body_text").map_err(db_err)?,
                    html: row.try_get("body_html").map_err(db_err)?,
                    created_by: row.try_get("created_by").map_err(db_err)?,
                    created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                })
            }

            fn consent_from_row(row: &DbRow) -> Result<ConsentRecord> {
                Ok(ConsentRecord {
                    id: row.try_get("id").map_err(db_err)?,
                    customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                    channel: channel(row)?,
                    granted: row.try_get("granted").map_err(db_err)?,
                    source: row.try_get("source").map_err(db_err)?,
                    recorded_by: row.try_get("recorded_by").map_err(db_err)?,
                    recorded_at: from_ts(row.try_get::<TsCol, _>("recorded_at").map_err(db_err)?)?,
                })
            }

            fn campaign_from_row(row: &DbRow) -> Result<Campaign> {
                let target: String = row.try_get("target").map_err(db_err)?;
                let quiet: String = row.try_get("quiet_hours").map_err(db_err)?;
                let status: String = row.try_get("status").map_err(db_err)?;
                Ok(Campaign {
                    id: row.try_get("id").map_err(db_err)?,
                    name: row.try_get("name").map_err(db_err)?,
                    template_id: row.try_get("template_id").map_err(db_err)?,
                    channel: channel(row)?,
                    target: serde_json::from_str::<Target>(&target).map_err(|e| corrupt("target", e))?,
                    quiet_hours: match quiet.as_str() {
                        "skip" => QuietHoursPolicy::Skip,
                        "defer" => QuietHoursPolicy::Defer,
                        other => return Err(corrupt("quiet_hours", other)),
                    },
                    status: CampaignStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                    scheduled_at: opt_ts(row, "scheduled_at")?,
                    created_by: row.try_get("created_by").map_err(db_err)?,
                    created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                    started_at: opt_ts(row, "started_at")?,
                    finished_at: opt_ts(row, "finished_at")?,
                    progress: CampaignProgress::default(),
                })
            }

            fn recipient_from_row(row: &DbRow) -> Result<Recipient> {
                let status: String = row.try_get("status").map_err(db_err)?;
                let attempts: i32 = row.try_get("attempts").map_err(db_err)?;
                Ok(Recipient {
                    id: row.try_get("id").map_err(db_err)?,
                    campaign_id: row.try_get("campaign_id").map_err(db_err)?,
                    customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                    channel: channel(row)?,
                    status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                    attempts: u32::try_from(attempts).map_err(|e| corrupt("attempts", e))?,
                    next_attempt_at: from_ts(row.try_get::<TsCol, _>("next_attempt_at").map_err(db_err)?)?,
                    reason: row.try_get("reason").map_err(db_err)?,
                    provider_message_id: row.try_get("provider_message_id").map_err(db_err)?,
                })
            }

            fn log_from_row(row: &DbRow) -> Result<Communication> {
                let status: String = row.try_get("status").map_err(db_err)?;
                Ok(Communication {
                    id: row.try_get("id").map_err(db_err)?,
                    customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                    channel: channel(row)?,
                    template_id: row.try_get("template_id").map_err(db_err)?,
                    campaign_id: row.try_get("campaign_id").map_err(db_err)?,
                    status: CommunicationStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                    reason: row.try_get("reason").map_err(db_err)?,
                    subject: row.try_get("subject").map_err(db_err)?,
                    provider_message_id: row.try_get("provider_message_id").map_err(db_err)?,
                    sent_date: from_ts(row.try_get::<TsCol, _>("sent_date").map_err(db_err)?)?,
                })
            }

            /// Cuts a text to `max` characters (the log's column widths).
            fn cut(s: Option<String>, max: usize) -> Option<String> {
                s.map(|s| if s.chars().count() > max { s.chars().take(max).collect() } else { s })
            }

            async fn insert_log<'c, E>(conn: E, c: &Communication) -> Result<()>
            where
                E: sqlx::Executor<'c, Database = Db>,
            {
                sqlx::query(
                    "INSERT INTO customer_communications (customer_id, channel, template_id, campaign_id, status, \
                     reason, subject, provider_message_id, sent_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(c.customer_id.0)
                .bind(c.channel.as_str())
                .bind(c.template_id)
                .bind(c.campaign_id)
                .bind(c.status.as_str())
                .bind(cut(c.reason.clone(), 500))
                .bind(cut(c.subject.clone(), 250))
                .bind(cut(c.provider_message_id.clone(), 255))
                .bind(ts(c.sent_date))
                .execute(conn)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            impl $store {
                async fn progress(&self, campaign: i64) -> Result<CampaignProgress> {
                    let rows = sqlx::query(
                        "SELECT status, COUNT(*) AS n FROM campaign_recipients WHERE campaign_id = ? GROUP BY status",
                    )
                    .bind(campaign)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    let mut p = CampaignProgress::default();
                    for row in rows {
                        let status: String = row.try_get("status").map_err(db_err)?;
                        let n: i64 = row.try_get("n").map_err(db_err)?;
                        let n = u64::try_from(n).unwrap_or(0);
                        p.recipients += n;
                        match DeliveryStatus::parse(&status) {
                            Some(DeliveryStatus::Pending) => p.pending += n,
                            Some(DeliveryStatus::Sending) => p.sending += n,
                            Some(DeliveryStatus::Sent) => p.sent += n,
                            Some(DeliveryStatus::Skipped) => p.skipped += n,
                            Some(DeliveryStatus::Failed) => p.failed += n,
                            None => return Err(corrupt("status", &status)),
                        }
                    }
                    Ok(p)
                }

                async fn with_progress(&self, mut c: Campaign) -> Result<Campaign> {
                    c.progress = self.progress(c.id).await?;
                    Ok(c)
                }

                async fn add_recipients_once(
                    &self,
                    campaign: i64,
                    channel: Channel,
                    customers: &[CustomerId],
                    now: DateTime<Utc>,
                ) -> Result<u64> {
                    if customers.is_empty() {
                        return Ok(0);
                    }
                    let _gate = self.gate().await;
                    let mut qb = QueryBuilder::<Db>::new(format!(
                        "{INSERT_IGNORE} INTO campaign_recipients (campaign_id, customer_id, channel, status, attempts, \
                         next_attempt_at, updated_at) "
                    ));
                    qb.push_values(customers, |mut b, c| {
                        b.push_bind(campaign)
                            .push_bind(c.0)
                            .push_bind(channel.as_str())
                            .push_bind("pending")
                            .push_bind(0i32)
                            .push_bind(ts(now))
                            .push_bind(ts(now));
                    });
                    let done = qb.build().execute(&self.pool).await.map_err(db_err)?;
                    Ok(done.rows_affected())
                }

                async fn claim_recipients_once(
                    &self,
                    claim: &str,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<Recipient>> {
                    let sending: Vec<i64> = sqlx::query_scalar("SELECT id FROM campaigns WHERE status = 'sending'")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    if sending.is_empty() {
                        return Ok(Vec::new());
                    }
                    let _gate = self.gate().await;
                    let mut tx = match BEGIN_LOCKED {
                        Some(begin) => self.pool.begin_with(begin).await,
                        None => self.pool.begin().await,
                    }
                    .map_err(db_err)?;
                    let mut qb = QueryBuilder::<Db>::new(
                        "SELECT id FROM campaign_recipients WHERE status = 'pending' AND next_attempt_at <= ",
                    );
                    qb.push_bind(ts(now)).push(" AND campaign_id IN (");
                    let mut sep = qb.separated(", ");
                    for id in &sending {
                        sep.push_bind(*id);
                    }
                    qb.push(") ORDER BY id LIMIT ").push_bind(i64::from(limit)).push(CLAIM_LOCK);
                    let ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await.map_err(db_err)?;
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = QueryBuilder::<Db>::new("UPDATE campaign_recipients SET status = 'sending', claim_id = ");
                    qb.push_bind(claim)
                        .push(", lease_until = ")
                        .push_bind(ts(lease_until))
                        .push(", updated_at = ")
                        .push_bind(ts(now))
                        .push(" WHERE status = 'pending' AND id IN (");
                    let mut sep = qb.separated(", ");
                    for id in &ids {
                        sep.push_bind(*id);
                    }
                    qb.push(")");
                    qb.build().execute(&mut *tx).await.map_err(db_err)?;
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {RECIPIENT_COLUMNS} FROM campaign_recipients WHERE claim_id = ? AND status = 'sending' ORDER BY id"
                    )))
                    .bind(claim)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    tx.commit().await.map_err(db_err)?;
                    rows.iter().map(recipient_from_row).collect()
                }

                async fn settle_recipient_once(
                    &self,
                    id: i64,
                    claim: &str,
                    outcome: RecipientOutcome,
                    now: DateTime<Utc>,
                ) -> Result<bool> {
                    let _gate = self.gate().await;
                    let mut tx = self.pool.begin().await.map_err(db_err)?;
                    let (done, log) = match outcome {
                        RecipientOutcome::Final(entry) => {
                            let status = DeliveryStatus::from(entry.status);
                            let tried = i32::from(entry.status != CommunicationStatus::Skipped);
                            let done = sqlx::query(
                                "UPDATE campaign_recipients SET status = ?, attempts = attempts + ?, reason = ?, \
                                 provider_message_id = ?, claim_id = NULL, lease_until = NULL, updated_at = ? \
                                 WHERE id = ? AND claim_id = ? AND status = 'sending'",
                            )
                            .bind(status.as_str())
                            .bind(tried)
                            .bind(cut(entry.reason.clone(), 500))
                            .bind(cut(entry.provider_message_id.clone(), 255))
                            .bind(ts(now))
                            .bind(id)
                            .bind(claim)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                            (done.rows_affected(), Some(entry))
                        }
                        RecipientOutcome::Later { attempts, next_attempt_at, reason, log } => {
                            let done = sqlx::query(
                                "UPDATE campaign_recipients SET status = 'pending', attempts = ?, next_attempt_at = ?, \
                                 reason = ?, claim_id = NULL, lease_until = NULL, updated_at = ? \
                                 WHERE id = ? AND claim_id = ? AND status = 'sending'",
                            )
                            .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
                            .bind(ts(next_attempt_at))
                            .bind(cut(Some(reason), 500))
                            .bind(ts(now))
                            .bind(id)
                            .bind(claim)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                            (done.rows_affected(), log)
                        }
                    };
                    if done == 0 {
                        return Ok(false);
                    }
                    if let Some(entry) = log {
                        insert_log(&mut *tx, &entry).await?;
                    }
                    tx.commit().await.map_err(db_err)?;
                    Ok(true)
                }

                async fn expire_claims_once(&self, now: DateTime<Utc>) -> Result<u64> {
                    let _gate = self.gate().await;
                    let mut tx = match BEGIN_LOCKED {
                        Some(begin) => self.pool.begin_with(begin).await,
                        None => self.pool.begin().await,
                    }
                    .map_err(db_err)?;
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT r.id, r.campaign_id, r.customer_id, r.channel, c.template_id FROM campaign_recipients r \
                         JOIN campaigns c ON c.id = r.campaign_id \
                         WHERE r.status = 'sending' AND r.lease_until < ? ORDER BY r.id"
                    )))
                    .bind(ts(now))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let mut n = 0;
                    for row in &rows {
                        let id: i64 = row.try_get("id").map_err(db_err)?;
                        let done = sqlx::query(
                            "UPDATE campaign_recipients SET status = 'failed', reason = ?, claim_id = NULL, \
                             lease_until = NULL, attempts = attempts + 1, updated_at = ? \
                             WHERE id = ? AND status = 'sending' AND lease_until < ?",
                        )
                        .bind(reasons::INTERRUPTED)
                        .bind(ts(now))
                        .bind(id)
                        .bind(ts(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        if done.rows_affected() == 0 {
                            continue;
                        }
                        n += 1;
                        insert_log(
                            &mut *tx,
                            &Communication {
                                id: 0,
                                customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                                channel: channel(row)?,
                                template_id: row.try_get("template_id").map_err(db_err)?,
                                campaign_id: row.try_get("campaign_id").map_err(db_err)?,
                                status: CommunicationStatus::Failed,
                                reason: Some(reasons::INTERRUPTED.into()),
                                subject: None,
                                provider_message_id: None,
                                sent_date: now,
                            },
                        )
                        .await?;
                    }
                    tx.commit().await.map_err(db_err)?;
                    Ok(n)
                }

                async fn finish_campaigns_once(&self, now: DateTime<Utc>) -> Result<u64> {
                    // A plain read first: the candidates' recipients are all
                    // settled, and settled recipients never go back.
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "SELECT c.id FROM campaigns c WHERE c.status = 'sending' AND NOT EXISTS \
                         (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = c.id \
                          AND r.status IN ('pending', 'sending'))",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    let mut n = 0;
                    for id in ids {
                        let _gate = self.gate().await;
                        let done = sqlx::query(
                            "UPDATE campaigns SET status = 'done', finished_at = ? WHERE id = ? AND status = 'sending'",
                        )
                        .bind(ts(now))
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                        n += done.rows_affected();
                    }
                    Ok(n)
                }
            }

            #[async_trait::async_trait]
            impl CommsStore for $store {
                async fn insert_template(&self, mut t: Template) -> Result<Template> {
                    let done = sqlx::query(
                        "INSERT INTO message_templates (name, channel, locale, subject, body_text, body_html, \
                         created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(t.name.clone())
                    .bind(t.channel.as_str())
                    .bind(t.locale.as_str())
                    .bind(t.subject.clone())
                    .bind(t.text.clone())
                    .bind(t.html.clone())
                    .bind(t.created_by.clone())
                    .bind(ts(t.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                    t.id = last_insert_id(&done);
                    Ok(t)
                }

                async fn template(&self, id: i64) -> Result<Option<Template>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TEMPLATE_COLUMNS} FROM message_templates WHERE id = ?")))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(|r| template_from_row(&r))
                        .transpose()
                }

                async fn templates(&self) -> Result<Vec<Template>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TEMPLATE_COLUMNS} FROM message_templates ORDER BY id DESC")))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(template_from_row)
                        .collect()
                }

                async fn append_consent(&self, mut r: ConsentRecord) -> Result<ConsentRecord> {
                    let done = sqlx::query(
                        "INSERT INTO consent_history (customer_id, channel, granted, source, recorded_by, recorded_at) \
                         VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(r.customer_id.0)
                    .bind(r.channel.as_str())
                    .bind(r.granted)
                    .bind(r.source.clone())
                    .bind(r.recorded_by.clone())
                    .bind(ts(r.recorded_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| {
                        if is_foreign_key_violation(&e) {
                            Error::customer_not_found(r.customer_id)
                        } else {
                            db_err(e)
                        }
                    })?;
                    r.id = last_insert_id(&done);
                    Ok(r)
                }

                async fn consent_history(&self, customer: CustomerId) -> Result<Vec<ConsentRecord>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {CONSENT_COLUMNS} FROM consent_history WHERE customer_id = ? ORDER BY id"
                    )))
                    .bind(customer.0)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(consent_from_row)
                    .collect()
                }

                async fn latest_consent(&self, customer: CustomerId, channel: Channel) -> Result<Option<ConsentRecord>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {CONSENT_COLUMNS} FROM consent_history WHERE customer_id = ? AND channel = ? \
                         ORDER BY id DESC LIMIT 1"
                    )))
                    .bind(customer.0)
                    .bind(channel.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| consent_from_row(&r))
                    .transpose()
                }

                async fn insert_campaign(&self, mut c: Campaign) -> Result<Campaign> {
                    let target = serde_json::to_string(&c.target).map_err(|e| corrupt("target", e))?;
                    let done = sqlx::query(
                        "INSERT INTO campaigns (name, template_id, channel, target, quiet_hours, status, scheduled_at, \
                         created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(c.name.clone())
                    .bind(c.template_id)
                    .bind(c.channel.as_str())
                    .bind(target)
                    .bind(c.quiet_hours.as_str())
                    .bind(c.status.as_str())
                    .bind(c.scheduled_at.map(ts))
                    .bind(c.created_by.clone())
                    .bind(ts(c.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| {
                        if is_foreign_key_violation(&e) {
                            Error::NotFound { entity: "template", id: c.template_id.to_string() }
                        } else {
                            db_err(e)
                        }
                    })?;
                    c.id = last_insert_id(&done);
                    c.progress = CampaignProgress::default();
                    Ok(c)
                }

                async fn campaign(&self, id: i64) -> Result<Option<Campaign>> {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?")))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                    match row {
                        Some(r) => Ok(Some(self.with_progress(campaign_from_row(&r)?).await?)),
                        None => Ok(None),
                    }
                }

                async fn campaigns(&self, limit: u32) -> Result<Vec<Campaign>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id DESC LIMIT ?"
                    )))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    let mut out = Vec::with_capacity(rows.len());
                    for r in rows {
                        out.push(self.with_progress(campaign_from_row(&r)?).await?);
                    }
                    Ok(out)
                }

                async fn set_campaign_status(
                    &self,
                    id: i64,
                    from: &[CampaignStatus],
                    to: CampaignStatus,
                    scheduled_at: Option<DateTime<Utc>>,
                    now: DateTime<Utc>,
                ) -> Result<bool> {
                    if from.is_empty() {
                        return Ok(false);
                    }
                    let mut qb = QueryBuilder::<Db>::new("UPDATE campaigns SET status = ");
                    qb.push_bind(to.as_str());
                    if let Some(at) = scheduled_at {
                        qb.push(", scheduled_at = ").push_bind(ts(at));
                    }
                    match to {
                        CampaignStatus::Sending => {
                            qb.push(", started_at = ").push_bind(ts(now));
                        }
                        CampaignStatus::Done => {
                            qb.push(", finished_at = ").push_bind(ts(now));
                        }
                        CampaignStatus::Draft | CampaignStatus::Scheduled => {}
                    }
                    qb.push(" WHERE id = ").push_bind(id).push(" AND status IN (");
                    let mut sep = qb.separated(", ");
                    for s in from {
                        sep.push_bind(s.as_str());
                    }
                    qb.push(")");
                    let done = qb.build().execute(&self.pool).await.map_err(db_err)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn due_campaigns(&self, now: DateTime<Utc>) -> Result<Vec<i64>> {
                    sqlx::query_scalar("SELECT id FROM campaigns WHERE status = 'scheduled' AND scheduled_at <= ? ORDER BY id")
                        .bind(ts(now))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)
                }

                async fn add_recipients(
                    &self,
                    campaign: i64,
                    channel: Channel,
                    customers: &[CustomerId],
                    now: DateTime<Utc>,
                ) -> Result<u64> {
                    retry_conflicts(|| self.add_recipients_once(campaign, channel, customers, now)).await
                }

                async fn claim_recipients(
                    &self,
                    claim: &str,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<Recipient>> {
                    retry_conflicts(|| self.claim_recipients_once(claim, now, lease_until, limit)).await
                }

                async fn settle_recipient(
                    &self,
                    id: i64,
                    claim: &str,
                    outcome: RecipientOutcome,
                    now: DateTime<Utc>,
                ) -> Result<bool> {
                    retry_conflicts(|| self.settle_recipient_once(id, claim, outcome.clone(), now)).await
                }

                async fn expire_claims(&self, now: DateTime<Utc>) -> Result<u64> {
                    retry_conflicts(|| self.expire_claims_once(now)).await
                }

                async fn finish_campaigns(&self, now: DateTime<Utc>) -> Result<u64> {
                    retry_conflicts(|| self.finish_campaigns_once(now)).await
                }

                async fn communications(
                    &self,
                    customer: CustomerId,
                    before: Option<i64>,
                    limit: u32,
                ) -> Result<Vec<Communication>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {LOG_COLUMNS} FROM customer_communications WHERE customer_id = ? AND id < ? \
                         ORDER BY id DESC LIMIT ?"
                    )))
                    .bind(customer.0)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(log_from_row)
                    .collect()
                }

                async fn loyalty_account(&self, customer: CustomerId) -> Result<Option<LoyaltyAccount>> {
                    let row = sqlx::query(
                        "SELECT balance, debt, lifetime_earned FROM loyalty_accounts WHERE customer_id = ?",
                    )
                    .bind(customer.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                    row.map(|row| {
                        Ok(LoyaltyAccount {
                            customer_id: customer,
                            balance: row.try_get("balance").map_err(db_err)?,
                            debt: row.try_get("debt").map_err(db_err)?,
                            lifetime_earned: row.try_get("lifetime_earned").map_err(db_err)?,
                        })
                    })
                    .transpose()
                }

                async fn last_purchase(&self, customer: CustomerId) -> Result<Option<Purchase>> {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {PURCHASE_COLUMNS} FROM customer_purchase_history WHERE customer_id = ? \
                         ORDER BY purchase_date DESC, id DESC LIMIT 1"
                    )))
                    .bind(customer.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| super::ledger_impl::purchase_from_row(&r))
                    .transpose()
                }
            }
        }
    };
}
