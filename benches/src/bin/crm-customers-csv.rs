//! Writes a realistic customer file, as an old POS or a spreadsheet would
//! export it, for the import benchmark (`benches/import/run.sh`):
//! Indonesian headers, semicolons, national phone numbers, day-first
//! birthdays, a UTF-8 byte-order mark and CRLF line ends. About 1 row in
//! 100 repeats an earlier customer's email (a duplicate within the file)
//! and 1 in 200 has an email that is not one (rejected).
//!
//! Run: `cargo run --release -p crm-benches --bin crm-customers-csv -- 1000000 customers-1m.csv [SEED]`

use std::io::{BufWriter, Write};

use chrono::Utc;
use crm_benches::dataset::Dataset;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: crm-customers-csv ROWS OUT.csv [SEED]";
    let rows: u64 = args.next().ok_or(usage)?.parse()?;
    let path = args.next().ok_or(usage)?;
    let seed: u64 = match args.next() {
        Some(s) => s.parse()?,
        None => 42,
    };
    let data = Dataset::new(seed, rows, 0, Utc::now());
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    out.write_all(
        "\u{feff}Nama;Email;No HP;Tipe;Limit Kredit;Alamat;Kota;Provinsi;Kode Pos;Tanggal Lahir;Tag\r\n"
            .as_bytes(),
    )?;
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    for i in 0..rows {
        let c = data.customer(i);
        let mut email = c.email.unwrap_or_default();
        if i % 200 == 199 {
            email = email.replace('@', " at ");
        } else if i % 100 == 50 && i > 100 {
            // A second row for a customer already in the file.
            email = data.customer(i - 37).email.unwrap_or_default();
        }
        let a = &c.address;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        w.write_record([
            c.name,
            email,
            text(&c.phone),
            c.customer_type.as_str().to_lowercase(),
            c.credit_limit.to_string(),
            text(&a.line1),
            text(&a.city),
            text(&a.province),
            text(&a.postal_code),
            c.birthday
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
            c.tags.join("|"),
        ])?;
    }
    w.flush()?;
    eprintln!("wrote {rows} customers to {path}");
    Ok(())
}
