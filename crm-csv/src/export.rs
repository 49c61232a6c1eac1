//! Customers and analytics scores out of the CRM as CSV, streamed: one
//! page of customers (or one batch of scores) in memory at a time, whatever
//! their number. Every text cell is neutralised against CSV injection
//! ([`crate::write::neutralise`]).

use std::io::Write;

use crm_core::{Crm, CustomerQuery};

use crate::write::{CustomerCsvWriter, neutralise};

/// Customers read per page while exporting.
pub const EXPORT_PAGE: u32 = 1_000;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The CRM refused the query or failed.
    #[error(transparent)]
    Crm(#[from] crm_core::Error),
    /// The output could not be written.
    #[error("writing the export: {0}")]
    Write(String),
}

fn write_err(e: impl std::fmt::Display) -> ExportError {
    ExportError::Write(e.to_string())
}

/// A customer export as CSV text, a page at a time: what a server streams
/// as a response body ([`export_customers`] writes it to a `Write`).
#[derive(Debug)]
pub struct CustomerCsvChunks {
    export: crm_core::CustomerExport,
    header: bool,
    written: u64,
}

impl CustomerCsvChunks {
    /// Every customer matching `query`'s filters (type, status, tag,
    /// created range, search, segment, sort; no paging).
    pub fn new(crm: &Crm, query: CustomerQuery) -> Result<Self, ExportError> {
        Ok(Self {
            export: crm.customers().export(query, EXPORT_PAGE)?,
            header: false,
            written: 0,
        })
    }

    /// The next piece of the file (the header with the first page); `None`
    /// at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        let page = self.export.next_batch().await?;
        if page.is_empty() && self.header {
            return Ok(None);
        }
        let mut writer =
            CustomerCsvWriter::with_header(Vec::with_capacity(page.len() * 160), !self.header)
                .map_err(write_err)?;
        self.header = true;
        for c in &page {
            writer.write(c).map_err(write_err)?;
        }
        self.written += page.len() as u64;
        writer.into_inner().map(Some).map_err(write_err)
    }

    /// Customers written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// Writes every customer matching `query`'s filters to `out` as CSV, in
/// the columns [`CustomerCsvWriter`] writes (which
/// [`crate::customers::CustomerCsvReader`] reads back), one page in memory
/// at a time. Returns how many customers were written.
pub async fn export_customers<W: Write>(
    crm: &Crm,
    query: CustomerQuery,
    mut out: W,
) -> Result<u64, ExportError> {
    let mut chunks = CustomerCsvChunks::new(crm, query)?;
    while let Some(chunk) = chunks.next_chunk().await? {
        out.write_all(&chunk).map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    Ok(chunks.written())
}

/// The header of [`export_scores`].
pub const SCORE_COLUMNS: [&str; 19] = [
    "customer_id",
    "frequency",
    "recency",
    "t",
    "monetary_value",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "segment",
    "lifetime_value",
    "model_lifetime_value",
    "expected_average_spend",
    "p_alive",
    "churn_probability",
    "risk_level",
    "recommended_action",
    "churn_method",
    "expected_purchases_90d",
    "unit",
];

/// Writes the analytics scores of every customer with purchases to `out`
/// as CSV ([`SCORE_COLUMNS`]), in customer id order, fitting the models
/// first if no fit is kept ([`crm_core::Analytics::score_all`]). Returns
/// how many customers were written.
pub async fn export_scores<W: Write>(crm: &Crm, out: W) -> Result<u64, ExportError> {
    let mut cursor = crm.analytics().score_all().await?;
    let unit = cursor
        .model()
        .map(|m| m.unit.as_str().to_string())
        .unwrap_or_default();
    let mut w = csv::Writer::from_writer(out);
    w.write_record(SCORE_COLUMNS).map_err(write_err)?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut written = 0u64;
    loop {
        let batch = cursor.next_batch(EXPORT_PAGE as usize).await?;
        if batch.is_empty() {
            break;
        }
        for s in &batch {
            let record = [
                s.customer_id.0.to_string(),
                s.frequency.to_string(),
                s.recency.to_string(),
                s.t.to_string(),
                s.monetary_value.to_string(),
                s.rfm.recency.to_string(),
                s.rfm.frequency.to_string(),
                s.rfm.monetary.to_string(),
                s.segment.as_str().to_string(),
                s.lifetime_value.to_string(),
                opt(s.model_lifetime_value.map(|v| v.to_string())),
                opt(s.expected_average_spend.map(|v| v.to_string())),
                s.p_alive.to_string(),
                s.churn_probability.to_string(),
                s.risk_level.as_str().to_string(),
                neutralise(&s.recommended_action).into_owned(),
                s.churn_method.as_str().to_string(),
                opt(s.expected_purchases_90d.map(|v| v.to_string())),
                unit.clone(),
            ];
            w.write_record(&record).map_err(write_err)?;
        }
        written += batch.len() as u64;
    }
    w.flush().map_err(write_err)?;
    Ok(written)
}
