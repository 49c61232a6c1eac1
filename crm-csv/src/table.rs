//! Reading a CSV table whatever wrote it: a UTF-8 byte-order mark
//! stripped, the delimiter (comma, semicolon or tab) detected from the
//! header line, blank lines skipped, and each record's starting line known
//! exactly (quoted cells may span lines; CRLF files are common). The
//! customer and purchase readers are built on it.

use std::io::{self, BufRead, BufReader, Read};

use crate::customers::CsvError;

/// Counts the bytes handed to the CSV parser and remembers the last one, so
/// the reader can tell whether a record ended on a newline or at the end of
/// the file.
#[derive(Debug)]
struct Counted<R> {
    inner: R,
    total: u64,
    last: Option<u8>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(n_last) = n.checked_sub(1) {
            self.total += n as u64;
            self.last = buf.get(n_last).copied();
        }
        Ok(n)
    }
}

type Source<R> = Counted<io::Chain<io::Cursor<Vec<u8>>, BufReader<R>>>;

/// The most bytes looked at to find the header line when a quote is left open.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// A CSV table being read: the records after its header.
#[derive(Debug)]
pub(crate) struct Table<R> {
    csv: csv::Reader<Source<R>>,
    delimiter: u8,
    position: u64,
    /// A record read ahead and given back.
    pending: Option<(u64, csv::ByteRecord)>,
}

impl<R: Read> Table<R> {
    /// Opens a table: strips a byte-order mark, detects the delimiter
    /// (unless given) and reads the header (trimmed cells; a header that is
    /// not UTF-8 is read lossily).
    pub(crate) fn open(reader: R, delimiter: Option<u8>) -> Result<(Self, Vec<String>), CsvError> {
        let mut input = BufReader::new(reader);
        let (prefix, header_line) = read_header_line(&mut input)?;
        let delimiter = delimiter
            .unwrap_or_else(|| detect_delimiter(prefix.get(header_line..).unwrap_or_default()));
        let source = Counted {
            inner: io::Cursor::new(prefix).chain(input),
            total: 0,
            last: None,
        };
        // `\n` alone ends a record, so every record consumes its own newline
        // and the line arithmetic in `read_record` holds; a `\r` before it is
        // stripped from the last cell.
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(source);
        let mut table = Table {
            csv,
            delimiter,
            position: 0,
            pending: None,
        };
        let Some((line, header)) = table.read_record()? else {
            return Err(CsvError::NoHeader);
        };
        table.position = line;
        let headers = cells(&header)
            .map(|c| String::from_utf8_lossy(c).trim().to_owned())
            .collect();
        Ok((table, headers))
    }

    /// The delimiter in use.
    pub(crate) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The line the header starts on.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Bytes of the input read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.csv.get_ref().total
    }

    /// Gives back a record read ahead: the next `read_record` returns it.
    pub(crate) fn unread(&mut self, line: u64, record: csv::ByteRecord) {
        self.pending = Some((line, record));
    }

    /// The next record that is not blank, with the line it starts on.
    pub(crate) fn read_record(&mut self) -> Result<Option<(u64, csv::ByteRecord)>, CsvError> {
        if let Some(pending) = self.pending.take() {
            return Ok(Some(pending));
        }
        loop {
            let mut record = csv::ByteRecord::new();
            if !self
                .csv
                .read_byte_record(&mut record)
                .map_err(CsvError::from_csv)?
            {
                return Ok(None);
            }
            // The parser's own record position is taken before it skips blank
            // lines, so count back from where the record ended instead: every
            // newline consumed so far, minus those inside the record's cells
            // and the one that ended it.
            let after = self.csv.position();
            let source = self.csv.get_ref();
            let ended_by_newline = after.byte() < source.total || source.last == Some(b'\n');
            let inside = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
            let line = after
                .line()
                .saturating_sub(inside + u64::from(ended_by_newline))
                .max(1);
            if cells(&record).all(|c| c.trim_ascii().is_empty()) {
                continue;
            }
            return Ok(Some((line, record)));
        }
    }
}

/// The cells of a record; the `\r` of a CRLF line ending, left in the last
/// cell because records end on `\n` alone, is dropped.
pub(crate) fn cells(record: &csv::ByteRecord) -> impl Iterator<Item = &[u8]> {
    let last = record.len().saturating_sub(1);
    record.iter().enumerate().map(move |(i, c)| {
        if i == last {
            c.strip_suffix(b"\r").unwrap_or(c)
        } else {
            c
        }
    })
}

/// Reads up to the end of the header line (skipping blank lines before it,
/// and following quoted cells across lines). Returns the bytes read, without
/// a byte-order mark, and where the header line starts in them.
fn read_header_line<R: BufRead>(input: &mut R) -> io::Result<(Vec<u8>, usize)> {
    let mut bytes = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    loop {
        let line_start = bytes.len();
        if input.read_until(b'\n', &mut bytes)? == 0 {
            break;
        }
        if line_start == 0 && bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        let line = bytes.get(line_start..).unwrap_or_default();
        if !in_quotes && line.trim_ascii().is_empty() {
            start = bytes.len();
            continue;
        }
        in_quotes ^= memchr::memchr_iter(b'"', line).count() % 2 == 1;
        if !in_quotes || bytes.len() - start > MAX_HEADER_BYTES {
            break;
        }
    }
    Ok((bytes, start))
}

/// Comma, semicolon or tab: whichever occurs most often outside quotes in
/// the header line (comma on a tie, and when none occurs).
pub(crate) fn detect_delimiter(header: &[u8]) -> u8 {
    let (mut comma, mut semicolon, mut tab) = (0usize, 0usize, 0usize);
    let mut in_quotes = false;
    for &b in header {
        match b {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => comma += 1,
            b';' if !in_quotes => semicolon += 1,
            b'\t' if !in_quotes => tab += 1,
            b'\n' if !in_quotes => break,
            _ => {}
        }
    }
    if comma >= semicolon && comma >= tab {
        b','
    } else if semicolon >= tab {
        b';'
    } else {
        b'\t'
    }
}
