//! Reading purchase histories (transaction files) and customer summary
//! files, with errors that name the file, the line and the column.
//!
//! This is the hot path of `crm-analytics score`: lines without a quote are
//! split straight from the read buffer, and from the first quote on the
//! `csv` crate reads the rest; [`TransactionFile::for_each_batch`] parses on
//! a second thread while the caller consumes batches, and
//! [`TransactionFile::for_each_batch_in_parts`] reads a large unquoted file
//! as byte ranges, one thread each.
//!
//! Progress is reported through [`ReadProgress`] (implemented by the CLI's
//! progress bar; `()` reports nothing). Every error is a [`ReadError`]; the
//! callbacks may return any error type that a [`ReadError`] converts into.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;

/// What can go wrong reading a file, as one line.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Bad input at a place in a file: `file:line: column "c": message`.
    #[error("{file}:{line}: {}{message}", column.as_ref().map(|c| format!("column {c:?}: ")).unwrap_or_default())]
    Input {
        /// The file.
        file: String,
        /// 1-based line (1 is the header).
        line: u64,
        /// The column, when one is to blame.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The file could not be opened or read: `file: reason`.
    #[error("{file}: {source}")]
    Open {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The thread reading the file stopped abnormally.
    #[error("the reading thread failed")]
    ReaderFailed,
}

/// Where reading a file has got to, for a progress display.
///
/// Called from the reading thread with
/// [`TransactionFile::for_each_batch`], hence `Sync`. Every method does
/// nothing by default; `()` reports nothing.
pub trait ReadProgress: Sync {
    /// Reading starts on a file of `total_bytes`.
    fn start(&self, total_bytes: u64) {
        let _ = total_bytes;
    }

    /// `bytes` of the file have been read (from its start).
    fn read(&self, bytes: u64) {
        let _ = bytes;
    }

    /// The whole file has been read.
    fn finish(&self) {}
}

impl ReadProgress for () {}

/// How fields are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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
#[derive(Debug, Clone, Copy)]
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
#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    Number(u64),
    /// A range of [`Batch::text`].
    Text(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Parsed {
    line: u64,
    key: Key,
    date: NaiveDate,
    amount: Decimal,
}

/// The transactions of a block of lines, in file order, parsed (the
/// reading thread hands these to the consuming one).
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
    #[inline]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the batch holds no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes of the file read up to the end of this batch.
    #[inline]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The rows, in file order.
    #[inline]
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> {
        // A map over the slice (not an iterator type of its own): `Vec`
        // extends from it without checking capacity row by row.
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
const READ_BLOCK: usize = 1 << 18;

/// Rows per batch: large enough that handing batches between threads costs
/// nothing measurable, small enough to stay in cache.
const BATCH_ROWS: usize = 4_096;

#[derive(Clone)]
struct Columns {
    customer: usize,
    date: usize,
    amount: Option<usize>,
    names: [String; 3],
}

/// A byte range of a file read on its own thread (see
/// [`TransactionFile::for_each_batch_in_parts`]).
struct Part {
    /// First byte of the range.
    start: u64,
    /// Lines starting at or after this byte belong to the next part.
    end: u64,
    /// Whether `start` may fall inside a line (read by the part before).
    inside_line: bool,
    /// Lines before this part's first (the header), for line numbers; only
    /// exact for the first part.
    lines_before: u64,
    /// The columns, from the header.
    columns: Columns,
}

/// Files smaller than this are read whole: threads would not pay.
const MIN_SPLIT_BYTES: u64 = 8 << 20;

/// The bytes of `word` equal to 0, as the high bit of each (exact, unlike
/// the shorter test that can also flag a byte above a zero).
#[inline]
fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((word & LOW7).wrapping_add(LOW7)) | word | LOW7)
}

/// Calls `each` with the position of every `delimiter` in `line`, in
/// order, eight bytes at a time; `false` as soon as a word holds a quote
/// (the positions are then not all given).
#[inline(always)]
fn delimiters_of(line: &[u8], delimiter: u8, mut each: impl FnMut(usize)) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let (delimiters, quotes) = (ONES * u64::from(delimiter), ONES * u64::from(b'"'));
    let mut word_at = |word: u64, offset: usize| -> bool {
        if zero_bytes(word ^ quotes) != 0 {
            return false;
        }
        let mut found = zero_bytes(word ^ delimiters);
        while found != 0 {
            each(offset + (found.trailing_zeros() / 8) as usize);
            found &= found - 1;
        }
        true
    };
    let (words, rest) = line.as_chunks::<8>();
    for (k, word) in words.iter().enumerate() {
        if !word_at(u64::from_le_bytes(*word), k * 8) {
            return false;
        }
    }
    // The last bytes as one more word, padded with zeros (a delimiter is
    // never 0: `delimiter_byte`): from a line of 8 bytes or more, its last
    // 8 bytes shifted down past those already read (no copy).
    let word = match (line.last_chunk::<8>(), rest.len()) {
        (_, 0) => 0,
        (Some(end), len) => u64::from_le_bytes(*end) >> (8 * (8 - len)),
        (None, len) => {
            let mut last = [0u8; 8];
            last[..len].copy_from_slice(rest);
            u64::from_le_bytes(last)
        }
    };
    word_at(word, words.len() * 8)
}

/// Splits `line` at `delimiter` into `fields` (byte ranges), eight bytes
/// at a time; `false` if the line holds a quote (the fields are then not
/// all there).
#[inline]
fn split_fields(line: &[u8], delimiter: u8, fields: &mut Vec<(usize, usize)>) -> bool {
    fields.clear();
    let mut from = 0;
    let whole = delimiters_of(line, delimiter, |at| {
        fields.push((from, at));
        from = at + 1;
    });
    fields.push((from, line.len()));
    whole
}

/// Fields a row of the fast path may span: its columns are among the
/// first this many.
const FAST_FIELDS: usize = 8;

/// Where a row's columns are, for [`fast_row`]: `None` where one is past
/// the first [`FAST_FIELDS`].
#[derive(Debug, Clone, Copy)]
struct FastColumns {
    customer: usize,
    date: usize,
    amount: Option<usize>,
    /// Delimiters before the last column the row needs.
    delimiters: usize,
}

impl FastColumns {
    fn new(columns: &Columns) -> Option<Self> {
        let last = columns
            .customer
            .max(columns.date)
            .max(columns.amount.unwrap_or(0));
        (last < FAST_FIELDS).then_some(Self {
            customer: columns.customer,
            date: columns.date,
            amount: columns.amount,
            delimiters: last,
        })
    }
}

/// What [`fast_row`] made of a line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fast {
    /// Its row is in the batch.
    Read,
    /// Not of the common shape: the general path reads it.
    Other,
    /// Its customer id is not a canonical number: the general path reads
    /// it, and a file of text ids would do so for every line.
    TextId,
}

/// Lines in a row whose customer id is text after which a read stops
/// trying the fast path (each such line is split twice).
const FAST_TEXT_IDS: u32 = 16;

/// The row of a common line, in one pass and without the general path's
/// bookkeeping: a customer id that is a canonical number, the date text of
/// the row before (a file in date order repeats it) and a plain amount,
/// each without surrounding spaces. Any other line (a quote anywhere, a
/// new date, text ids, a short row, spaces) leaves `batch` unchanged: the
/// general path reads it, with the same result where both can.
#[inline]
fn fast_row(line: &[u8], delimiter: u8, at: &FastColumns, line_no: u64, batch: &mut Batch) -> Fast {
    // ends[i]: the end of field i, for the first FAST_FIELDS fields.
    let mut ends = [line.len(); FAST_FIELDS];
    let mut found = 0usize;
    let whole = delimiters_of(line, delimiter, |position| {
        if let Some(end) = ends.get_mut(found) {
            *end = position;
        }
        found += 1;
    });
    if !whole || found < at.delimiters {
        return Fast::Other;
    }
    let field = |i: usize| -> &[u8] {
        let start = match i.checked_sub(1).and_then(|j| ends.get(j)) {
            Some(&end) => end + 1,
            None => 0,
        };
        let end = ends.get(i).copied().unwrap_or(line.len());
        line.get(start..end).unwrap_or_default()
    };
    let Some(customer) = canonical_number(field(at.customer)) else {
        return Fast::TextId;
    };
    let date = match batch.last_date {
        Some((raw, date)) if field(at.date) == raw.as_slice() => date,
        _ => return Fast::Other,
    };
    let amount = match at.amount {
        None => Decimal::ZERO,
        Some(i) => match plain_amount_parts(field(i)) {
            Some(parts) => decimal(parts),
            None => return Fast::Other,
        },
    };
    batch.rows.push(Parsed {
        line: line_no,
        key: Key::Number(customer),
        date,
        amount,
    });
    Fast::Read
}

/// A canonical decimal number (see [`CustomerRef`]).
#[inline]
fn canonical_number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    // At most 19 digits: below 10^19 < 2^64, so no step can overflow
    // (wrapping arithmetic skips the release build's overflow checks).
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| {
            acc.wrapping_mul(10)
                .wrapping_add(u64::from(c.wrapping_sub(b'0')))
        })
    })
}

/// `123`, `123.45`: the common amount forms, without going through text
/// (at most 18 digits; anything else goes to [`Decimal::from_str`], which
/// gives the same value for these forms).
#[inline]
fn plain_amount(b: &[u8]) -> Option<Decimal> {
    plain_amount_parts(b).map(decimal)
}

/// [`plain_amount`] as its mantissa (below 10^18) and scale (at most 18),
/// which stay in registers.
#[inline(always)]
fn plain_amount_parts(b: &[u8]) -> Option<(u64, u32)> {
    let mut mantissa = 0u64;
    let mut digits = 0u32;
    let mut scale = 0u32;
    let mut dot = false;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                // 18 digits stay below 10^18 < 2^64; a 19th may wrap,
                // but the number is then refused below (and read as text).
                mantissa = mantissa
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(c.wrapping_sub(b'0')));
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
    Some((mantissa, scale))
}

/// The amount of [`plain_amount_parts`]. `from_parts` is inlined, so the
/// value is built in registers (`Decimal::new`, a call, wrote it to memory
/// in four parts that the row's 16-byte copy then waited for).
#[inline(always)]
fn decimal((mantissa, scale): (u64, u32)) -> Decimal {
    Decimal::from_parts(mantissa as u32, (mantissa >> 32) as u32, 0, false, scale)
}

/// Why the reading thread of [`TransactionFile::for_each_batch`] stopped
/// early.
enum Stop {
    /// The file is bad or unreadable.
    Read(ReadError),
    /// The consumer stopped on an error of its own, which it reports.
    Consumer,
}

impl From<ReadError> for Stop {
    fn from(e: ReadError) -> Self {
        Self::Read(e)
    }
}

impl TransactionFile {
    fn display(&self) -> String {
        self.path.display().to_string()
    }

    fn error(&self, line: u64, column: Option<&str>, message: impl Into<String>) -> ReadError {
        ReadError::Input {
            file: self.display(),
            line,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }

    fn delimiter_byte(&self) -> u8 {
        match self.delimiter {
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
            _ => b',',
        }
    }

    fn resolve(&self, header: Option<&[&str]>) -> Result<Columns, ReadError> {
        let find = |wanted: &str| -> Result<usize, ReadError> {
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

    fn text<'a>(&self, line: u64, column: &str, raw: &'a [u8]) -> Result<&'a str, ReadError> {
        std::str::from_utf8(raw).map_err(|_| self.error(line, Some(column), "not UTF-8 text"))
    }

    /// Parses one record's fields into `batch`.
    fn parse_into<'a>(
        &self,
        columns: &Columns,
        line: u64,
        field: impl Fn(usize) -> Option<&'a [u8]>,
        batch: &mut Batch,
    ) -> Result<(), ReadError> {
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

    /// Calls `each` for every transaction, in file order, on this thread;
    /// returns the number of transactions. `each` may fail with any error
    /// that a [`ReadError`] converts into; its first error stops the reading.
    pub fn for_each<E: From<ReadError>>(
        &self,
        progress: &dyn ReadProgress,
        mut each: impl FnMut(Row<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut batch = Batch::default();
        let rows = self.produce(progress, &mut batch, |batch| -> Result<(), E> {
            for row in batch.rows() {
                each(row)?;
            }
            // The same batch is filled again (keeping its last date).
            batch.clear();
            Ok(())
        })?;
        progress.finish();
        Ok(rows)
    }

    /// Calls `each` for every batch of transactions, in file order: a
    /// second thread reads and parses the file while this one runs `each`.
    /// Memory is a few batches, whatever the file's size. Returns the
    /// number of transactions; `each`'s first error stops the reading and
    /// is returned.
    pub fn for_each_batch<E: From<ReadError>>(
        &self,
        progress: &dyn ReadProgress,
        mut each: impl FnMut(&Batch) -> Result<(), E>,
    ) -> Result<u64, E> {
        use std::sync::mpsc::{channel, sync_channel};
        let (full_tx, full_rx) = sync_channel::<Batch>(4);
        let (empty_tx, empty_rx) = channel::<Batch>();
        let (consumed, read) = std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                let mut batch = Batch::default();
                self.produce(progress, &mut batch, |batch| -> Result<(), Stop> {
                    let mut next: Batch = empty_rx.try_recv().unwrap_or_default();
                    next.last_date = batch.last_date;
                    full_tx
                        .send(std::mem::replace(batch, next))
                        .map_err(|_| Stop::Consumer)
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
            (consumed, reader.join())
        });
        // The consumer's error first: the reader only stopped because of it.
        consumed?;
        let rows = match read {
            Ok(Ok(rows)) => rows,
            Ok(Err(Stop::Read(e))) => return Err(e.into()),
            Ok(Err(Stop::Consumer)) | Err(_) => return Err(ReadError::ReaderFailed.into()),
        };
        progress.finish();
        Ok(rows)
    }

    /// Reads the file in as many parts as `states`, each on a thread of its
    /// own, and calls `each` with a part's state for every batch of that
    /// part, in file order within the part. Returns the states in file
    /// order: the first saw the first transactions. Line numbers of rows
    /// after the first part count from the part's start, so an error there
    /// is not the caller's to report.
    ///
    /// `Ok(None)` where the file is not to be read in parts: a quote
    /// anywhere (a quoted field may hold a line break), whitespace
    /// separation, a file under a few megabytes, or an error after the
    /// first part; [`for_each_batch`](Self::for_each_batch) then reads it
    /// whole and reports the first error with its line. An error in the
    /// header or the first part is returned as it is.
    pub fn for_each_batch_in_parts<S, E>(
        &self,
        progress: &dyn ReadProgress,
        states: Vec<S>,
        each: impl Fn(&mut S, &Batch) -> Result<(), E> + Sync,
    ) -> Result<Option<Vec<S>>, E>
    where
        S: Send,
        E: From<ReadError> + Send,
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        if states.len() < 2 || self.delimiter == Delimiter::Whitespace {
            return Ok(None);
        }
        let mut file = self.open()?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size < MIN_SPLIT_BYTES {
            return Ok(None);
        }
        // The header (or the first line) decides the columns.
        let mut head = vec![0u8; READ_BLOCK];
        let n = file
            .read(&mut head)
            .map_err(|e| self.error(1, None, format!("cannot read: {e}")))?;
        let Some(newline) = memchr::memchr(b'\n', &head[..n]) else {
            return Ok(None);
        };
        let (columns, data_start, lines_before) = if self.has_header {
            let mut line = &head[..newline];
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.contains(&b'"') {
                return Ok(None);
            }
            let names = line
                .split(|&b| b == self.delimiter_byte())
                .map(|f| self.text(1, "header", f))
                .collect::<Result<Vec<&str>, ReadError>>()?;
            (self.resolve(Some(&names))?, newline as u64 + 1, 1)
        } else {
            (self.resolve(None)?, 0, 0)
        };
        drop(file);
        progress.start(size);
        let count = states.len() as u64;
        let span = (size - data_start).div_ceil(count);
        let read = AtomicU64::new(0);
        let each = &each;
        let run = |k: u64, mut state: S| -> Result<Option<S>, E> {
            let start = data_start + k * span;
            let part = Part {
                start,
                end: (start + span).min(size),
                inside_line: k > 0,
                lines_before: if k == 0 { lines_before } else { 0 },
                columns: columns.clone(),
            };
            // Progress: the bytes of every part together.
            let mut reported = start;
            let mut batch = Batch::default();
            let (_, whole) = self.produce_part(
                self.open()?,
                size,
                Some(&part),
                &(),
                &mut batch,
                |batch| -> Result<(), E> {
                    let bytes = batch.bytes.max(reported);
                    let total =
                        read.fetch_add(bytes - reported, Ordering::Relaxed) + bytes - reported;
                    reported = bytes;
                    progress.read(total);
                    each(&mut state, batch)?;
                    batch.clear();
                    Ok(())
                },
            )?;
            Ok(whole.then_some(state))
        };
        let results: Vec<Result<Option<S>, E>> = std::thread::scope(|scope| {
            let mut states = states.into_iter().enumerate();
            let first = states.next();
            let others: Vec<_> = states
                .map(|(k, s)| scope.spawn(move || run(k as u64, s)))
                .collect();
            let mut results = Vec::with_capacity(others.len() + 1);
            if let Some((_, s)) = first {
                results.push(run(0, s));
            }
            for handle in others {
                results.push(
                    handle
                        .join()
                        .unwrap_or_else(|_| Err(ReadError::ReaderFailed.into())),
                );
            }
            results
        });
        let mut states = Vec::with_capacity(results.len());
        for (k, result) in results.into_iter().enumerate() {
            match result {
                Ok(Some(state)) => states.push(state),
                Err(e) if k == 0 => return Err(e),
                Ok(None) | Err(_) => return Ok(None),
            }
        }
        progress.finish();
        Ok(Some(states))
    }

    /// Reads and parses the file, handing over each full batch (and the
    /// last one) to `emit`, which leaves an empty batch in its place.
    fn produce<E: From<ReadError>>(
        &self,
        progress: &dyn ReadProgress,
        batch: &mut Batch,
        emit: impl FnMut(&mut Batch) -> Result<(), E>,
    ) -> Result<u64, E> {
        let file = self.open()?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        progress.start(size);
        Ok(self
            .produce_part(file, size, None, progress, batch, emit)?
            .0)
    }

    fn open(&self) -> Result<File, ReadError> {
        File::open(&self.path).map_err(|source| ReadError::Open {
            file: self.display(),
            source,
        })
    }

    /// [`produce`](Self::produce) of the whole file (`part` `None`) or of
    /// one part; also says whether the part could be read on its own
    /// (`false`: it holds a quote).
    fn produce_part<E: From<ReadError>>(
        &self,
        file: File,
        size: u64,
        part: Option<&Part>,
        progress: &dyn ReadProgress,
        batch: &mut Batch,
        mut emit: impl FnMut(&mut Batch) -> Result<(), E>,
    ) -> Result<(u64, bool), E> {
        let mut rows = 0u64;
        let mut on_row = |batch: &mut Batch, bytes: u64| -> Result<(), E> {
            rows += 1;
            if batch.rows.len() >= BATCH_ROWS {
                batch.bytes = bytes;
                progress.read(bytes);
                emit(batch)?;
            }
            Ok(())
        };
        let whole = match self.delimiter {
            Delimiter::Whitespace => {
                self.read_whitespace(file, batch, &mut on_row)?;
                true
            }
            _ => self.read_csv(file, part, batch, &mut on_row)?,
        };
        if !whole {
            return Ok((rows, false));
        }
        if !batch.rows.is_empty() {
            batch.bytes = part.map_or(size, |p| p.end);
            emit(batch)?;
        }
        Ok((rows, true))
    }

    fn read_whitespace<E: From<ReadError>>(
        &self,
        file: File,
        batch: &mut Batch,
        on_row: &mut impl FnMut(&mut Batch, u64) -> Result<(), E>,
    ) -> Result<(), E> {
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

    /// Reads the whole file, or only `part` of it; `Ok(false)`: the part
    /// holds a quote, so it cannot be read on its own.
    fn read_csv<E: From<ReadError>>(
        &self,
        mut file: File,
        part: Option<&Part>,
        batch: &mut Batch,
        on_row: &mut impl FnMut(&mut Batch, u64) -> Result<(), E>,
    ) -> Result<bool, E> {
        let delimiter = self.delimiter_byte();
        // Lines without a quote are split here, straight from the buffer;
        // from the first quote on, the csv crate reads the rest (quoted
        // fields may hold delimiters and line breaks).
        let mut buf: Vec<u8> = Vec::with_capacity(READ_BLOCK * 2);
        let mut start = 0usize; // first unread byte of `buf`
        let mut consumed = 0u64; // file bytes before `buf[0]`
        let mut line_no = 0u64;
        let mut columns: Option<Columns> = None;
        let mut eof = false;
        // A part: its lines are those starting in [start, end); it skips the
        // end of the line it starts in, which the part before reads.
        let mut skip_first = false;
        let mut part_end = u64::MAX;
        if let Some(p) = part {
            consumed = p.start.saturating_sub(u64::from(p.inside_line));
            skip_first = p.inside_line;
            part_end = p.end;
            line_no = p.lines_before;
            columns = Some(p.columns.clone());
            file.seek(std::io::SeekFrom::Start(consumed))
                .map_err(|e| self.error(line_no + 1, None, format!("cannot read: {e}")))?;
        }
        // Field bounds within the current line (kept between lines).
        let mut fields: Vec<(usize, usize)> = Vec::new();
        // The fast path, once the columns are known, until text ids show.
        let mut fast = columns.as_ref().and_then(FastColumns::new);
        let mut text_ids = 0u32;
        loop {
            let Some(newline) = memchr::memchr(b'\n', &buf[start..]) else {
                if eof {
                    if start < buf.len() {
                        // A last line without a line break.
                        buf.push(b'\n');
                        continue;
                    }
                    return Ok(true);
                }
                // Keep the partial line, read the next block.
                buf.drain(..start);
                consumed += start as u64;
                start = 0;
                // Into the buffer's spare room, which is not zeroed first.
                let n = (&mut file)
                    .take(READ_BLOCK as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| self.error(line_no + 1, None, format!("cannot read: {e}")))?;
                eof = n == 0;
                continue;
            };
            let end = start + newline;
            if skip_first {
                skip_first = false;
                start = end + 1;
                continue;
            }
            if consumed + start as u64 >= part_end {
                return Ok(true);
            }
            let mut line = &buf[start..end];
            if line_no == 0 {
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if let Some(at) = &fast {
                match fast_row(line, delimiter, at, line_no + 1, batch) {
                    Fast::Read => {
                        text_ids = 0;
                        line_no += 1;
                        start = end + 1;
                        on_row(batch, consumed + start as u64)?;
                        continue;
                    }
                    Fast::TextId => {
                        text_ids += 1;
                        if text_ids >= FAST_TEXT_IDS {
                            fast = None;
                        }
                    }
                    Fast::Other => {}
                }
            }
            if !split_fields(line, delimiter, &mut fields) {
                if part.is_some() {
                    return Ok(false);
                }
                // Everything from this line on goes to the csv crate.
                let rest = std::io::Cursor::new(buf[start..].to_vec()).chain(file);
                let offset = (consumed + start as u64, line_no);
                self.read_csv_quoted(rest, delimiter, offset, columns, batch, on_row)?;
                return Ok(true);
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
                        .collect::<Result<Vec<&str>, ReadError>>()?;
                    columns = Some(self.resolve(Some(&names))?);
                    fast = columns.as_ref().and_then(FastColumns::new);
                    continue;
                }
                columns = Some(self.resolve(None)?);
                fast = columns.as_ref().and_then(FastColumns::new);
            }
            if let Some(cols) = columns.as_ref() {
                self.parse_into(cols, line_no, field, batch)?;
                on_row(batch, line_end)?;
            }
        }
    }

    /// The csv crate's reading of `reader`, which starts at byte
    /// `offset.0` of the file, after `offset.1` lines.
    fn read_csv_quoted<E: From<ReadError>>(
        &self,
        reader: impl Read,
        delimiter: u8,
        offset: (u64, u64),
        columns: Option<Columns>,
        batch: &mut Batch,
        on_row: &mut impl FnMut(&mut Batch, u64) -> Result<(), E>,
    ) -> Result<(), E> {
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
        // At most 4 digits: no step can overflow.
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| {
                acc.wrapping_mul(10)
                    .wrapping_add(u32::from(c.wrapping_sub(b'0')))
            })
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
#[derive(Debug, Clone, Copy)]
pub struct SummaryFile<'p> {
    /// The file.
    pub path: &'p Path,
}

/// One summary row.
#[derive(Debug, Clone)]
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
    pub fn read(&self, required: &[&str]) -> Result<Vec<SummaryRow>, ReadError> {
        let file_name = self.path.display().to_string();
        let err = |line: u64, column: Option<&str>, message: String| ReadError::Input {
            file: file_name.clone(),
            line,
            column: column.map(str::to_owned),
            message,
        };
        let file = File::open(self.path).map_err(|source| ReadError::Open {
            file: file_name.clone(),
            source,
        })?;
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
            let field = |i: Option<usize>, name: &str| -> Result<Option<&str>, ReadError> {
                match i {
                    None => Ok(None),
                    Some(i) => record
                        .get(i)
                        .map(|v| Some(v.trim()))
                        .ok_or_else(|| err(line, Some(name), "missing field".into())),
                }
            };
            let number = |i, name: &str| -> Result<Option<f64>, ReadError> {
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

/// Reads a whole file as text (a config, a model snapshot); the error names
/// the file.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let mut s = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|source| ReadError::Open {
            file: path.display().to_string(),
            source,
        })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file cut into parts reads as the same rows in the same order (a
    /// line starting right at a cut is read once); a quote or an error
    /// after the first part answers `None`; an error in the first part is
    /// returned with its line.
    #[test]
    fn parts_read_the_rows_of_the_whole_file() {
        let mut text = String::from("customer_id,date,amount,note\n");
        for i in 0..150_000u64 {
            let day = 1 + i / 5_000;
            text.push_str(&format!(
                "{},2024-01-{day:02},{}.{:02},padding padding padding padding {i}\n",
                (i * 7_919) % 40_000,
                i % 500,
                i % 100
            ));
        }
        assert!(text.len() as u64 > MIN_SPLIT_BYTES);
        let rows_of = |text: &str, parts: usize| {
            let file = TempFile::new(&format!("parts-{parts}-{}", text.len()), text);
            let whole = all_rows(&file.transactions());
            let states = (0..parts).map(|_| Vec::new()).collect();
            let read = file.transactions().for_each_batch_in_parts(
                &(),
                states,
                |rows: &mut Vec<(u64, String, NaiveDate, Decimal)>,
                 batch|
                 -> Result<(), ReadError> {
                    rows.extend(
                        batch
                            .rows()
                            .map(|r| (r.line, r.customer.to_text(), r.date, r.amount)),
                    );
                    Ok(())
                },
            );
            (whole, read)
        };
        for parts in [2, 3, 7] {
            let (whole, read) = rows_of(&text, parts);
            let whole = whole.expect("rows");
            let parts_read = read.expect("read").expect("read in parts");
            assert_eq!(parts_read.len(), parts);
            // The first part's line numbers are the file's.
            assert_eq!(parts_read[0][..], whole[..parts_read[0].len()]);
            let strip =
                |rows: &[(u64, String, NaiveDate, Decimal)]| -> Vec<(String, NaiveDate, Decimal)> {
                    rows.iter()
                        .map(|(_, c, d, a)| (c.clone(), *d, *a))
                        .collect()
                };
            assert_eq!(strip(&parts_read.concat()), strip(&whole), "{parts} parts");
        }
        let late = text.len() * 3 / 4;
        let line_start = late + text[late..].find('\n').expect("a line") + 1;
        let quoted = format!(
            "{}\"7\",2024-01-30,1,x\n{}",
            &text[..line_start],
            &text[line_start..]
        );
        assert!(rows_of(&quoted, 2).1.expect("no error").is_none());
        let bad_late = format!(
            "{}7,2024-01-30,-1,x\n{}",
            &text[..line_start],
            &text[line_start..]
        );
        assert!(rows_of(&bad_late, 2).1.expect("no error here").is_none());
        let header = text.find('\n').expect("a header") + 1;
        let bad_early = format!(
            "{}7,2024-01-30,1,x\n8,yesterday,1,x\n{}",
            &text[..header],
            &text[header..]
        );
        let err = rows_of(&bad_early, 2)
            .1
            .expect_err("a bad date in the first part");
        assert!(err.to_string().contains(":3: column \"date\""), "{err}");
    }

    #[test]
    fn lines_split_eight_bytes_at_a_time_as_byte_by_byte() {
        let byte_by_byte = |line: &[u8], delimiter: u8| -> Option<Vec<(usize, usize)>> {
            let mut fields = Vec::new();
            let mut from = 0;
            for (at, &b) in line.iter().enumerate() {
                if b == b'"' {
                    return None;
                }
                if b == delimiter {
                    fields.push((from, at));
                    from = at + 1;
                }
            }
            fields.push((from, line.len()));
            Some(fields)
        };
        // Every length to 40, delimiters and quotes at every position, next
        // to bytes one off the delimiter and to multi-byte characters.
        let alphabet: &[u8] = &[
            b'a', b',', b';', b'+', b'-', 0x00, 0x01, 0xAC, 0xC3, b'"', b'9',
        ];
        let mut fields = Vec::new();
        let mut seed = 7u64;
        for len in 0..40 {
            for _ in 0..200 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        alphabet[(seed >> 33) as usize % alphabet.len()]
                    })
                    .collect();
                for delimiter in [b',', b';'] {
                    let whole = split_fields(&line, delimiter, &mut fields);
                    let want = byte_by_byte(&line, delimiter);
                    assert_eq!(whole, want.is_some(), "{line:?}");
                    if let Some(want) = want {
                        assert_eq!(fields, want, "{line:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn long_numbers_leave_the_fast_paths() {
        assert_eq!(plain_amount(b"123.45"), Some(Decimal::new(12345, 2)));
        assert_eq!(
            plain_amount(b"999999999999999999"),
            Some(Decimal::from(999_999_999_999_999_999i64))
        );
        // 19 and 20 digits: not a fast amount (the text path reads them).
        assert_eq!(plain_amount(b"9999999999999999999"), None);
        assert_eq!(plain_amount(b"99999999999999999999.5"), None);
        assert_eq!(canonical_number(b"18446744073709551615"), None);
        assert_eq!(
            canonical_number(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(
            iso_date(b"2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(iso_date(b"2024-0a-29"), None);
    }

    /// Where the fast path reads a line, it reads what the general path
    /// reads; every other line it leaves alone, for the general path.
    #[test]
    fn the_fast_path_reads_what_the_general_path_reads() {
        let file = TempFile::new("fast-path", "").transactions();
        let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).expect("a date");
        let pieces = [
            "42",
            "0042",
            "0",
            "",
            " 7",
            "7 ",
            "a1",
            "18446744073709551615",
            "9999999999999999999",
            "2024-01-02",
            "2024-01-03",
            " 2024-01-02",
            "20240102",
            "10",
            "1.5",
            ".5",
            "5.",
            "1.2.3",
            "-3",
            "999999999999999999",
            "12345678901234567.8",
            "\"7\"",
            "x\"",
            "2024-01-02\r",
        ];
        let layouts = [
            (0, 1, Some(2)),
            (2, 0, Some(1)),
            (1, 3, None),
            (0, 1, Some(7)),
            (0, 8, Some(1)),
        ];
        let (mut read_fast, mut left) = (0, 0);
        let mut seed = 7u64;
        let mut pick = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for (customer, date, amount) in layouts {
            let columns = Columns {
                customer,
                date,
                amount,
                names: ["customer_id".into(), "date".into(), "amount".into()],
            };
            let at = FastColumns::new(&columns);
            for _ in 0..20_000 {
                // Mostly lines the fast path should take, with odd pieces.
                let count = 2 + pick(9);
                let fields: Vec<&str> = (0..count)
                    .map(|i| {
                        if pick(3) > 0 {
                            if i == customer {
                                return ["42", "7", "123456"][pick(3)];
                            } else if i == date {
                                return "2024-01-02";
                            } else if Some(i) == amount {
                                return ["10", "1.5", "203.96"][pick(3)];
                            }
                        }
                        pieces[pick(pieces.len())]
                    })
                    .collect();
                let line = fields.join(",");
                let line = line.as_bytes();
                let fresh = || Batch {
                    last_date: Some((*b"2024-01-02", day(2))),
                    ..Batch::default()
                };
                let (mut fast, mut general) = (fresh(), fresh());
                let Some(at) = at.as_ref() else {
                    continue;
                };
                let outcome = fast_row(line, b',', at, 5, &mut fast);
                if outcome == Fast::TextId {
                    // Said only of a customer id that is not a number.
                    let mut bounds = Vec::new();
                    assert!(split_fields(line, b',', &mut bounds));
                    let id = bounds.get(customer).map(|&(a, b)| &line[a..b]);
                    assert_eq!(id.and_then(canonical_number), None);
                }
                if outcome == Fast::Read {
                    read_fast += 1;
                    let mut bounds = Vec::new();
                    assert!(split_fields(line, b',', &mut bounds));
                    file.parse_into(
                        &columns,
                        5,
                        |i| bounds.get(i).map(|&(a, b)| &line[a..b]),
                        &mut general,
                    )
                    .expect("the general path reads it too");
                    assert_eq!(fast.rows, general.rows, "{}", String::from_utf8_lossy(line));
                } else {
                    left += 1;
                    assert!(fast.rows.is_empty());
                }
            }
        }
        assert!(
            read_fast > 10_000 && left > 10_000,
            "{read_fast} read, {left} left"
        );
        // A column past the first eight: no fast path.
        assert!(
            FastColumns::new(&Columns {
                customer: 0,
                date: 8,
                amount: None,
                names: Default::default(),
            })
            .is_none()
        );
    }

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

    /// A file of `contents` in the temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "crm-csv-transactions-{}-{name}",
                std::process::id()
            ));
            std::fs::write(&path, contents).expect("write the test file");
            Self(path)
        }

        fn transactions(&self) -> TransactionFile {
            TransactionFile {
                path: self.0.clone(),
                customer_col: "customer_id".into(),
                date_col: "date".into(),
                amount_col: Some("amount".into()),
                delimiter: Delimiter::Comma,
                has_header: true,
                date_format: None,
            }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn all_rows(
        file: &TransactionFile,
    ) -> Result<Vec<(u64, String, NaiveDate, Decimal)>, ReadError> {
        let mut rows = Vec::new();
        file.for_each(&(), |r| -> Result<(), ReadError> {
            rows.push((r.line, r.customer.to_text(), r.date, r.amount));
            Ok(())
        })?;
        Ok(rows)
    }

    #[test]
    fn fast_splitter_then_csv_crate_from_the_first_quote() {
        let f = TempFile::new(
            "quoted.csv",
            "\u{feff}customer_id,date,amount\r\n42,2024-01-02,10\r\n0042,2024-01-02,1.5\n\
             \"a, b\",2024-01-03,\"3.25\"\n7,20240104,0\n",
        );
        let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).expect("a date");
        let rows = all_rows(&f.transactions()).expect("a good file");
        assert_eq!(
            rows,
            vec![
                (2, "42".into(), day(2), Decimal::new(10, 0)),
                (3, "0042".into(), day(2), Decimal::new(15, 1)),
                (4, "a, b".into(), day(3), Decimal::new(325, 2)),
                (5, "7".into(), day(4), Decimal::ZERO),
            ]
        );
        let mut ids = Vec::new();
        f.transactions()
            .for_each(&(), |r| -> Result<(), ReadError> {
                ids.push(r.customer == CustomerRef::Number(42));
                Ok(())
            })
            .expect("a good file");
        assert_eq!(ids, [true, false, false, false]);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let f = TempFile::new(
            "bad.csv",
            "customer_id,date,amount\n1,2024-01-02,3\n2,soon,4\n",
        );
        let e = all_rows(&f.transactions()).expect_err("a bad date");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:3: column \"date\": cannot read \"soon\" as a date (expected YYYY-MM-DD, YYYYMMDD or an RFC 3339 timestamp)",
                f.0.display()
            )
        );
        let mut file = f.transactions();
        file.amount_col = Some("price".into());
        let e = all_rows(&file).expect_err("no such column");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:1: column \"price\": no such column in the header (columns: customer_id, date, amount)",
                f.0.display()
            )
        );
        let f = TempFile::new("negative.csv", "customer_id,date,amount\n1,2024-01-02,-3\n");
        let e = all_rows(&f.transactions()).expect_err("a refund");
        assert!(e.to_string().ends_with(
            ":2: column \"amount\": negative amount -3 (refunds do not belong in purchase history)"
        ));
        file.path = std::env::temp_dir().join("crm-csv-transactions-no-such-file.csv");
        assert!(matches!(all_rows(&file), Err(ReadError::Open { .. })));
    }

    #[test]
    fn whitespace_without_header() {
        let f = TempFile::new(
            "cdnow.txt",
            "00001 1 19970101 1 11.77\n\n00002  2\t19970112 2 20\n",
        );
        let file = TransactionFile {
            customer_col: "2".into(),
            date_col: "3".into(),
            amount_col: Some("5".into()),
            delimiter: Delimiter::Whitespace,
            has_header: false,
            ..f.transactions()
        };
        let rows = all_rows(&file).expect("a good file");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].0, 3);
        assert_eq!(rows[1].1, "2");
        assert_eq!(rows[0].3, Decimal::new(1177, 2));
    }

    #[derive(Default)]
    struct Recorded(std::sync::Mutex<Vec<(&'static str, u64)>>);

    impl ReadProgress for Recorded {
        fn start(&self, total_bytes: u64) {
            self.0.lock().expect("lock").push(("start", total_bytes));
        }

        fn read(&self, bytes: u64) {
            self.0.lock().expect("lock").push(("read", bytes));
        }

        fn finish(&self) {
            self.0.lock().expect("lock").push(("finish", 0));
        }
    }

    #[test]
    fn batches_on_a_second_thread_match_rows_in_order() {
        use std::fmt::Write as _;
        let mut text = String::from("customer_id,date,amount\n");
        let n = BATCH_ROWS * 2 + 100;
        for i in 0..n {
            let _ = writeln!(text, "c{},2024-01-{:02},{}.5", i % 1000, 1 + i % 28, i % 7);
        }
        let f = TempFile::new("batches.csv", &text);
        let file = f.transactions();
        let progress = Recorded::default();
        let mut batched = Vec::new();
        let mut sizes = Vec::new();
        let count = file
            .for_each_batch(&progress, |batch| -> Result<(), ReadError> {
                sizes.push(batch.len());
                batched.extend(
                    batch
                        .rows()
                        .map(|r| (r.line, r.customer.to_text(), r.date, r.amount)),
                );
                Ok(())
            })
            .expect("a good file");
        assert_eq!(count, n as u64);
        assert_eq!(sizes, [BATCH_ROWS, BATCH_ROWS, 100]);
        assert_eq!(batched, all_rows(&file).expect("a good file"));
        let calls = progress.0.into_inner().expect("lock");
        assert_eq!(calls.first(), Some(&("start", text.len() as u64)));
        assert_eq!(calls.last(), Some(&("finish", 0)));
        assert_eq!(calls.len(), 4);

        // The consumer's error stops the reading and is what is returned.
        let mut seen = 0;
        let e = file
            .for_each_batch(&(), |_| {
                seen += 1;
                Err(ReadError::ReaderFailed)
            })
            .expect_err("the consumer's error");
        assert!(matches!(e, ReadError::ReaderFailed));
        assert_eq!(seen, 1);
    }

    #[test]
    fn summary_rows() {
        let f = TempFile::new(
            "summary.csv",
            "customer_id,frequency,recency,T,monetary_value\n1,2.0,3.5,10,12.5\n2,0,0,10,0\n",
        );
        let rows = SummaryFile { path: &f.0 }
            .read(&["frequency", "recency", "T"])
            .expect("a good summary");
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[0].frequency), (2, 2));
        assert_eq!(rows[0].recency, Some(3.5));
        assert_eq!(rows[0].monetary_value, Some(Decimal::new(125, 1)));
        assert_eq!(rows[1].periods, None);
        let e = SummaryFile { path: &f.0 }
            .read(&["periods"])
            .expect_err("no periods");
        assert!(e.to_string().ends_with(":1: column \"periods\": no such column in the header (columns: customer_id, frequency, recency, T, monetary_value)"));
        assert_eq!(read_text(&f.0).expect("readable").lines().count(), 3);
    }
}
