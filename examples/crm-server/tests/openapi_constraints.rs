//! The OpenAPI document states the rules the server enforces on input
//! (lengths, formats, ranges, enums, required fields, unknown fields), with
//! the values of the SDK's own constants, so that clients generated from
//! it validate as the server does.

use crm_core::customer::validate::{EMAIL_MAX, NAME_MAX, PHONE_MAX, TAG_MAX, TAGS_MAX};
use crm_core::loyalty::{MAX_POINTS_PER_OPERATION, RECEIPT, RESERVED_REFERENCE_TYPES};
use crm_core::users::PASSWORD_MIN;
use serde_json::{Value, json};

fn document() -> Value {
    serde_json::from_str(crm_server::openapi::spec_json()).expect("the document is JSON")
}

/// Follows `$ref`s (and a nullable `oneOf: [{$ref}, {type: null}]`) to the
/// schema they name.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(branches) = schema["oneOf"].as_array()
        && branches.len() == 2
        && branches[1] == json!({"type": "null"})
    {
        return resolve(doc, &branches[0]);
    }
    schema
}

/// The schema of `property` of component `name`, resolved.
fn property<'a>(doc: &'a Value, name: &str, property: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name]["properties"][property];
    assert!(schema.is_object(), "{name}.{property} is not documented");
    resolve(doc, schema)
}

fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"))
}

#[test]
fn customer_inputs_state_their_rules() {
    let doc = document();
    for name in ["NewCustomer", "CustomerPatch"] {
        let customer = &doc["components"]["schemas"][name];
        assert_eq!(customer["additionalProperties"], false, "{name}");
        let n = property(&doc, name, "name");
        assert_eq!(
            (&n["type"], &n["minLength"], &n["maxLength"]),
            (&json!("string"), &json!(1), &json!(NAME_MAX)),
            "{name}.name"
        );
        assert!(n["pattern"].is_string(), "{name}.name is not blank");
        let email = property(&doc, name, "email");
        let email_branches = email["anyOf"].as_array().expect("email or blank");
        assert!(
            email_branches
                .iter()
                .any(|b| b["format"] == "email" && b["maxLength"] == json!(EMAIL_MAX)),
            "{name}.email: {email}"
        );
        assert_eq!(property(&doc, name, "phone")["maxLength"], json!(PHONE_MAX));
        let tags = property(&doc, name, "tags");
        assert_eq!(tags["maxItems"], json!(TAGS_MAX), "{name}.tags");
        assert_eq!(resolve(&doc, &tags["items"])["maxLength"], json!(TAG_MAX));
        let money = property(&doc, name, "credit_limit");
        assert_eq!(
            money["type"],
            json!(["string", "number"]),
            "{name}.credit_limit"
        );
        assert_eq!(money["minimum"], json!(0));
        assert_eq!(money["maximum"], json!(9_999_999_999_999.99));
        assert!(money["pattern"].is_string());
    }
    assert_eq!(
        doc["components"]["schemas"]["NewCustomer"]["required"],
        json!(["name"])
    );
    // A patch may not send `null` for what cannot be cleared.
    let patch = &doc["components"]["schemas"]["CustomerPatch"]["properties"];
    for field in ["name", "credit_limit", "address", "tags"] {
        assert!(
            !patch[field].to_string().contains("\"null\""),
            "CustomerPatch.{field} is not nullable: {}",
            patch[field]
        );
    }
    let types = resolve(
        &doc,
        &doc["components"]["schemas"]["NewCustomer"]["properties"]["customer_type"],
    );
    assert_eq!(
        types["enum"],
        json!(["RETAIL", "WHOLESALE", "DISTRIBUTOR", "CORPORATE"])
    );
    assert_eq!(
        doc["components"]["schemas"]["Address"]["additionalProperties"],
        false
    );
    assert_eq!(property(&doc, "Address", "line1")["maxLength"], json!(255));
    assert_eq!(
        property(&doc, "Address", "postal_code")["maxLength"],
        json!(20)
    );
    assert!(property(&doc, "Address", "country")["pattern"].is_string());
}

#[test]
fn loyalty_inputs_state_their_rules() {
    let doc = document();
    let points = property(&doc, "PointsBody", "points");
    let ranges: Vec<(i64, i64)> = points["anyOf"]
        .as_array()
        .expect("two ranges, 0 excluded")
        .iter()
        .map(|r| {
            (
                r["minimum"].as_i64().expect("minimum"),
                r["maximum"].as_i64().expect("maximum"),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            (1, MAX_POINTS_PER_OPERATION),
            (-MAX_POINTS_PER_OPERATION, -1)
        ]
    );
    let reference_type = property(&doc, "PointsBody", "reference_type");
    assert_eq!(reference_type["maxLength"], json!(40));
    let reserved: Vec<&str> = RESERVED_REFERENCE_TYPES
        .iter()
        .copied()
        .filter(|t| *t != RECEIPT)
        .collect();
    assert_eq!(reference_type["not"]["enum"], json!(reserved));
    assert_eq!(
        property(&doc, "PointsBody", "reference_id")["maxLength"],
        json!(120)
    );
    assert_eq!(
        doc["components"]["schemas"]["PointsBody"]["required"],
        json!(["points", "reference_type", "reference_id"])
    );

    let store = property(&doc, "PurchaseBody", "store_id");
    assert_eq!(
        (&store["minLength"], &store["maxLength"]),
        (&json!(1), &json!(40))
    );
    assert!(
        store["pattern"].as_str().is_some_and(|p| p.contains('/')),
        "no `/`"
    );
    assert_eq!(
        property(&doc, "PurchaseBody", "receipt_id")["maxLength"],
        json!(80)
    );
    assert_eq!(
        property(&doc, "PurchaseBody", "currency")["enum"],
        json!(["IDR"])
    );
    assert_eq!(
        property(&doc, "PurchaseBody", "purchase_date")["format"],
        "date-time"
    );
    assert_eq!(
        property(&doc, "PurchaseBody", "total_amount")["minimum"],
        json!(0)
    );
    let amount = property(&doc, "RefundBody", "amount");
    assert_eq!(amount["exclusiveMinimum"], json!(0));
    assert_eq!(
        property(&doc, "RefundBody", "refund_id")["maxLength"],
        json!(80)
    );
    assert_eq!(
        property(&doc, "MergeBody", "duplicate_id")["minimum"],
        json!(1)
    );
    assert_eq!(
        property(&doc, "MergeBody", "merged_by")["maxLength"],
        json!(100)
    );

    let operation = parameter(
        &doc,
        "/api/customers/{id}/loyalty/{operation}",
        "post",
        "operation",
    );
    assert_eq!(
        resolve(&doc, &operation["schema"])["enum"],
        json!(["earn", "redeem", "adjust"])
    );
}

#[test]
fn users_and_logins_state_their_rules() {
    let doc = document();
    let user = &doc["components"]["schemas"]["NewUser"];
    assert_eq!(user["required"], json!(["email", "password", "role"]));
    let email = property(&doc, "NewUser", "email");
    assert_eq!(
        (&email["format"], &email["maxLength"]),
        (&json!("email"), &json!(EMAIL_MAX))
    );
    assert_eq!(
        property(&doc, "NewUser", "password")["minLength"],
        json!(PASSWORD_MIN)
    );
    assert_eq!(
        property(&doc, "NewUser", "role")["enum"],
        json!(["admin", "manager", "cashier", "analyst"])
    );
    assert_eq!(
        doc["components"]["schemas"]["LoginBody"]["required"],
        json!(["email", "password"])
    );
    assert!(
        doc["paths"]["/api/auth/login"]["post"]["responses"]["429"].is_object(),
        "login throttling is documented"
    );
}

/// Every request body is read by the SDK's JSON reader, which refuses
/// unknown fields.
#[test]
fn request_bodies_refuse_unknown_fields() {
    let doc = document();
    let mut bodies = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema")
            else {
                continue;
            };
            bodies += 1;
            assert_eq!(
                resolve(&doc, schema)["additionalProperties"],
                false,
                "{method} {path}"
            );
        }
    }
    assert!(bodies >= 8, "{bodies} request bodies");
}

#[test]
fn the_listing_states_its_parameters() {
    let doc = document();
    let path = "/api/customers";
    let max_page = crm_core::CrmConfig::default().max_page_limit;
    let limit = parameter(&doc, path, "get", "limit");
    assert_eq!(limit["schema"]["minimum"], json!(1));
    assert_eq!(limit["schema"]["default"], json!(20));
    let said = limit["description"].as_str().expect("description");
    assert!(
        said.contains("capped") && said.contains(&max_page.to_string()),
        "the clamp of limit is stated: {said}"
    );
    assert_eq!(
        doc["components"]["schemas"]["PageMeta"]["properties"]["limit"]["maximum"],
        json!(max_page),
        "meta.limit never exceeds the maximum"
    );
    assert_eq!(
        parameter(&doc, path, "get", "page")["schema"]["minimum"],
        json!(1)
    );
    for (name, values) in [
        ("sort", json!(["id", "name", "code", "created_at"])),
        ("direction", json!(["asc", "desc"])),
        (
            "type",
            json!(["RETAIL", "WHOLESALE", "DISTRIBUTOR", "CORPORATE"]),
        ),
        ("active", json!(["true", "1", "false", "0", "all"])),
        ("status", json!(["active", "inactive", "all"])),
    ] {
        let p = parameter(&doc, path, "get", name);
        assert_eq!(resolve(&doc, &p["schema"])["enum"], values, "{name}");
    }
    assert!(parameter(&doc, path, "get", "cursor")["schema"]["pattern"].is_string());
    for p in doc["paths"][path]["get"]["parameters"]
        .as_array()
        .expect("params")
    {
        assert_eq!(
            p["allowEmptyValue"], true,
            "an empty {} counts as absent",
            p["name"]
        );
    }
    let id = parameter(&doc, "/api/customers/{id}", "get", "id");
    assert_eq!(id["schema"]["minimum"], json!(1));
}

#[test]
fn the_soft_delete_is_stated() {
    let doc = document();
    let delete = &doc["paths"]["/api/customers/{id}"]["delete"];
    let text = format!("{} {}", delete["summary"], delete["description"]);
    assert!(
        text.contains("soft delete") && text.contains("is_active: false"),
        "{text}"
    );
}

/// `(field, rule)` of every failing field, empty on success.
fn failures<T>(r: crm_core::Result<T>) -> Vec<(String, String)> {
    r.err()
        .map(|e| {
            e.field_errors()
                .iter()
                .map(|f| (f.field.clone(), f.rule.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn pair(field: &str, rule: &str) -> Vec<(String, String)> {
    vec![(field.to_string(), rule.to_string())]
}

/// The rules the schemas state are the rules the SDK applies, at the
/// boundaries the document gives.
#[tokio::test]
async fn the_stated_rules_are_the_applied_rules() {
    use crm_core::users::{NewUser, Role};
    use crm_core::{CustomerPatch, NewCustomer};
    let crm = crm_core::Crm::new(crm_core::memory::MemoryStore::new());
    let customers = crm.customers();
    let name = |n: &str| {
        let input = NewCustomer::from_json(json!({ "name": n })).expect("a new customer");
        customers.create(input)
    };
    // maxLength counts the characters as sent, white space included.
    assert_eq!(failures(name(&"n".repeat(NAME_MAX)).await), vec![]);
    let padded = format!(" {}", "n".repeat(NAME_MAX));
    assert_eq!(failures(name(&padded).await), pair("name", "max_length"));
    assert_eq!(failures(name(" \u{3000} ").await), pair("name", "required"));
    // Unknown fields and addresses that are not objects are refused.
    assert_eq!(
        failures(NewCustomer::from_json(
            json!({"name": "A", "nickname": "B"})
        )),
        pair("nickname", "unknown_field")
    );
    assert_eq!(
        failures(CustomerPatch::from_json(json!({"address": [null]}))),
        pair("address", "type")
    );
    // Users: an email address with a dotted domain, at most 100 characters.
    let users = crm.users();
    let user = |email: &str| {
        users.create(NewUser {
            email: email.into(),
            password: "a long enough password".into(),
            role: Role::Cashier,
        })
    };
    let long = format!("{}@toko.example", "k".repeat(EMAIL_MAX));
    for bad in ["x@", "kasir@toko", long.as_str()] {
        assert_eq!(failures(user(bad).await), pair("email", "email"), "{bad}");
    }
    assert_eq!(failures(user("kasir@toko.example").await), vec![]);
}
