//! Reading transaction and summary files, with errors that name the file,
//! the line and the column.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::ValueEnum;
use rust_decimal::Decimal;

use crate::CliError;
use crate::progress::Progress;

/// How fields are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Delimiter {
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// A tab.
    Tab,
    /// Any run of spaces or tabs (e.g. the CDNOW sample).
    Whitespace,
}

/// Where the transactions are and which columns hold what.
#[derive(Debug, Clone)]
pub struct TransactionFile {
    /// The file.
    pub path: PathBuf,
    /// Column of the customer id: a header name, or a 1-based position with `--no-header`.
    pub customer_col: String,
    /// Column of the purchase date.
    pub date_col: String,
    /// Column of the amount; without it every amount is 0.
    pub amount_col: Option<String>,
    /// Field separator.
    pub delimiter: Delimiter,
    /// Whether the first line names the columns.
    pub has_header: bool,
    /// A chrono format for the dates, when they are not ISO 8601 / `YYYYMMDD`.
    pub date_format: Option<String>,
}

/// One transaction as read.
pub struct Row<'a> {
    /// 1-based line number.
    pub line: u64,
    /// Customer id.
    pub customer: &'a str,
    /// UTC date.
    pub date: NaiveDate,
    /// Amount, >= 0.
    pub amount: Decimal,
}

struct Columns {
    customer: usize,
    date: usize,
    amount: Option<usize>,
    names: [String; 3],
}

impl TransactionFile {
    fn display(&self) -> String {
        self.path.display().to_string()
    }

    fn error(&self, line: u64, column: Option<&str>, message: impl Into<String>) -> CliError {
        CliError::Input {
            file: self.display(),
            line,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }

    fn resolve(&self, header: Option<&[&str]>) -> Result<Columns, CliError> {
        let find = |wanted: &str| -> Result<usize, CliError> {
            match header {
                Some(names) => names
                    .iter()
                    .position(|n| n.trim() == wanted)
                    .ok_or_else(|| {
                        self.error(
                            1,
                            Some(wanted),
                            format!(
                                "no such column in the header (columns: {})",
                                names.join(", ")
                            ),
                        )
                    }),
                None => match wanted.parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(n - 1),
                    _ => Err(self.error(
                        1,
                        Some(wanted),
                        "without a header, columns are 1-based positions (e.g. --customer-col 2)",
                    )),
                },
            }
        };
        Ok(Columns {
            customer: find(&self.customer_col)?,
            date: find(&self.date_col)?,
            amount: self.amount_col.as_deref().map(find).transpose()?,
            names: [
                self.customer_col.clone(),
                self.date_col.clone(),
                self.amount_col.clone().unwrap_or_default(),
            ],
        })
    }

    fn parse_row<'a>(
        &self,
        columns: &Columns,
        line: u64,
        field: impl Fn(usize) -> Option<&'a str>,
    ) -> Result<Row<'a>, CliError> {
        let get = |i: usize, name: &str| {
            field(i).ok_or_else(|| self.error(line, Some(name), "missing field (row too short)"))
        };
        let customer = get(columns.customer, &columns.names[0])?.trim();
        if customer.is_empty() {
            return Err(self.error(line, Some(&columns.names[0]), "empty customer id"));
        }
        let raw_date = get(columns.date, &columns.names[1])?;
        let date = parse_date(raw_date, self.date_format.as_deref()).ok_or_else(|| {
            self.error(
                line,
                Some(&columns.names[1]),
                format!(
                    "cannot read {raw_date:?} as a date (expected {})",
                    self.date_format
                        .as_deref()
                        .unwrap_or("YYYY-MM-DD, YYYYMMDD or an RFC 3339 timestamp")
                ),
            )
        })?;
        let amount = match columns.amount {
            None => Decimal::ZERO,
            Some(i) => {
                let raw = get(i, &columns.names[2])?.trim();
                let amount = Decimal::from_str(raw).map_err(|_| {
                    self.error(
                        line,
                        Some(&columns.names[2]),
                        format!("cannot read {raw:?} as an amount"),
                    )
                })?;
                if amount.is_sign_negative() && !amount.is_zero() {
                    return Err(self.error(
                        line,
                        Some(&columns.names[2]),
                        format!(
                            "negative amount {amount} (refunds do not belong in purchase history)"
                        ),
                    ));
                }
                amount
            }
        };
        Ok(Row {
            line,
            customer,
            date,
            amount,
        })
    }

    /// Calls `each` for every transaction, in file order.
    pub fn for_each(
        &self,
        progress: &Progress,
        mut each: impl FnMut(Row<'_>) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        let file =
            File::open(&self.path).map_err(|e| CliError::Io(format!("{}: {e}", self.display())))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        progress.start_bytes(size, "reading transactions");
        let rows = match self.delimiter {
            Delimiter::Whitespace => self.for_each_whitespace(file, progress, &mut each),
            _ => self.for_each_csv(file, progress, &mut each),
        }?;
        progress.finish();
        Ok(rows)
    }

    fn for_each_whitespace(
        &self,
        file: File,
        progress: &Progress,
        each: &mut impl FnMut(Row<'_>) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut buf = String::new();
        let mut line_no = 0u64;
        let mut bytes = 0u64;
        let mut columns = None;
        let mut rows = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_line(&mut buf)
                .map_err(|e| self.error(line_no + 1, None, format!("cannot read: {e}")))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            bytes += n as u64;
            if buf.trim().is_empty() {
                continue;
            }
            if columns.is_none() {
                if self.has_header {
                    let names: Vec<&str> = buf.split_whitespace().collect();
                    columns = Some(self.resolve(Some(&names))?);
                    continue;
                }
                columns = Some(self.resolve(None)?);
            }
            let Some(cols) = columns.as_ref() else {
                continue;
            };
            // Borrow the line's fields without allocating.
            let line: &str = &buf;
            let row = self.parse_row(cols, line_no, |i| line.split_whitespace().nth(i))?;
            each(row)?;
            rows += 1;
            if rows.is_multiple_of(1 << 16) {
                progress.set(bytes);
            }
        }
        Ok(rows)
    }

    fn for_each_csv(
        &self,
        file: File,
        progress: &Progress,
        each: &mut impl FnMut(Row<'_>) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        let delimiter = match self.delimiter {
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
            _ => b',',
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(self.has_header)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(file);
        let columns = if self.has_header {
            let header = reader
                .headers()
                .map_err(|e| self.error(1, None, format!("cannot read the header: {e}")))?
                .clone();
            let names: Vec<&str> = header.iter().collect();
            self.resolve(Some(&names))?
        } else {
            self.resolve(None)?
        };
        let mut record = csv::StringRecord::new();
        let mut rows = 0u64;
        loop {
            let more = reader.read_record(&mut record).map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                self.error(line, None, format!("cannot read: {e}"))
            })?;
            if !more {
                break;
            }
            let line = record.position().map_or(0, |p| p.line());
            let row = self.parse_row(&columns, line, |i| record.get(i))?;
            each(row)?;
            rows += 1;
            if rows.is_multiple_of(1 << 16) {
                progress.set(reader.position().byte());
            }
        }
        Ok(rows)
    }
}

/// Parses `YYYY-MM-DD`, `YYYYMMDD`, an RFC 3339 timestamp (converted to its
/// UTC date) or `YYYY-MM-DD HH:MM:SS` (taken as UTC); or `format` if given.
pub fn parse_date(raw: &str, format: Option<&str>) -> Option<NaiveDate> {
    let s = raw.trim();
    if let Some(format) = format {
        return NaiveDate::parse_from_str(s, format)
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, format)
                    .ok()
                    .map(|d| d.date())
            })
            .or_else(|| {
                DateTime::parse_from_str(s, format)
                    .ok()
                    .map(|d| d.with_timezone(&Utc).date_naive())
            });
    }
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    // Fast paths for the common forms; chrono for everything else.
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?);
    }
    if b.len() == 8 {
        return NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(4..6)?, digits(6..8)?);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).date_naive());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|d| d.date())
}

/// A customer summary file (`customer_id,frequency,recency,T,monetary_value`;
/// `frequency,recency,periods[,weights]` for discrete-time models).
pub struct SummaryFile<'p> {
    /// The file.
    pub path: &'p Path,
}

/// One summary row.
pub struct SummaryRow {
    /// 1-based line number.
    pub line: u64,
    /// Repeat purchases.
    pub frequency: u32,
    /// Recency, when the column exists.
    pub recency: Option<f64>,
    /// T, when the column exists.
    pub t: Option<f64>,
    /// Monetary value, when the column exists.
    pub monetary_value: Option<Decimal>,
    /// Opportunities to buy (`periods`, discrete-time models), when the column exists.
    pub periods: Option<f64>,
    /// How many customers the row stands for (`weights`), when the column exists.
    pub weights: Option<f64>,
}

impl SummaryFile<'_> {
    /// Reads every row; `required` columns must exist.
    pub fn read(&self, required: &[&str]) -> Result<Vec<SummaryRow>, CliError> {
        let file_name = self.path.display().to_string();
        let err = |line: u64, column: Option<&str>, message: String| CliError::Input {
            file: file_name.clone(),
            line,
            column: column.map(str::to_owned),
            message,
        };
        let file = File::open(self.path).map_err(|e| CliError::Io(format!("{file_name}: {e}")))?;
        let mut reader = csv::ReaderBuilder::new().from_reader(BufReader::new(file));
        let header = reader
            .headers()
            .map_err(|e| err(1, None, format!("cannot read the header: {e}")))?
            .clone();
        let index = |name: &str| header.iter().position(|h| h.trim() == name);
        for name in required {
            if index(name).is_none() {
                return Err(err(
                    1,
                    Some(name),
                    format!(
                        "no such column in the header (columns: {})",
                        header.iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let (fi, ri, ti, mi, pi, wi) = (
            index("frequency"),
            index("recency"),
            index("T"),
            index("monetary_value"),
            index("periods"),
            index("weights"),
        );
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                err(
                    e.position().map_or(0, |p| p.line()),
                    None,
                    format!("cannot read: {e}"),
                )
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let field = |i: Option<usize>, name: &str| -> Result<Option<&str>, CliError> {
                match i {
                    None => Ok(None),
                    Some(i) => record
                        .get(i)
                        .map(|v| Some(v.trim()))
                        .ok_or_else(|| err(line, Some(name), "missing field".into())),
                }
            };
            let number = |i, name: &str| -> Result<Option<f64>, CliError> {
                field(i, name)?
                    .map(|v| {
                        v.parse::<f64>()
                            .ok()
                            .filter(|x| x.is_finite())
                            .ok_or_else(|| {
                                err(line, Some(name), format!("cannot read {v:?} as a number"))
                            })
                    })
                    .transpose()
            };
            let frequency = field(fi, "frequency")?
                .map(|v| {
                    v.parse::<u32>()
                        .or_else(|_| {
                            // Accept "2.0" from tools that write every number as a float.
                            v.parse::<f64>()
                                .ok()
                                .filter(|x| {
                                    x.fract() == 0.0 && *x >= 0.0 && *x <= f64::from(u32::MAX)
                                })
                                .map(|x| x as u32)
                                .ok_or(())
                        })
                        .map_err(|_| {
                            err(
                                line,
                                Some("frequency"),
                                format!("cannot read {v:?} as a whole number >= 0"),
                            )
                        })
                })
                .transpose()?
                .unwrap_or(0);
            let monetary_value = field(mi, "monetary_value")?
                .map(|v| {
                    Decimal::from_str(v)
                        .or_else(|_| Decimal::from_scientific(v))
                        .map_err(|_| {
                            err(
                                line,
                                Some("monetary_value"),
                                format!("cannot read {v:?} as an amount"),
                            )
                        })
                })
                .transpose()?;
            rows.push(SummaryRow {
                line,
                frequency,
                recency: number(ri, "recency")?,
                t: number(ti, "T")?,
                monetary_value,
                periods: number(pi, "periods")?,
                weights: number(wi, "weights")?,
            });
        }
        Ok(rows)
    }
}

/// Reads a whole file (for `--config`, `--snapshot-in`).
pub fn read_text(path: &Path) -> Result<String, CliError> {
    let mut s = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_common_forms() {
        let d = NaiveDate::from_ymd_opt(1997, 1, 18);
        assert_eq!(parse_date("1997-01-18", None), d);
        assert_eq!(parse_date("19970118", None), d);
        assert_eq!(parse_date(" 1997-01-18 ", None), d);
        assert_eq!(
            parse_date("1997-01-18T23:30:00-02:00", None),
            NaiveDate::from_ymd_opt(1997, 1, 19)
        );
        assert_eq!(parse_date("1997-01-18 10:00:00", None), d);
        assert_eq!(parse_date("18/01/1997", Some("%d/%m/%Y")), d);
        assert_eq!(parse_date("1997-13-01", None), None);
        assert_eq!(parse_date("yesterday", None), None);
    }
}
