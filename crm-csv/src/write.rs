//! Writing CSV: the customer export and the rejected-rows report of an import.
//!
//! Both stream: each row goes to the writer as it comes, so an export of a
//! million customers never holds them all. Every cell goes through
//! [`neutralise`], because these files are opened in spreadsheets.

use std::borrow::Cow;
use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use crm_core::Customer;

use crate::customers::CsvError;

/// Guards a cell against CSV injection: a cell whose first character is `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a
/// spreadsheet shows it as text instead of running it as a formula (the
/// OWASP advice).
///
/// The customer reader ([`crate::customers::CustomerCsvReader`]) removes that
/// `'` again, so an export reads back unchanged: a phone `+628123456789` is
/// written `'+628123456789` and read as `+628123456789`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The header of the customer export, in column order.
pub const CUSTOMER_EXPORT_HEADERS: [&str; 19] = [
    "id",
    "customer_code",
    "name",
    "email",
    "phone",
    "customer_type",
    "credit_limit",
    "address_line1",
    "address_line2",
    "city",
    "province",
    "postal_code",
    "country",
    "birthday",
    "tags",
    "is_active",
    "merged_into",
    "created_at",
    "updated_at",
];

/// Writes one record, each cell through [`neutralise`].
fn write_row<'a, W: Write>(
    csv: &mut csv::Writer<W>,
    cells: impl IntoIterator<Item = &'a str>,
) -> Result<(), CsvError> {
    for cell in cells {
        csv.write_field(neutralise(cell).as_bytes())
            .map_err(CsvError::from_csv)?;
    }
    csv.write_record(None::<&[u8]>).map_err(CsvError::from_csv)
}

/// Writes customers as CSV, one row per customer, after a header of
/// [`CUSTOMER_EXPORT_HEADERS`].
///
/// Comma-delimited, cells quoted as needed, tags joined by `|`, dates and
/// times in RFC 3339 UTC. The file reads back with
/// [`CustomerCsvReader`](crate::customers::CustomerCsvReader).
#[derive(Debug)]
pub struct CustomerCsvWriter<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> CustomerCsvWriter<W> {
    /// Starts an export: writes the header.
    pub fn new(writer: W) -> Result<Self, CsvError> {
        Self::with_header(writer, true)
    }

    /// Starts an export, or continues one (`header` false: a later piece
    /// of a streamed file).
    pub fn with_header(writer: W, header: bool) -> Result<Self, CsvError> {
        let mut csv = csv::Writer::from_writer(writer);
        if header {
            write_row(&mut csv, CUSTOMER_EXPORT_HEADERS)?;
        }
        Ok(Self { csv })
    }

    /// Writes one customer.
    pub fn write(&mut self, customer: &Customer) -> Result<(), CsvError> {
        let text = |v: &Option<String>| v.as_deref().unwrap_or_default().to_owned();
        let a = &customer.address;
        let row: [String; 19] = [
            customer.id.to_string(),
            customer.customer_code.to_string(),
            customer.name.clone(),
            text(&customer.email),
            text(&customer.phone),
            customer.customer_type.as_str().to_owned(),
            customer.credit_limit.to_string(),
            text(&a.line1),
            text(&a.line2),
            text(&a.city),
            text(&a.province),
            text(&a.postal_code),
            text(&a.country),
            customer
                .birthday
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            customer.tags.join("|"),
            customer.is_active.to_string(),
            customer
                .merged_into
                .map(|id| id.to_string())
                .unwrap_or_default(),
            rfc3339(customer.created_at),
            rfc3339(customer.updated_at),
        ];
        write_row(&mut self.csv, row.iter().map(String::as_str))
    }

    /// Flushes buffered rows to the underlying writer.
    pub fn flush(&mut self) -> Result<(), CsvError> {
        Ok(self.csv.flush()?)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> Result<W, CsvError> {
        self.csv
            .into_inner()
            .map_err(|e| CsvError::Io(e.into_error()))
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The rejected-rows report of an import: why each row was refused, beside
/// the row as it was in the file, so the user can fix it and import the
/// report again (its first six columns are then ignored).
///
/// Header: `line,status,field,rule,message,existing_code,` followed by the
/// original file's headers.
#[derive(Debug)]
pub struct RejectedRowsWriter<W: Write> {
    csv: csv::Writer<W>,
    width: usize,
}

/// The columns the report puts before the original file's.
const REPORT_COLUMNS: [&str; 6] = [
    "line",
    "status",
    "field",
    "rule",
    "message",
    "existing_code",
];

impl<W: Write> RejectedRowsWriter<W> {
    /// Starts a report for a file with these headers: writes the header.
    pub fn new(writer: W, original_headers: &[String]) -> Result<Self, CsvError> {
        Self::with_header(writer, original_headers, true)
    }

    /// Starts a report, or continues one (`header` false: appending to the
    /// report of a resumed import).
    pub fn with_header(
        writer: W,
        original_headers: &[String],
        header: bool,
    ) -> Result<Self, CsvError> {
        // Rows of the wrong width are reported as they were.
        let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(writer);
        if header {
            write_row(
                &mut csv,
                REPORT_COLUMNS
                    .into_iter()
                    .chain(original_headers.iter().map(String::as_str)),
            )?;
        }
        Ok(Self {
            csv,
            width: original_headers.len(),
        })
    }

    /// Writes one refused row: its line in the original file, a status
    /// (`invalid`, `duplicate` ...), the failing field, rule and message, the
    /// code of the customer it duplicates if any, and its original cells
    /// (padded with empty cells to the header's width).
    #[allow(clippy::too_many_arguments)] // one cell per report column
    pub fn write(
        &mut self,
        line: u64,
        status: &str,
        field: &str,
        rule: &str,
        message: &str,
        existing_code: Option<&str>,
        record: &[String],
    ) -> Result<(), CsvError> {
        let mut number = itoa::Buffer::new();
        let padding = self.width.saturating_sub(record.len());
        let cells = [
            number.format(line),
            status,
            field,
            rule,
            message,
            existing_code.unwrap_or_default(),
        ]
        .into_iter()
        .chain(record.iter().map(String::as_str))
        .chain(std::iter::repeat_n("", padding));
        write_row(&mut self.csv, cells)
    }

    /// Flushes buffered rows to the underlying writer.
    pub fn flush(&mut self) -> Result<(), CsvError> {
        Ok(self.csv.flush()?)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> Result<W, CsvError> {
        self.csv
            .into_inner()
            .map_err(|e| CsvError::Io(e.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralise_guards_each_dangerous_leading_character() {
        for cell in ["=1+1", "+62812", "-5", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn neutralise_leaves_safe_cells_borrowed() {
        for cell in [
            "",
            "Budi",
            "a=b",
            "1+1",
            "'=x",
            " =x",
            "0812-3456",
            "x@y.id",
        ] {
            assert!(
                matches!(neutralise(cell), Cow::Borrowed(c) if c == cell),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn rejected_rows_report_pads_and_neutralises() {
        let headers = vec!["nama".to_owned(), "hp".to_owned(), "kota".to_owned()];
        let mut w = RejectedRowsWriter::new(Vec::new(), &headers).expect("header");
        w.write(
            7,
            "invalid",
            "phone",
            "phone",
            "-not a number",
            None,
            &["=cmd".to_owned(), "+62".to_owned()],
        )
        .expect("row");
        w.write(
            9,
            "duplicate",
            "email",
            "unique",
            "already imported",
            Some("RT00000042"),
            &["Budi".to_owned(), "0812".to_owned(), "Bandung".to_owned()],
        )
        .expect("row");
        let out = String::from_utf8(w.into_inner().expect("flush")).expect("utf8");
        assert_eq!(
            out,
            "line,status,field,rule,message,existing_code,nama,hp,kota\n\
             7,invalid,phone,phone,'-not a number,,'=cmd,'+62,\n\
             9,duplicate,email,unique,already imported,RT00000042,Budi,0812,Bandung\n"
        );
    }
}
