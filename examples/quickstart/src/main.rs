//! Creates and lists customers in an embedded SQLite file: the CRM SDK with
//! no database server.
//!
//! Run: `cargo run -p crm-quickstart` (optionally with `DATABASE_URL=sqlite://other.db`
//! or `DATABASE_URL=mysql://user:pass@127.0.0.1:3306/crm`).
//!
//! Run it twice: the second run shows the duplicate-customer rule at work.

use crm_core::{Crm, CustomerQuery, CustomerType, Error, NewCustomer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://crm-quickstart.db".into());
    let crm = Crm::from_arc(crm_sqlx::connect(&url).await?);
    println!("Connected to {} ({url})", crm.backend());

    let samples = [
        (
            "Toko Sinar Jaya",
            "owner@sinarjaya.co.id",
            "0812-3456-7890",
            CustomerType::Wholesale,
        ),
        (
            "Budi Santoso",
            "Budi.Santoso@Example.com",
            "+62 813 1111 2222",
            CustomerType::Retail,
        ),
        (
            "PT Maju Bersama",
            "procurement@majubersama.co.id",
            "021-555-0199",
            CustomerType::Corporate,
        ),
        (
            "CV Distribusi Nusantara",
            "sales@nusantara.id",
            "0811-7000-123",
            CustomerType::Distributor,
        ),
    ];
    for (name, email, phone, customer_type) in samples {
        let input = NewCustomer {
            name: name.into(),
            email: Some(email.into()),
            phone: Some(phone.into()),
            customer_type,
            ..NewCustomer::default()
        };
        match crm.customers().create(input).await {
            Ok(c) => println!(
                "created  {} {:<26} {:<32} {}",
                c.customer_code,
                c.name,
                c.email.unwrap_or_default(),
                c.phone.unwrap_or_default()
            ),
            Err(Error::DuplicateCustomer {
                field,
                existing_code,
                ..
            }) => {
                println!("skipped  {name}: its {field} already belongs to {existing_code}")
            }
            Err(e) => return Err(e.into()),
        }
    }

    // Every failing field is reported at once.
    let invalid = NewCustomer {
        name: "x".repeat(300),
        email: Some("x@".into()),
        phone: Some("abc".into()),
        credit_limit: (-5).into(),
        ..NewCustomer::default()
    };
    if let Err(e) = crm.customers().create(invalid).await {
        println!("rejected invalid input:");
        for f in e.field_errors() {
            println!("  - {} ({}): {}", f.field, f.rule, f.message);
        }
    }

    let page = crm.customers().list(CustomerQuery::default()).await?;
    // An offset page without a search is counted.
    println!("\n{} active customers:", page.total.unwrap_or_default());
    for c in &page.items {
        println!("  {} {:<26} {}", c.customer_code, c.name, c.customer_type);
    }
    let found = crm
        .customers()
        .list(CustomerQuery {
            q: Some("081234567890".into()),
            ..CustomerQuery::default()
        })
        .await?;
    if let Some(c) = found.items.first() {
        println!(
            "\nsearch by phone 081234567890 -> {} {}",
            c.customer_code, c.name
        );
    }
    Ok(())
}
