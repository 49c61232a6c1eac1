//! OpenAPI schemas of the input values whose rules no Rust type carries
//! (`openapi` feature): money as an exact decimal, names and keys that may
//! not be blank, emails that may be left blank, tags, point amounts.
//!
//! The request types point their fields at these with
//! `#[schema(value_type = ...)]`. Each schema is built from the constants
//! the rules themselves use, so the document states what the code enforces
//! and cannot drift from it. Rules a JSON schema cannot state (a phone
//! number that exists, a date not in the future, a reserved reference type)
//! are said in the descriptions.

use std::borrow::Cow;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat};
use utoipa::openapi::{RefOr, Type};

use crate::customer::validate::{EMAIL_MAX, NAME_MAX, TAG_MAX};
use crate::loyalty::{MAX_POINTS_PER_OPERATION, RECEIPT, RESERVED_REFERENCE_TYPES};

/// The characters `str::trim` removes (Unicode `White_Space`), as the body
/// of a regex character class that ECMA-262, Python and Rust read alike.
pub const WHITE_SPACE: &str =
    r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The largest amount of money the stores keep (`DECIMAL(15,2)`), as text.
pub const MONEY_MAX: &str = "9999999999999.99";

/// Pattern of a text that is not blank: it has a character that is not
/// white space.
pub fn not_blank_pattern() -> String {
    format!("[^{WHITE_SPACE}]")
}

/// Pattern of a blank text (empty or only white space).
pub fn blank_pattern() -> String {
    format!("^[{WHITE_SPACE}]*$")
}

/// Pattern of a non-blank text without `/`.
pub fn not_blank_no_slash_pattern() -> String {
    format!("^[^/]*[^/{WHITE_SPACE}][^/]*$")
}

/// A string of 1 to `max` characters that is not blank.
fn key(max: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(not_blank_pattern()))
        .description(Some(description))
}

/// Money as sent: a JSON string in plain decimal notation (preferred: it
/// is exact) or a JSON number. `positive`: more than 0, else 0 or more.
fn money(positive: bool, description: &str) -> Schema {
    let (pattern, example) = if positive {
        (
            r"^([1-9][0-9]{0,12}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$",
            "25000.00",
        )
    } else {
        (r"^[0-9]{1,13}(\.[0-9]{1,2})?$", "150000.00")
    };
    let max: f64 = MONEY_MAX.parse().unwrap_or(f64::MAX);
    let mut b = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::Array(vec![
            Type::String,
            Type::Number,
        ]))
        .pattern(Some(pattern))
        .maximum(Some(max))
        .description(Some(description))
        .examples([example]);
    b = if positive {
        b.exclusive_minimum(Some(0))
    } else {
        b.minimum(Some(0))
    };
    b.into()
}

/// Declares a documentation-only type whose OpenAPI schema is `$schema`.
macro_rules! schema_type {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let schema: Schema = $schema;
                RefOr::T(schema)
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

schema_type! {
    /// An amount of money of 0 or more: a string in plain decimal notation
    /// with at most 2 decimals (`"150000.00"`; exact, preferred) or a JSON
    /// number, at most 9,999,999,999,999.99.
    Money => money(
        false,
        "Money, 0 or more: a string in plain decimal notation with at most 2 decimals \
         (`\"150000.00\"`, exact, preferred) or a JSON number with at most 2 decimals; \
         at most 9999999999999.99.",
    )
}

schema_type! {
    /// An amount of money of more than 0 (a refund), written as [`Money`].
    PositiveMoney => money(
        true,
        "Money, more than 0: a string in plain decimal notation with at most 2 decimals \
         (`\"25000.00\"`, exact, preferred) or a JSON number with at most 2 decimals; \
         at most 9999999999999.99.",
    )
}

schema_type! {
    /// A customer's name: 1 to 150 characters, not blank (it is trimmed).
    CustomerName => key(
        NAME_MAX,
        "Display name: not blank, at most 150 characters (leading and trailing white space is trimmed).",
    )
    .into()
}

schema_type! {
    /// A customer's email, or a blank text meaning none; at most 100
    /// characters either way.
    EmailOrBlank => AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
                .max_length(Some(EMAIL_MAX))
                .description(Some("An email address with a dotted domain; stored lower-cased.")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(blank_pattern()))
                .max_length(Some(EMAIL_MAX))
                .description(Some("Blank: no email.")),
        )
        .description(Some(
            "An email address with a dotted domain (stored lower-cased), or a blank text for \
             none; at most 100 characters either way.",
        ))
        .examples(["budi@example.com"])
        .into()
}

schema_type! {
    /// A user's email (the login): an email address of at most 100 characters.
    UserEmail => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(EMAIL_MAX))
        .description(Some(
            "An email address with a dotted domain, at most 100 characters; stored lower-cased.",
        ))
        .examples(["kasir@toko.example"])
        .into()
}

schema_type! {
    /// A customer's tag: at most 50 characters (trimmed and lower-cased;
    /// blank tags are dropped).
    Tag => ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(TAG_MAX))
        .description(Some(
            "A label, at most 50 characters; stored trimmed and lower-cased, blank labels are dropped.",
        ))
        .examples(["vip"])
        .into()
}

schema_type! {
    /// Points moved by one manual operation: not 0, at most
    /// [`MAX_POINTS_PER_OPERATION`] either way.
    Points => {
        let range = |min: i64, max: i64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(min))
                .maximum(Some(max))
        };
        AnyOfBuilder::new()
            .item(range(1, MAX_POINTS_PER_OPERATION))
            .item(range(-MAX_POINTS_PER_OPERATION, -1))
            .description(Some(
                "Points: more than 0 for earn and redeem; not 0, either sign, for adjust; \
                 at most 1,000,000,000 either way, and within the caller's role caps.",
            ))
            .examples([100])
            .into()
    }
}

schema_type! {
    /// Part 1 of an idempotency key of a manual point operation: not one
    /// of the SDK's own kinds ([`RESERVED_REFERENCE_TYPES`]), `receipt`
    /// aside, which redemptions may use.
    ReferenceType => {
        // `utoipa` has no builder for `not`; the keyword is written as is.
        let reserved: Vec<&str> = RESERVED_REFERENCE_TYPES
            .iter()
            .copied()
            .filter(|t| *t != RECEIPT)
            .collect();
        key(
            40,
            "Kind of reference, 1 to 40 characters, not blank, not one of the SDK's own kinds; \
             `receipt` (with `reference_id` = `{store_id}/{receipt_id}`) is for redemptions only.",
        )
        .extensions(Some(Extensions::from_iter([(
            "not",
            serde_json::json!({ "enum": reserved }),
        )])))
        .examples(["campaign"])
        .into()
    }
}

schema_type! {
    /// Part 2 of an idempotency key of a manual point operation.
    ReferenceId => key(120, "The reference, 1 to 120 characters, not blank.")
        .examples(["PROMO-2026-11"])
        .into()
}

schema_type! {
    /// A store id: 1 to 40 characters, not blank, no `/`.
    StoreId => ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(40))
        .pattern(Some(not_blank_no_slash_pattern()))
        .description(Some("Store (till, branch): 1 to 40 characters, not blank, no `/`."))
        .examples(["JKT-01"])
        .into()
}

schema_type! {
    /// A receipt number: 1 to 80 characters, not blank.
    ReceiptId => key(80, "Receipt number, unique per store: 1 to 80 characters, not blank.")
        .examples(["R-1001"])
        .into()
}

schema_type! {
    /// A refund id: 1 to 80 characters, not blank.
    RefundId => key(
        80,
        "The refund's own id, its idempotency key within the purchase: 1 to 80 characters, not blank.",
    )
    .examples(["F-1"])
    .into()
}

schema_type! {
    /// Who merged two customers: 1 to 100 characters, not blank.
    MergedBy => key(100, "Who decided: 1 to 100 characters, not blank.").into()
}

schema_type! {
    /// An ISO 3166-1 alpha-2 country code (any case, stored upper-cased),
    /// or a blank text for none.
    CountryCode => ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[{WHITE_SPACE}]*([A-Za-z]{{2}}[{WHITE_SPACE}]*)?$")))
        .description(Some(
            "ISO 3166-1 alpha-2 country code (`ID`), any case, stored upper-cased; blank for none.",
        ))
        .examples(["ID"])
        .into()
}
