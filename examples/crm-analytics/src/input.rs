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
    pub customer: CustomerRef<'a>,
    /// UTC date.
    pub date: NaiveDate,
    /// Amount, >= 0.
    pub amount: Decimal,
}

/// A customer id as written in the file: a number when it is written the
/// way a number prints (ASCII digits, no sign, no leading zero, at most 19
/// digits), so that it is hashed and compared as a number, else text.
/// `"0042"` is text: it is not the same id as `"42"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerRef<'a> {
    /// A canonical decimal number.
    Number(u64),
    /// Anything else (trimmed, non-empty).
    Text(&'a str),
}

impl CustomerRef<'_> {
    /// The id as text, as it was written (a number prints as it was written).
    pub fn to_text(self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.to_owned(),
        }
    }
}

/// Where a row's customer id is kept inside a [`Batch`].
#[derive(Debug, Clone, Copy)]
enum Key {
    Number(u64),
    /// A range of [`Batch::text`].
    Text(u32, u32),
}

#[derive(Debug, Clone, Copy)]
struct Parsed {
    line: u64,
    key: Key,
    date: NaiveDate,
    amount: Decimal,
}

/// The transactions of a block of lines, in file order, parsed (the
/// reading thread hands these to the summarising one).
#[derive(Debug, Default)]
pub struct Batch {
    text: String,
    rows: Vec<Parsed>,
    /// The last `YYYY-MM-DD` read and its date (kept from batch to batch).
    last_date: Option<([u8; 10], NaiveDate)>,
    /// Bytes of the file read up to the end of this batch.
    bytes: u64,
}

impl Batch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the batch holds no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|p| Row {
            line: p.line,
            customer: match p.key {
                Key::Number(n) => CustomerRef::Number(n),
                Key::Text(a, b) => {
                    CustomerRef::Text(self.text.get(a as usize..b as usize).unwrap_or(""))
                }
            },
            date: p.date,
            amount: p.amount,
        })
    }

    fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
    }
}

/// Bytes read from the file at a time.
const READ_BLOCK: usize = 1 << 20;

/// Rows per batch: large enough that handing batches between threads costs
/// nothing measurable, small enough to stay in cache.
const BATCH_ROWS: usize = 16_384;

struct Columns {
    customer: usize,
    date: usize,
    amount: Option<usize>,
    names: [String; 3],
}

/// A canonical decimal number (see [`CustomerRef`]).
#[inline]
fn canonical_number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// `123`, `123.45`: the common amount forms, without going through text
/// (at most 18 digits; anything else goes to [`Decimal::from_str`], which
/// gives the same value for these forms).
#[inline]
fn plain_amount(b: &[u8]) -> Option<Decimal> {
    let mut mantissa = 0i64;
    let mut digits = 0u32;
    let mut scale = 0u32;
    let mut dot = false;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i64::from(c - b'0');
                digits += 1;
                if dot {
                    scale += 1;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
        if digits > 18 {
            return None;
        }
    }
    if digits == 0 || (dot && scale == 0) {
        return None;
    }
    Some(Decimal::new(mantissa, scale))
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

    fn text<'a>(&self, line: u64, column: &str, raw: &'a [u8]) -> Result<&'a str, CliError> {
        std::str::from_utf8(raw).map_err(|_| self.error(line, Some(column), "not UTF-8 text"))
    }

    /// Parses one record's fields into `batch`.
    fn parse_into<'a>(
        &self,
        columns: &Columns,
        line: u64,
        field: impl Fn(usize) -> Option<&'a [u8]>,
        batch: &mut Batch,
    ) -> Result<(), CliError> {
        let get = |i: usize, name: &str| {
            field(i).ok_or_else(|| self.error(line, Some(name), "missing field (row too short)"))
        };
        let raw_customer = get(columns.customer, &columns.names[0])?.trim_ascii();
        let key = match canonical_number(raw_customer) {
            Some(n) => Key::Number(n),
            None => {
                let customer = self.text(line, &columns.names[0], raw_customer)?.trim();
                if customer.is_empty() {
                    return Err(self.error(line, Some(&columns.names[0]), "empty customer id"));
                }
                let start = batch.text.len();
                batch.text.push_str(customer);
                let end = batch.text.len();
                match (u32::try_from(start), u32::try_from(end)) {
                    (Ok(a), Ok(b)) => Key::Text(a, b),
                    _ => return Err(self.error(line, None, "customer ids too long")),
                }
            }
        };
        let raw_date = get(columns.date, &columns.names[1])?;
        // Rows in date order repeat the previous row's date text.
        let fast = match (batch.last_date, self.date_format.is_none()) {
            (Some((raw, date)), _) if raw_date == raw.as_slice() => Some(date),
            (_, true) => {
                let date = iso_date(raw_date.trim_ascii());
                if let (Some(date), Ok(raw)) = (date, <[u8; 10]>::try_from(raw_date)) {
                    batch.last_date = Some((raw, date));
                }
                date
            }
            (_, false) => None,
        };
        let date = fast
            .or_else(|| {
                let raw = self.text(line, &columns.names[1], raw_date).ok()?;
                parse_date(raw, self.date_format.as_deref())
            })
            .ok_or_else(|| {
                self.error(
                    line,
                    Some(&columns.names[1]),
                    format!(
                        "cannot read {:?} as a date (expected {})",
                        String::from_utf8_lossy(raw_date),
                        self.date_format
                            .as_deref()
                            .unwrap_or("YYYY-MM-DD, YYYYMMDD or an RFC 3339 timestamp")
                    ),
                )
            })?;
        let amount = match columns.amount {
            None => Decimal::ZERO,
            Some(i) => {
                let raw = get(i, &columns.names[2])?.trim_ascii();
                match plain_amount(raw) {
                    Some(a) => a,
                    None => {
                        let text = self.text(line, &columns.names[2], raw)?.trim();
                        let amount = Decimal::from_str(text).map_err(|_| {
                            self.error(
                                line,
                                Some(&columns.names[2]),
                                format!("cannot read {text:?} as an amount"),
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
                }
            }
        };
        batch.rows.push(Parsed {
            line,
            key,
            date,
            amount,
        });
        Ok(())
    }

    /// Calls `each` for every transaction, in file order, on this thread.
    pub fn for_each(
        &self,
        progress: &Progress,
        mut each: impl FnMut(Row<'_>) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        let mut batch = Batch::default();
        let rows = self.produce(progress, &mut batch, |batch| {
            for row in batch.rows() {
                each(row)?;
            }
            Ok(())
        })?;
        progress.finish();
        Ok(rows)
    }

    /// Calls `each` for every batch of transactions, in file order: a
    /// second thread reads and parses the file while this one runs `each`.
    /// Memory is a few batches, whatever the file's size.
    pub fn for_each_batch(
        &self,
        progress: &Progress,
        mut each: impl FnMut(&Batch) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        use std::sync::mpsc::{channel, sync_channel};
        let (full_tx, full_rx) = sync_channel::<Batch>(4);
        let (empty_tx, empty_rx) = channel::<Batch>();
        let rows = std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                let mut batch = Batch::default();
                self.produce(progress, &mut batch, |batch| {
                    let mut next: Batch = empty_rx.try_recv().unwrap_or_default();
                    next.last_date = batch.last_date;
                    // A closed channel means the consumer stopped on an error
                    // of its own, which it reports.
                    full_tx
                        .send(std::mem::replace(batch, next))
                        .map_err(|_| CliError::Io("stopped".into()))
                })
            });
            let mut consumed = Ok(());
            for mut batch in full_rx.iter() {
                if let Err(e) = each(&batch) {
                    consumed = Err(e);
                    break;
                }
                batch.clear();
                let _ = empty_tx.send(batch);
            }
            drop(full_rx);
            let read = reader
                .join()
                .unwrap_or_else(|_| Err(CliError::Io("the reading thread failed".into())));
            consumed.and(read)
        })?;
        progress.finish();
        Ok(rows)
    }

    /// Reads and parses the file, handing over each full batch (and the
    /// last one) to `emit`, which leaves an empty batch in its place.
    fn produce(
        &self,
        progress: &Progress,
        batch: &mut Batch,
        mut emit: impl FnMut(&mut Batch) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        let file =
            File::open(&self.path).map_err(|e| CliError::Io(format!("{}: {e}", self.display())))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        progress.start_bytes(size, "reading transactions");
        let mut rows = 0u64;
        let mut on_row = |batch: &mut Batch, bytes: u64| -> Result<(), CliError> {
            rows += 1;
            if batch.rows.len() >= BATCH_ROWS {
                batch.bytes = bytes;
                progress.set(bytes);
                emit(batch)?;
            }
            Ok(())
        };
        match self.delimiter {
            Delimiter::Whitespace => self.read_whitespace(file, batch, &mut on_row)?,
            _ => self.read_csv(file, batch, &mut on_row)?,
        }
        if !batch.rows.is_empty() {
            batch.bytes = size;
            emit(batch)?;
        }
        Ok(rows)
    }

    fn read_whitespace(
        &self,
        file: File,
        batch: &mut Batch,
        on_row: &mut impl FnMut(&mut Batch, u64) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        let mut bytes = 0u64;
        let mut columns = None;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| self.error(line_no + 1, None, format!("cannot read: {e}")))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            bytes += n as u64;
            if buf.trim_ascii().is_empty() {
                continue;
            }
            let fields = || buf.split(u8::is_ascii_whitespace).filter(|f| !f.is_empty());
            if columns.is_none() {
                if self.has_header {
                    let line = self.text(line_no, "header", &buf)?;
                    let names: Vec<&str> = line.split_whitespace().collect();
                    columns = Some(self.resolve(Some(&names))?);
                    continue;
                }
                columns = Some(self.resolve(None)?);
            }
            let Some(cols) = columns.as_ref() else {
                continue;
            };
            self.parse_into(cols, line_no, |i| fields().nth(i), batch)?;
            on_row(batch, bytes)?;
        }
        Ok(())
    }

    fn read_csv(
        &self,
        mut file: File,
        batch: &mut Batch,
        on_row: &mut impl FnMut(&mut Batch, u64) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let delimiter = match self.delimiter {
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
            _ => b',',
        };
        // Lines without a quote are split here, straight from the buffer;
        // from the first quote on, the csv crate reads the rest (quoted
        // fields may hold delimiters and line breaks).
        let mut buf: Vec<u8> = Vec::with_capacity(READ_BLOCK * 2);
        let mut start = 0usize; // first unread byte of `buf`
        let mut consumed = 0u64; // file bytes before `buf[0]`
        let mut line_no = 0u64;
        let mut columns: Option<Columns> = None;
        let mut eof = false;
        // Field bounds within the current line (kept between lines).
        let mut fields: Vec<(usize, usize)> = Vec::new();
        loop {
            let Some(newline) = memchr::memchr(b'\n', &buf[start..]) else {
                if eof {
                    if start < buf.len() {
                        // A last line without a line break.
                        buf.push(b'\n');
                        continue;
                    }
                    return Ok(());
                }
                // Keep the partial line, read the next block.
                buf.drain(..start);
                consumed += start as u64;
                start = 0;
                let filled = buf.len();
                buf.resize(filled + READ_BLOCK, 0);
                let n = file
                    .read(&mut buf[filled..])
                    .map_err(|e| self.error(line_no + 1, None, format!("cannot read: {e}")))?;
                buf.truncate(filled + n);
                eof = n == 0;
                continue;
            };
            let end = start + newline;
            let mut line = &buf[start..end];
            if line_no == 0 {
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            fields.clear();
            let mut from = 0;
            let mut quoted = false;
            for (at, &b) in line.iter().enumerate() {
                if b == delimiter {
                    fields.push((from, at));
                    from = at + 1;
                } else if b == b'"' {
                    quoted = true;
                    break;
                }
            }
            fields.push((from, line.len()));
            if quoted {
                // Everything from this line on goes to the csv crate.
                let rest = std::io::Cursor::new(buf[start..].to_vec()).chain(file);
                let offset = (consumed + start as u64, line_no);
                return self.read_csv_quoted(rest, delimiter, offset, columns, batch, on_row);
            }
            line_no += 1;
            let line_end = consumed + end as u64 + 1;
            start = end + 1;
            if line.is_empty() {
                continue;
            }
            let field = |i: usize| fields.get(i).map(|&(a, b)| &line[a..b]);
            if columns.is_none() {
                if self.has_header {
                    let names = (0..fields.len())
                        .map(|i| self.text(line_no, "header", field(i).unwrap_or_default()))
                        .collect::<Result<Vec<&str>, CliError>>()?;
                    columns = Some(self.resolve(Some(&names))?);
                    continue;
                }
                columns = Some(self.resolve(None)?);
            }
            if let Some(cols) = columns.as_ref() {
                self.parse_into(cols, line_no, field, batch)?;
                on_row(batch, line_end)?;
            }
        }
    }

    /// The csv crate's reading of `reader`, which starts at byte
    /// `offset.0` of the file, after `offset.1` lines.
    fn read_csv_quoted(
        &self,
        reader: impl Read,
        delimiter: u8,
        offset: (u64, u64),
        columns: Option<Columns>,
        batch: &mut Batch,
        on_row: &mut impl FnMut(&mut Batch, u64) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let (bytes_before, lines_before) = offset;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(columns.is_none() && self.has_header)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(reader);
        let columns = match columns {
            Some(columns) => columns,
            None if self.has_header => {
                let header = reader
                    .headers()
                    .map_err(|e| self.error(1, None, format!("cannot read the header: {e}")))?
                    .clone();
                let names: Vec<&str> = header.iter().collect();
                self.resolve(Some(&names))?
            }
            None => self.resolve(None)?,
        };
        let mut record = csv::ByteRecord::new();
        loop {
            let more = reader.read_byte_record(&mut record).map_err(|e| {
                let line = e.position().map_or(0, |p| p.line()) + lines_before;
                self.error(line, None, format!("cannot read: {e}"))
            })?;
            if !more {
                return Ok(());
            }
            let line = record.position().map_or(0, |p| p.line()) + lines_before;
            self.parse_into(&columns, line, |i| record.get(i), batch)?;
            on_row(batch, bytes_before + reader.position().byte())?;
        }
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
    // Fast paths for the common forms; chrono for everything else.
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' || b.len() == 8 {
        return iso_date(b);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).date_naive());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|d| d.date())
}

/// `YYYY-MM-DD` or `YYYYMMDD`, straight from the bytes.
#[inline]
fn iso_date(b: &[u8]) -> Option<NaiveDate> {
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => {
            NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
        }
        8 => NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(4..6)?, digits(6..8)?),
        _ => None,
    }
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
