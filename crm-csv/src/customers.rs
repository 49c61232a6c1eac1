//! Reading customer lists: the file format, not the import.
//!
//! A [`CustomerCsvReader`] turns a CSV file from an old POS or a spreadsheet
//! (often with Indonesian headers) into [`ParsedCustomer`] rows, a batch at a
//! time, without holding the file in memory. It only reports cells that cannot
//! become the field's type (a credit limit of `1.500.000`, a birthday of
//! `kemarin`); the domain rules (email syntax, phone numbers, lengths, ranges)
//! are checked later by `crm-core` when the [`NewCustomer`] is validated.
//!
//! Problems with the whole file (no header, no name column, two columns for
//! one field) are a [`CsvError`]; problems with one row are that row's
//! [`FieldError`]s, so one bad row never stops an import.

use std::io::Read;

use chrono::NaiveDate;
use crm_core::{CustomerType, FieldError, NewCustomer};
use rust_decimal::Decimal;

use crate::table::{Table, cells};

/// A problem with the whole file: nothing in it can be imported until it is
/// fixed. Problems with one row are that row's [`ParsedCustomer::errors`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// Reading or writing the underlying file failed.
    #[error("could not read or write the CSV file: {0}")]
    Io(#[from] std::io::Error),
    /// The file is empty, or holds only blank lines.
    #[error(
        "the CSV file is empty: expected a header line naming the columns (at least a name column)"
    )]
    NoHeader,
    /// No column holds the customer's name.
    #[error(
        "the CSV file has no name column: none of the headers {headers:?} is a customer name \
         (name, nama, nama_pelanggan, customer_name, full_name); rename one or map it explicitly"
    )]
    MissingNameColumn {
        /// The file's headers.
        headers: Vec<String>,
    },
    /// Two or more columns map to the same customer field.
    #[error(
        "the CSV columns {headers:?} all map to the customer field {field}; \
         remove all but one, or map one of them explicitly"
    )]
    DuplicateColumn {
        /// The customer field (`email`, `address.city` ...).
        field: &'static str,
        /// The headers that map to it.
        headers: Vec<String>,
    },
    /// An explicit mapping names a header the file does not have.
    #[error(
        "the column mapping names the header {header:?}, which is not in the CSV file (its headers are {headers:?})"
    )]
    UnknownMappedHeader {
        /// The header named by the mapping.
        header: String,
        /// The file's headers.
        headers: Vec<String>,
    },
    /// An explicit mapping sends one header to two different fields.
    #[error("the column mapping sends the header {header:?} to both {first} and {second}")]
    ConflictingMapping {
        /// The header mapped twice.
        header: String,
        /// The first field it was mapped to.
        first: &'static str,
        /// The second field it was mapped to.
        second: &'static str,
    },
    /// The CSV structure itself cannot be read.
    #[error("the CSV file cannot be read at line {line}: {message}")]
    Malformed {
        /// The line where reading failed (0 when unknown).
        line: u64,
        /// What the CSV parser reported.
        message: String,
    },
}

impl CsvError {
    pub(crate) fn from_csv(e: csv::Error) -> Self {
        let line = e.position().map_or(0, csv::Position::line);
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(io) => CsvError::Io(io),
            _ => CsvError::Malformed { line, message },
        }
    }
}

/// A customer field a CSV column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerColumn {
    /// `name`.
    Name,
    /// `email`.
    Email,
    /// `phone`.
    Phone,
    /// `customer_type`.
    CustomerType,
    /// `credit_limit`.
    CreditLimit,
    /// `address.line1`.
    AddressLine1,
    /// `address.line2`.
    AddressLine2,
    /// `address.city`.
    City,
    /// `address.province`.
    Province,
    /// `address.postal_code`.
    PostalCode,
    /// `address.country`.
    Country,
    /// `birthday`.
    Birthday,
    /// `tags`.
    Tags,
}

impl CustomerColumn {
    /// Every column, in the order of the `crm-core` fields.
    pub const ALL: [CustomerColumn; 13] = [
        CustomerColumn::Name,
        CustomerColumn::Email,
        CustomerColumn::Phone,
        CustomerColumn::CustomerType,
        CustomerColumn::CreditLimit,
        CustomerColumn::AddressLine1,
        CustomerColumn::AddressLine2,
        CustomerColumn::City,
        CustomerColumn::Province,
        CustomerColumn::PostalCode,
        CustomerColumn::Country,
        CustomerColumn::Birthday,
        CustomerColumn::Tags,
    ];

    /// The `crm-core` field name (`name`, `address.city` ...), as used in
    /// [`FieldError::field`].
    pub fn field(self) -> &'static str {
        match self {
            CustomerColumn::Name => "name",
            CustomerColumn::Email => "email",
            CustomerColumn::Phone => "phone",
            CustomerColumn::CustomerType => "customer_type",
            CustomerColumn::CreditLimit => "credit_limit",
            CustomerColumn::AddressLine1 => "address.line1",
            CustomerColumn::AddressLine2 => "address.line2",
            CustomerColumn::City => "address.city",
            CustomerColumn::Province => "address.province",
            CustomerColumn::PostalCode => "address.postal_code",
            CustomerColumn::Country => "address.country",
            CustomerColumn::Birthday => "birthday",
            CustomerColumn::Tags => "tags",
        }
    }

    /// The column whose canonical field name is `s` (`name`, `address.city`
    /// ...; trimmed, any case). For headers with aliases, see
    /// [`CustomerColumn::from_header`].
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.field().eq_ignore_ascii_case(s))
    }

    /// The column a file header stands for: case-insensitive, with spaces,
    /// dashes and dots read as `_`, and common English and Indonesian
    /// aliases (`Nama Pelanggan`, `No. HP`, `Kode Pos`, `Tgl Lahir` ...),
    /// as well as the headers of our own export.
    pub fn from_header(header: &str) -> Option<Self> {
        alias(&normalise_header(header))
    }
}

/// Lower-cases and trims a header, reads spaces, dashes, dots and slashes as
/// `_`, and collapses runs of `_` (`"No. HP"` -> `no_hp`).
pub(crate) fn normalise_header(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for c in header.trim().chars().flat_map(char::to_lowercase) {
        let c = if matches!(c, ' ' | '-' | '.' | '/' | '\t') {
            '_'
        } else {
            c
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Header aliases, on normalised headers.
fn alias(h: &str) -> Option<CustomerColumn> {
    use CustomerColumn as C;
    Some(match h {
        "name" | "nama" | "nama_pelanggan" | "nama_lengkap" | "customer_name" | "full_name"
        | "fullname" => C::Name,
        "email" | "e_mail" | "email_address" | "surel" | "alamat_email" => C::Email,
        "phone" | "phone_number" | "telephone" | "telepon" | "telp" | "no_telp" | "no_telepon"
        | "nomor_telepon" | "no_hp" | "nomor_hp" | "hp" | "handphone" | "mobile" | "whatsapp"
        | "no_whatsapp" | "wa" | "no_wa" => C::Phone,
        "customer_type" | "tipe" | "type" | "jenis" | "jenis_pelanggan" | "tipe_pelanggan" => {
            C::CustomerType
        }
        "credit_limit" | "limit_kredit" | "plafon" | "plafon_kredit" | "limit" => C::CreditLimit,
        "address" | "alamat" | "address_line1" | "address_line_1" | "address1" | "line1"
        | "line_1" | "alamat1" | "alamat_1" => C::AddressLine1,
        "address_line2" | "address_line_2" | "address2" | "line2" | "line_2" | "alamat2"
        | "alamat_2" => C::AddressLine2,
        "city" | "address_city" | "kota" | "kabupaten" | "kota_kabupaten" => C::City,
        "province" | "address_province" | "provinsi" | "state" => C::Province,
        "postal_code"
        | "address_postal_code"
        | "kode_pos"
        | "kodepos"
        | "zip"
        | "zip_code"
        | "zipcode"
        | "postcode" => C::PostalCode,
        "country" | "address_country" | "negara" => C::Country,
        "birthday" | "tanggal_lahir" | "tgl_lahir" | "dob" | "date_of_birth" | "birth_date"
        | "birthdate" => C::Birthday,
        "tags" | "tag" | "label" | "labels" => C::Tags,
        _ => return None,
    })
}

/// Columns of our own export (and of the store) that an import never
/// reads: ignored without being listed, so an export reads back quietly.
fn export_only(h: &str) -> bool {
    matches!(
        h,
        "id" | "customer_id"
            | "customer_code"
            | "is_active"
            | "merged_into"
            | "merged_by"
            | "merged_at"
            | "version"
            | "created_at"
            | "updated_at"
    )
}

/// How to read a customer file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerCsvOptions {
    /// The field delimiter; `None` detects comma, semicolon or tab from the
    /// header line.
    pub delimiter: Option<u8>,
    /// Explicit `header -> column` pairs. They win over the aliases: a header
    /// named here goes to its column, and other headers whose alias points to
    /// the same column are ignored (and listed as ignored).
    pub mapping: Vec<(String, CustomerColumn)>,
}

/// One data row of the file, read into a [`NewCustomer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCustomer {
    /// The 1-based physical line where the record starts (the header is
    /// line 1; a quoted cell spanning lines does not shift later rows).
    pub line: u64,
    /// The customer as read. When [`errors`](Self::errors) is not empty, the
    /// failing fields hold their defaults.
    pub input: NewCustomer,
    /// Cells that could not be read as their field's type; field names are
    /// the `crm-core` names (`credit_limit`, `address.city`), and `line` for
    /// problems with the whole row (`encoding`, `columns`).
    pub errors: Vec<FieldError>,
    /// The raw cells as in the file, for the rejected-rows report.
    pub record: Vec<String>,
}

impl ParsedCustomer {
    /// `true` when every cell could be read.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A streaming reader of customer files.
///
/// ```
/// use crm_csv::customers::{CustomerCsvOptions, CustomerCsvReader};
///
/// let file = "Nama Pelanggan;No. HP;Kota\nBudi Santoso;081234567890;Bandung\n";
/// let mut reader = CustomerCsvReader::new(file.as_bytes(), &CustomerCsvOptions::default())?;
/// assert_eq!(reader.delimiter(), b';');
/// let rows = reader.next_batch(500)?;
/// assert_eq!(rows[0].input.name, "Budi Santoso");
/// assert_eq!(rows[0].input.address.city.as_deref(), Some("Bandung"));
/// # Ok::<(), crm_csv::customers::CsvError>(())
/// ```
#[derive(Debug)]
pub struct CustomerCsvReader<R> {
    table: Table<R>,
    headers: Vec<String>,
    mapping: Vec<(String, CustomerColumn)>,
    /// The column each header position fills, if any.
    columns: Vec<Option<CustomerColumn>>,
    ignored: Vec<String>,
    position: u64,
}

impl<R: Read> CustomerCsvReader<R> {
    /// Opens a file: strips a UTF-8 byte-order mark, detects the delimiter
    /// (unless given), reads the header and maps it to customer fields.
    ///
    /// Fails when the file has no header or no name column, when two columns
    /// map to the same field, or when the explicit mapping does not fit the
    /// header.
    pub fn new(reader: R, options: &CustomerCsvOptions) -> Result<Self, CsvError> {
        let (table, headers) = Table::open(reader, options.delimiter)?;
        let mut reader = CustomerCsvReader {
            position: table.position(),
            table,
            headers,
            mapping: Vec::new(),
            columns: Vec::new(),
            ignored: Vec::new(),
        };
        reader.map_headers(options)?;
        Ok(reader)
    }

    fn map_headers(&mut self, options: &CustomerCsvOptions) -> Result<(), CsvError> {
        let normalised: Vec<String> = self.headers.iter().map(|h| normalise_header(h)).collect();
        let mut columns: Vec<Option<CustomerColumn>> = vec![None; self.headers.len()];
        let mut explicit = vec![false; self.headers.len()];
        for (header, column) in &options.mapping {
            let key = normalise_header(header);
            let mut found = false;
            for (i, n) in normalised.iter().enumerate() {
                if *n != key {
                    continue;
                }
                found = true;
                if let Some(first) = columns[i].filter(|c| c != column) {
                    return Err(CsvError::ConflictingMapping {
                        header: header.clone(),
                        first: first.field(),
                        second: column.field(),
                    });
                }
                columns[i] = Some(*column);
                explicit[i] = true;
            }
            if !found {
                return Err(CsvError::UnknownMappedHeader {
                    header: header.clone(),
                    headers: self.headers.clone(),
                });
            }
        }
        let claimed: Vec<CustomerColumn> = options.mapping.iter().map(|(_, c)| *c).collect();
        let mut ignored = Vec::new();
        for (i, n) in normalised.iter().enumerate() {
            if explicit[i] {
                continue;
            }
            match alias(n) {
                Some(c) if !claimed.contains(&c) => columns[i] = Some(c),
                None if export_only(n) => {}
                _ => ignored.push(match self.headers[i].as_str() {
                    "" => format!("(column {})", i + 1),
                    h => h.to_owned(),
                }),
            }
        }
        for column in CustomerColumn::ALL {
            let headers: Vec<String> = columns
                .iter()
                .zip(&self.headers)
                .filter(|(c, _)| **c == Some(column))
                .map(|(_, h)| h.clone())
                .collect();
            if headers.len() > 1 {
                return Err(CsvError::DuplicateColumn {
                    field: column.field(),
                    headers,
                });
            }
        }
        if !columns.contains(&Some(CustomerColumn::Name)) {
            return Err(CsvError::MissingNameColumn {
                headers: self.headers.clone(),
            });
        }
        self.mapping = columns
            .iter()
            .zip(&self.headers)
            .filter_map(|(c, h)| c.map(|c| (h.clone(), c)))
            .collect();
        self.columns = columns;
        self.ignored = ignored;
        Ok(())
    }

    /// The file's headers, trimmed, in file order.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Which header fills which column, in file order.
    pub fn mapping(&self) -> &[(String, CustomerColumn)] {
        &self.mapping
    }

    /// Headers that fill no column, to show the user (a blank header is
    /// shown as `(column N)`). Columns of our own export that an import never
    /// reads (`id`, `customer_code`, `created_at` ...) are not listed.
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored
    }

    /// The field delimiter in use (given or detected).
    pub fn delimiter(&self) -> u8 {
        self.table.delimiter()
    }

    /// Bytes of the input read so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.table.bytes_read()
    }

    /// The line where the last record read starts (1, the header, before any
    /// row is read). Pass it to [`skip_through`](Self::skip_through) to resume
    /// after it.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads up to `max` rows (at least one); an empty vector means the end
    /// of the file. Blank lines and rows of only blank cells are skipped.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<ParsedCustomer>, CsvError> {
        let max = max.max(1);
        let mut out = Vec::with_capacity(max.min(1024));
        while out.len() < max {
            let Some((line, record)) = self.table.read_record()? else {
                break;
            };
            self.position = line;
            out.push(self.parse_record(line, &record));
        }
        Ok(out)
    }

    /// Reads and discards the records that start at or before `line`, to
    /// resume an import from a [`position`](Self::position); returns how many
    /// rows were skipped.
    pub fn skip_through(&mut self, line: u64) -> Result<u64, CsvError> {
        let mut skipped = 0;
        while let Some((start, record)) = self.table.read_record()? {
            if start > line {
                self.table.unread(start, record);
                break;
            }
            self.position = start;
            skipped += 1;
        }
        Ok(skipped)
    }

    fn parse_record(&self, line: u64, record: &csv::ByteRecord) -> ParsedCustomer {
        let mut errors = Vec::new();
        let mut bad_encoding = Vec::new();
        let cells: Vec<String> = cells(record)
            .enumerate()
            .map(|(i, c)| match std::str::from_utf8(c) {
                Ok(s) => s.to_owned(),
                Err(_) => {
                    bad_encoding.push(self.header_label(i));
                    String::from_utf8_lossy(c).into_owned()
                }
            })
            .collect();
        if !bad_encoding.is_empty() {
            errors.push(FieldError::new(
                "line",
                "encoding",
                format!(
                    "the cells under {} are not valid UTF-8; save the file as CSV UTF-8",
                    bad_encoding.join(", ")
                ),
            ));
        }
        let width = self.headers.len();
        // Spreadsheets often leave empty cells after the last column; they
        // are harmless. Any other difference means the cells may be shifted.
        let fits = cells.len() == width
            || (cells.len() > width && cells[width..].iter().all(|c| c.trim().is_empty()));
        let mut field_errors = Vec::new();
        let input = self.parse_cells(&cells, &mut field_errors);
        if fits {
            errors.extend(field_errors);
        } else {
            // The cells of a row of the wrong width may be under the wrong
            // headers: their own errors would only mislead.
            errors.push(FieldError::new(
                "line",
                "columns",
                format!(
                    "the row has {} cells but the header has {width} columns; \
                     quote cells that contain the delimiter",
                    cells.len()
                ),
            ));
        }
        ParsedCustomer {
            line,
            input,
            errors,
            record: cells,
        }
    }

    fn header_label(&self, i: usize) -> String {
        match self.headers.get(i).map(String::as_str) {
            Some("") | None => format!("column {}", i + 1),
            Some(h) => format!("{h:?}"),
        }
    }

    fn parse_cells(&self, cells: &[String], errors: &mut Vec<FieldError>) -> NewCustomer {
        use CustomerColumn as C;
        let mut input = NewCustomer::default();
        for (i, column) in self.columns.iter().enumerate() {
            let Some(column) = *column else { continue };
            let value = clean(cells.get(i).map_or("", String::as_str));
            let text = || (!value.is_empty()).then(|| value.to_owned());
            match column {
                C::Name => input.name = value.to_owned(),
                C::Email => input.email = text(),
                C::Phone => input.phone = text(),
                C::AddressLine1 => input.address.line1 = text(),
                C::AddressLine2 => input.address.line2 = text(),
                C::City => input.address.city = text(),
                C::Province => input.address.province = text(),
                C::PostalCode => input.address.postal_code = text(),
                C::Country => input.address.country = text(),
                C::Tags => input.tags = split_tags(value, self.delimiter()),
                _ if value.is_empty() => {}
                C::CustomerType => match parse_customer_type(value) {
                    Some(t) => input.customer_type = t,
                    None => errors.push(FieldError::new(
                        column.field(),
                        "one_of",
                        format!(
                            "unknown customer type {value:?}; expected RETAIL, WHOLESALE, \
                             DISTRIBUTOR or CORPORATE (or eceran, grosir, distributor, \
                             korporat, perusahaan)"
                        ),
                    )),
                },
                C::CreditLimit => match parse_credit_limit(value) {
                    Some(d) => input.credit_limit = d,
                    None => errors.push(FieldError::new(
                        column.field(),
                        "decimal",
                        format!(
                            "credit limit {value:?} is not a plain number: write digits with an \
                             optional '.' and up to 2 decimals, e.g. 1500000 or 1500000.50 \
                             (an Rp or IDR prefix and spaces are allowed; thousands separators \
                             such as 1.500.000 or 1,500,000 are not, they are ambiguous)"
                        ),
                    )),
                },
                C::Birthday => match parse_birthday(value) {
                    Some(d) => input.birthday = Some(d),
                    None => errors.push(FieldError::new(
                        column.field(),
                        "date",
                        format!(
                            "birthday {value:?} is not a date: write YYYY-MM-DD, DD/MM/YYYY or \
                             DD-MM-YYYY (day first), e.g. 1990-05-31 or 31/05/1990"
                        ),
                    )),
                },
            }
        }
        input
    }
}

/// Trims a cell and undoes the CSV-injection guard of our export
/// ([`crate::write::neutralise`]): `'=...`, `'+...`, `'-...`, `'@...` lose the
/// quote.
fn clean(cell: &str) -> &str {
    let cell = cell.trim();
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.trim(),
        _ => cell,
    }
}

fn parse_customer_type(value: &str) -> Option<CustomerType> {
    Some(match value.to_lowercase().as_str() {
        "retail" | "eceran" => CustomerType::Retail,
        "wholesale" | "grosir" => CustomerType::Wholesale,
        "distributor" => CustomerType::Distributor,
        "corporate" | "korporat" | "korporasi" | "perusahaan" => CustomerType::Corporate,
        _ => return None,
    })
}

/// An exact decimal: digits, at most one `.`, an optional `Rp`/`Rp.`/`IDR`
/// prefix and spaces. A `,` anywhere, several dots, or exactly three digits
/// after the dot are refused: in Indonesia `1.500` means one thousand five
/// hundred, elsewhere one and a half.
pub(crate) fn parse_credit_limit(value: &str) -> Option<Decimal> {
    let mut s = value.trim();
    for prefix in ["rp.", "rp", "idr"] {
        if let Some(head) = s.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            s = &s[prefix.len()..];
            break;
        }
    }
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = compact.strip_prefix('-').unwrap_or(&compact);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let plain = all_digits(whole) && fraction.is_none_or(|f| all_digits(f) && f.len() != 3);
    if !plain {
        return None;
    }
    Decimal::from_str_exact(&compact).ok()
}

/// `YYYY-MM-DD`, `DD/MM/YYYY` or `DD-MM-YYYY`, with a four-digit year.
fn parse_birthday(value: &str) -> Option<NaiveDate> {
    let separator = if value.contains('/') { '/' } else { '-' };
    let mut parts = value.split(separator);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || ![a, b, c]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let (year, month, day) = match (a.len(), c.len()) {
        (4, 1..=2) if separator == '-' => (a, b, c),
        (1..=2, 4) => (c, b, a),
        _ => return None,
    };
    if !(1..=2).contains(&month.len()) {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

/// Tags separated by `|`, or by `;` when `;` is not the file's delimiter.
fn split_tags(value: &str, delimiter: u8) -> Vec<String> {
    value
        .split(|c| c == '|' || (c == ';' && delimiter != b';'))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &str) -> (CustomerCsvReader<&[u8]>, Vec<ParsedCustomer>) {
        let mut r = CustomerCsvReader::new(data.as_bytes(), &CustomerCsvOptions::default())
            .expect("header");
        let rows = r.next_batch(1000).expect("rows");
        (r, rows)
    }

    #[test]
    fn canonical_names_round_trip() {
        for c in CustomerColumn::ALL {
            assert_eq!(CustomerColumn::parse(c.field()), Some(c));
            assert_eq!(CustomerColumn::from_header(c.field()), Some(c), "{c:?}");
        }
        assert_eq!(CustomerColumn::parse("nama"), None);
        assert_eq!(
            CustomerColumn::parse(" Address.City "),
            Some(CustomerColumn::City)
        );
    }

    #[test]
    fn headers_are_normalised() {
        assert_eq!(normalise_header("  No. HP "), "no_hp");
        assert_eq!(normalise_header("E-Mail"), "e_mail");
        assert_eq!(normalise_header("Tgl. Lahir"), "tgl_lahir");
        assert_eq!(
            CustomerColumn::from_header("Nama Pelanggan"),
            Some(CustomerColumn::Name)
        );
        assert_eq!(
            CustomerColumn::from_header("KODE-POS"),
            Some(CustomerColumn::PostalCode)
        );
        assert_eq!(CustomerColumn::from_header("catatan"), None);
    }

    #[test]
    fn delimiter_detection_ignores_quoted_delimiters_and_prefers_comma() {
        assert_eq!(crate::table::detect_delimiter(b"a;b;c"), b';');
        assert_eq!(crate::table::detect_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(crate::table::detect_delimiter(b"\"a,b,c\";d"), b';');
        assert_eq!(crate::table::detect_delimiter(b"a,b;c"), b',');
        assert_eq!(crate::table::detect_delimiter(b"name"), b',');
    }

    #[test]
    fn credit_limits_are_exact_and_unambiguous() {
        let ok = |s: &str| parse_credit_limit(s).map(|d| d.to_string());
        assert_eq!(ok("1500000").as_deref(), Some("1500000"));
        assert_eq!(ok("1500000.50").as_deref(), Some("1500000.50"));
        assert_eq!(ok("Rp 1 500 000").as_deref(), Some("1500000"));
        assert_eq!(ok("Rp. 250000").as_deref(), Some("250000"));
        assert_eq!(ok("IDR1500000.5").as_deref(), Some("1500000.5"));
        assert_eq!(ok("0.1").as_deref(), Some("0.1"));
        for bad in [
            "1.500.000",
            "1,500,000",
            "1500000,50",
            "1.500",
            "1e6",
            "Rp",
            ".5",
            "5.",
            "satu juta",
            "99999999999999999999999999999999",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn birthdays_are_read_day_first() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_birthday("1990-05-31"), d(1990, 5, 31));
        assert_eq!(parse_birthday("31/05/1990"), d(1990, 5, 31));
        assert_eq!(parse_birthday("01-02-1990"), d(1990, 2, 1));
        assert_eq!(parse_birthday("1/2/1990"), d(1990, 2, 1));
        for bad in [
            "05/31/1990",
            "31/02/1990",
            "1990/05/31",
            "31/05/90",
            "1990-05-31 00:00",
            "31.05.1990",
            "kemarin",
        ] {
            assert_eq!(parse_birthday(bad), None, "{bad}");
        }
    }

    #[test]
    fn tags_split_on_pipe_and_on_semicolon_unless_it_is_the_delimiter() {
        assert_eq!(split_tags(" VIP | jakarta;; ", b','), ["VIP", "jakarta"]);
        assert_eq!(split_tags("a;b|c", b';'), ["a;b", "c"]);
        assert!(split_tags(" | ", b',').is_empty());
    }

    #[test]
    fn injection_guard_is_undone() {
        assert_eq!(clean(" '+628123 "), "+628123");
        assert_eq!(clean("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(clean("'@x"), "@x");
        assert_eq!(clean("'-5"), "-5");
        assert_eq!(clean("O'Brien"), "O'Brien");
        assert_eq!(clean("'hello"), "'hello");
    }

    #[test]
    fn line_numbers_survive_blank_lines_crlf_and_multiline_cells() {
        for eol in ["\n", "\r\n"] {
            let data = [
                "name,city",
                "A,X",
                "",
                "  ",
                ",",
                "B,\"two",
                "lines\"",
                "C,Z",
            ]
            .join(eol);
            let (r, rows) = read(&data);
            let lines: Vec<_> = rows.iter().map(|p| p.line).collect();
            assert_eq!(lines, [2, 6, 8], "{eol:?}");
            assert_eq!(
                rows[1].input.address.city.as_deref(),
                Some(&*format!("two{eol}lines"))
            );
            assert_eq!(rows[2].record, ["C", "Z"]);
            assert_eq!(r.position(), 8);
        }
    }

    #[test]
    fn trailing_blank_cells_are_tolerated() {
        let (_, rows) = read("name,email\nBudi,b@x.id,,\n");
        assert!(rows[0].is_ok(), "{:?}", rows[0].errors);
    }
}
