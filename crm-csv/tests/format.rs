//! The customer CSV format: reading what users hold, writing what we export,
//! and reading our own export back.

use chrono::{DateTime, NaiveDate, Utc};
use crm_core::{Address, Customer, CustomerCode, CustomerId, CustomerType, NewCustomer};
use crm_csv::customers::{
    CsvError, CustomerColumn, CustomerCsvOptions, CustomerCsvReader, ParsedCustomer,
};
use crm_csv::write::{CUSTOMER_EXPORT_HEADERS, CustomerCsvWriter, RejectedRowsWriter};

fn open(data: &[u8]) -> CustomerCsvReader<&[u8]> {
    CustomerCsvReader::new(data, &CustomerCsvOptions::default()).expect("a readable header")
}

fn read_all(data: &[u8]) -> Vec<ParsedCustomer> {
    open(data).next_batch(10_000).expect("rows")
}

fn open_err(data: &str, options: &CustomerCsvOptions) -> CsvError {
    CustomerCsvReader::new(data.as_bytes(), options).expect_err("a file-level error")
}

/// `(field, rule)` of each error of a row.
fn rules(row: &ParsedCustomer) -> Vec<(&str, &str)> {
    row.errors
        .iter()
        .map(|e| (e.field.as_str(), e.rule.as_str()))
        .collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a date")
}

#[test]
fn indonesian_file_with_bom_semicolons_and_crlf() {
    let data = include_bytes!("data/pelanggan.csv");
    let mut reader = open(data);
    assert_eq!(reader.delimiter(), b';');
    assert_eq!(reader.headers()[0], "Nama Pelanggan", "BOM stripped");
    let mapped: Vec<_> = reader
        .mapping()
        .iter()
        .map(|(h, c)| (h.as_str(), c.field()))
        .collect();
    assert_eq!(
        mapped,
        [
            ("Nama Pelanggan", "name"),
            ("No. HP", "phone"),
            ("E-mail", "email"),
            ("Jenis", "customer_type"),
            ("Plafon", "credit_limit"),
            ("Alamat", "address.line1"),
            ("Kota", "address.city"),
            ("Provinsi", "address.province"),
            ("Kode Pos", "address.postal_code"),
            ("Tgl. Lahir", "birthday"),
            ("Label", "tags"),
        ]
    );
    assert_eq!(reader.ignored_columns(), ["Catatan"]);

    let rows = reader.next_batch(100).expect("rows");
    assert_eq!(reader.next_batch(100).expect("end"), []);
    let lines: Vec<_> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 6], "the quoted address spans lines 3-4");

    let budi = &rows[0];
    assert!(budi.is_ok(), "{:?}", budi.errors);
    assert_eq!(
        budi.input,
        NewCustomer {
            name: "Budi Santoso".into(),
            email: Some("budi@contoh.co.id".into()),
            phone: Some("081234567890".into()),
            customer_type: CustomerType::Wholesale,
            credit_limit: "1500000".parse().expect("decimal"),
            address: Address {
                line1: Some("Jl. Merdeka No. 1".into()),
                line2: None,
                city: Some("Bandung".into()),
                province: Some("Jawa Barat".into()),
                postal_code: Some("40111".into()),
                country: None,
            },
            birthday: Some(date(1990, 5, 31)),
            tags: vec!["vip".into(), "pelanggan lama".into()],
        }
    );
    assert_eq!(budi.record.len(), 12);
    assert_eq!(budi.record[11], "bayar tunai");

    let toko = &rows[1];
    assert!(toko.is_ok(), "{:?}", toko.errors);
    assert_eq!(toko.input.name, "Toko Sumber Rejeki; Cabang 2");
    assert_eq!(toko.input.phone.as_deref(), Some("+6281298765432"));
    assert_eq!(toko.input.email, None, "blank cell");
    assert_eq!(toko.input.customer_type, CustomerType::Corporate);
    assert_eq!(toko.input.credit_limit.to_string(), "250000.50");
    assert_eq!(
        toko.input.address.line1.as_deref(),
        Some("Jl. Asia Afrika 8\r\nLantai 2")
    );
    assert_eq!(toko.input.birthday, Some(date(1985, 12, 1)));
    assert_eq!(toko.input.tags, ["korporat"]);

    // A bad credit limit and an impossible date are reported with their
    // fields; everything else in the row is still read.
    let siti = &rows[2];
    assert_eq!(
        rules(siti),
        [("credit_limit", "decimal"), ("birthday", "date")]
    );
    assert!(siti.errors[0].message.contains("1500000.50"));
    assert!(siti.errors[0].message.contains("1.500.000"));
    assert_eq!(siti.input.name, "Siti Aminah");
    assert_eq!(siti.input.phone.as_deref(), Some("0856 1111 2222"));
    assert_eq!(siti.input.customer_type, CustomerType::Retail);
    assert_eq!(siti.input.address.city.as_deref(), Some("Surabaya"));
    assert_eq!(siti.input.birthday, None);
}

#[test]
fn english_aliases_and_export_headers() {
    let data = "Full Name,E-Mail,Mobile,Type,Limit,Address Line 2,State,ZIP,Country,DOB,Tags\n\
                Ann Lee,ann@x.com,0812,WHOLESALE,100,Unit 5,Bali,80361,ID,2000-01-02,a;b\n";
    let rows = read_all(data.as_bytes());
    assert!(rows[0].is_ok(), "{:?}", rows[0].errors);
    let c = &rows[0].input;
    assert_eq!(c.name, "Ann Lee");
    assert_eq!(c.phone.as_deref(), Some("0812"));
    assert_eq!(c.customer_type, CustomerType::Wholesale);
    assert_eq!(c.address.line2.as_deref(), Some("Unit 5"));
    assert_eq!(c.address.province.as_deref(), Some("Bali"));
    assert_eq!(c.address.postal_code.as_deref(), Some("80361"));
    assert_eq!(c.address.country.as_deref(), Some("ID"));
    assert_eq!(c.birthday, Some(date(2000, 1, 2)));
    assert_eq!(c.tags, ["a", "b"], "`;` separates tags in a comma file");

    // Every header of our export is either read or silently ignored.
    let header = format!("{}\n", CUSTOMER_EXPORT_HEADERS.join(","));
    let reader = open(header.as_bytes());
    assert_eq!(reader.ignored_columns(), [] as [String; 0]);
    assert_eq!(reader.mapping().len(), CustomerColumn::ALL.len());
}

#[test]
fn tab_delimited_and_given_delimiter() {
    let data = "nama\ttelp\tkota\nBudi\t0812\tBandung, Jawa Barat\n";
    let mut reader = open(data.as_bytes());
    assert_eq!(reader.delimiter(), b'\t');
    let rows = reader.next_batch(10).expect("rows");
    assert_eq!(
        rows[0].input.address.city.as_deref(),
        Some("Bandung, Jawa Barat")
    );

    // A one-column header gives nothing to detect; the caller says `;`.
    let options = CustomerCsvOptions {
        delimiter: Some(b';'),
        ..Default::default()
    };
    let mut reader = CustomerCsvReader::new("nama\nBudi;x\n".as_bytes(), &options).expect("header");
    assert_eq!(reader.delimiter(), b';');
    let rows = reader.next_batch(10).expect("rows");
    assert_eq!(rules(&rows[0]), [("line", "columns")]);
}

#[test]
fn quoted_cells_with_delimiters_and_newlines_keep_line_numbers() {
    let data = "name,address,city\n\
                \"Santoso, Budi\",\"Jl. Merdeka 1,\nRT 02/RW 03\",Bandung\n\
                \n\
                \"He said \"\"hi\"\"\",\"a\n\nb\",X\n\
                Last,,Y";
    let rows = read_all(data.as_bytes());
    let lines: Vec<_> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 5, 8]);
    assert_eq!(rows[0].input.name, "Santoso, Budi");
    assert_eq!(
        rows[0].input.address.line1.as_deref(),
        Some("Jl. Merdeka 1,\nRT 02/RW 03")
    );
    assert_eq!(rows[1].input.name, "He said \"hi\"");
    assert_eq!(rows[2].input.address.city.as_deref(), Some("Y"));
    assert!(rows.iter().all(ParsedCustomer::is_ok));
}

#[test]
fn a_row_of_the_wrong_width_is_that_rows_error() {
    let data = "name,email,city\nA,a@x.id,X\nB,b@x.id\nC,c@x.id,Z,extra\nD,d@x.id,W\n";
    let rows = read_all(data.as_bytes());
    assert_eq!(rows.len(), 4);
    assert!(rows[0].is_ok());
    assert_eq!(rules(&rows[1]), [("line", "columns")]);
    assert!(rows[1].errors[0].message.contains("2 cells"));
    assert_eq!(rules(&rows[2]), [("line", "columns")]);
    assert_eq!(rows[2].record, ["C", "c@x.id", "Z", "extra"]);
    assert!(rows[3].is_ok());
    assert_eq!(rows[3].line, 5);
}

#[test]
fn bad_cells_are_reported_by_field_and_rule() {
    let data = "nama,email,tipe,limit_kredit,tgl_lahir,kota\n\
                Budi,budi@x.id,VIP,\"1,500,000\",1990/05/31,Bandung\n\
                Ani,,,,,\n";
    let rows = read_all(data.as_bytes());
    assert_eq!(
        rules(&rows[0]),
        [
            ("customer_type", "one_of"),
            ("credit_limit", "decimal"),
            ("birthday", "date"),
        ]
    );
    assert!(rows[0].errors[0].message.contains("\"VIP\""));
    assert!(rows[0].errors[2].message.contains("DD/MM/YYYY"));
    let budi = &rows[0].input;
    assert_eq!(budi.name, "Budi");
    assert_eq!(budi.email.as_deref(), Some("budi@x.id"));
    assert_eq!(budi.address.city.as_deref(), Some("Bandung"));
    assert_eq!(budi.customer_type, CustomerType::Retail);
    assert!(budi.credit_limit.is_zero());

    // Blank cells are defaults, not errors: the domain rules are crm-core's.
    assert!(rows[1].is_ok());
    assert_eq!(
        rows[1].input,
        NewCustomer {
            name: "Ani".into(),
            ..Default::default()
        }
    );
}

#[test]
fn invalid_utf8_is_that_rows_error() {
    let mut data = b"name,city\nBudi,Bandung\n".to_vec();
    data.extend_from_slice(b"Jos\xe9,M\xe1laga\n");
    data.extend_from_slice(b"Ani,Medan\n");
    let rows = read_all(&data);
    assert!(rows[0].is_ok());
    assert_eq!(rules(&rows[1]), [("line", "encoding")]);
    assert!(rows[1].errors[0].message.contains("\"name\", \"city\""));
    assert_eq!(rows[1].line, 3);
    assert!(rows[2].is_ok());
    assert_eq!(rows[2].input.name, "Ani");
}

#[test]
fn explicit_mapping_overrides_aliases() {
    let data = "Pelanggan,Nama,Kontak,Label\nPT Maju,Budi,0812,vip\n";
    let options = CustomerCsvOptions {
        delimiter: None,
        mapping: vec![
            ("pelanggan".into(), CustomerColumn::Name),
            ("Kontak".into(), CustomerColumn::Phone),
            ("LABEL".into(), CustomerColumn::CustomerType),
        ],
    };
    let mut reader = CustomerCsvReader::new(data.as_bytes(), &options).expect("header");
    // `Nama` would be the name by alias, but the mapping gave the name to
    // `Pelanggan`: it is ignored, and listed.
    assert_eq!(reader.ignored_columns(), ["Nama"]);
    let rows = reader.next_batch(10).expect("rows");
    assert_eq!(rows[0].input.name, "PT Maju");
    assert_eq!(rows[0].input.phone.as_deref(), Some("0812"));
    assert!(rows[0].input.tags.is_empty());
    assert_eq!(rules(&rows[0]), [("customer_type", "one_of")]);
}

#[test]
fn mapping_errors_name_the_headers() {
    let options = |mapping: Vec<(&str, CustomerColumn)>| CustomerCsvOptions {
        delimiter: None,
        mapping: mapping.into_iter().map(|(h, c)| (h.into(), c)).collect(),
    };
    let err = open_err(
        "nama,email\n",
        &options(vec![("Nama Lengkap", CustomerColumn::Name)]),
    );
    assert!(
        matches!(&err, CsvError::UnknownMappedHeader { header, .. } if header == "Nama Lengkap"),
        "{err}"
    );
    let err = open_err(
        "nama,kontak\n",
        &options(vec![
            ("kontak", CustomerColumn::Phone),
            ("kontak", CustomerColumn::Email),
        ]),
    );
    assert!(
        matches!(
            err,
            CsvError::ConflictingMapping {
                first: "phone",
                second: "email",
                ..
            }
        ),
        "{err}"
    );
    let err = open_err("name,Nama,email\n", &CustomerCsvOptions::default());
    assert!(
        matches!(&err, CsvError::DuplicateColumn { field: "name", headers } if headers == &["name", "Nama"]),
        "{err}"
    );
    assert!(err.to_string().contains("\"Nama\""), "{err}");
    let err = open_err("nama,hp,wa\n", &CustomerCsvOptions::default());
    assert!(
        matches!(err, CsvError::DuplicateColumn { field: "phone", .. }),
        "{err}"
    );
}

#[test]
fn a_file_without_a_name_column_is_refused() {
    let err = open_err(
        "email;telp;catatan\nx@y.id;0812;-\n",
        &CustomerCsvOptions::default(),
    );
    assert!(
        matches!(&err, CsvError::MissingNameColumn { headers } if headers.len() == 3),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("no name column"), "{message}");
    assert!(message.contains("\"catatan\""), "{message}");

    for empty in ["", "\u{feff}", "\n\r\n  \n"] {
        let err = open_err(empty, &CustomerCsvOptions::default());
        assert!(matches!(err, CsvError::NoHeader), "{empty:?}: {err}");
    }
}

#[test]
fn blank_lines_before_the_header_are_skipped() {
    let mut reader = open(b"\n\nname\nBudi\n");
    assert_eq!(reader.headers(), ["name"]);
    assert_eq!(reader.position(), 3);
    let rows = reader.next_batch(10).expect("rows");
    assert_eq!(rows[0].line, 4);
}

#[test]
fn position_and_skip_through_resume_an_import() {
    let data = "name\nA\n\"B\nB\"\nC\n\nD\nE\n";
    let mut first = open(data.as_bytes());
    assert_eq!(first.position(), 1);
    let batch = first.next_batch(2).expect("rows");
    assert_eq!(batch.len(), 2);
    let checkpoint = first.position();
    assert_eq!(checkpoint, 3, "B starts on line 3");

    let mut resumed = open(data.as_bytes());
    assert_eq!(resumed.skip_through(checkpoint).expect("skip"), 2);
    assert_eq!(resumed.position(), checkpoint);
    let rest = resumed.next_batch(2).expect("rows");
    let names: Vec<_> = rest.iter().map(|r| r.input.name.as_str()).collect();
    assert_eq!(names, ["C", "D"]);
    assert_eq!(resumed.position(), 7);
    let rest = resumed.next_batch(0).expect("rows");
    assert_eq!(rest.len(), 1, "a batch of 0 reads one row");
    assert_eq!(rest[0].input.name, "E");
    assert_eq!(resumed.next_batch(2).expect("end"), []);
    assert_eq!(resumed.skip_through(100).expect("skip at the end"), 0);
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("a time")
}

fn customer(seq: u64, customer_type: CustomerType) -> Customer {
    Customer {
        id: CustomerId(seq as i64),
        customer_code: CustomerCode::new(customer_type, seq).expect("code"),
        name: String::new(),
        email: None,
        phone: None,
        customer_type,
        credit_limit: Default::default(),
        address: Address::default(),
        birthday: None,
        tags: Vec::new(),
        is_active: true,
        merged_into: None,
        merged_by: None,
        merged_at: None,
        version: 1,
        created_at: at("2026-01-02T03:04:05Z"),
        updated_at: at("2026-03-04T05:06:07.250Z"),
    }
}

/// What the export of a customer should read back as.
fn as_input(c: &Customer) -> NewCustomer {
    NewCustomer {
        name: c.name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        customer_type: c.customer_type,
        credit_limit: c.credit_limit,
        address: c.address.clone(),
        birthday: c.birthday,
        tags: c.tags.clone(),
    }
}

#[test]
fn an_export_reads_back_as_the_same_customers() {
    let customers = vec![
        Customer {
            name: "Budi Santoso".into(),
            email: Some("budi@contoh.co.id".into()),
            phone: Some("+628123456789".into()),
            credit_limit: "1500000.50".parse().expect("decimal"),
            address: Address {
                line1: Some("Jl. Merdeka 1, RT 02\nBlok C".into()),
                line2: Some("-".into()),
                city: Some("Bandung".into()),
                province: Some("Jawa Barat".into()),
                postal_code: Some("40111".into()),
                country: Some("ID".into()),
            },
            birthday: Some(date(1990, 5, 31)),
            tags: vec!["jakarta-north".into(), "vip".into()],
            ..customer(1, CustomerType::Retail)
        },
        Customer {
            name: "=HYPERLINK(\"http://evil\",\"klik\")".into(),
            email: Some("@attacker".into()),
            phone: Some("+6281298765432".into()),
            credit_limit: "0.00".parse().expect("decimal"),
            tags: vec!["-1+1".into()],
            is_active: false,
            merged_into: Some(CustomerId(1)),
            ..customer(2, CustomerType::Corporate)
        },
        Customer {
            name: "Toko \"Maju\"; Jaya".into(),
            ..customer(3, CustomerType::Distributor)
        },
    ];
    let mut writer = CustomerCsvWriter::new(Vec::new()).expect("header");
    for c in &customers {
        writer.write(c).expect("row");
    }
    let bytes = writer.into_inner().expect("flush");
    let text = String::from_utf8(bytes.clone()).expect("utf8");

    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(CUSTOMER_EXPORT_HEADERS.join(",").as_str())
    );
    assert_eq!(
        lines.next(),
        Some(
            "1,RT00000001,Budi Santoso,budi@contoh.co.id,'+628123456789,RETAIL,1500000.50,\
             \"Jl. Merdeka 1, RT 02"
        )
    );
    assert!(
        text.contains(
            "2,CP00000002,\"'=HYPERLINK(\"\"http://evil\"\",\"\"klik\"\")\",'@attacker,\
             '+6281298765432,CORPORATE,0.00,,,,,,,,'-1+1,false,1,\
             2026-01-02T03:04:05Z,2026-03-04T05:06:07.250Z\n"
        ),
        "{text}"
    );

    let mut reader = open(&bytes);
    assert_eq!(reader.ignored_columns(), [] as [String; 0]);
    let rows = reader.next_batch(10).expect("rows");
    assert_eq!(rows.len(), customers.len());
    for (row, c) in rows.iter().zip(&customers) {
        assert!(row.is_ok(), "{:?}", row.errors);
        assert_eq!(row.input, as_input(c));
    }
    assert_eq!(
        rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 4, 5],
        "the two-line address of row 1"
    );
}

#[test]
fn rejected_rows_report_keeps_the_original_row() {
    let data = "nama,hp,limit\nBudi,'+62812,1.500.000\n";
    let mut reader = open(data.as_bytes());
    let rows = reader.next_batch(10).expect("rows");
    let mut report = RejectedRowsWriter::new(Vec::new(), reader.headers()).expect("header");
    for row in &rows {
        for e in &row.errors {
            report
                .write(
                    row.line,
                    "invalid",
                    &e.field,
                    &e.rule,
                    &e.message,
                    None,
                    &row.record,
                )
                .expect("row");
        }
    }
    let text = String::from_utf8(report.into_inner().expect("flush")).expect("utf8");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("line,status,field,rule,message,existing_code,nama,hp,limit")
    );
    let row = lines.next().expect("one rejected row");
    assert!(row.starts_with("2,invalid,credit_limit,decimal,"), "{row}");
    assert!(row.ends_with(",,Budi,'+62812,1.500.000"), "{row}");

    // The report reads back as a customer file: its own columns are ignored
    // and the guarded phone loses its quote.
    let mut again = open(text.as_bytes());
    assert_eq!(
        again.ignored_columns(),
        [
            "line",
            "status",
            "field",
            "rule",
            "message",
            "existing_code"
        ]
    );
    let rows = again.next_batch(10).expect("rows");
    assert_eq!(rows[0].input.phone.as_deref(), Some("+62812"));
}
