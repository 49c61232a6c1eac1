"""Customers through the Python API, on every backend."""

from datetime import date, timezone
from decimal import Decimal

import pytest

import crm_sdk
from conftest import email, phone, uniq


def test_create_returns_a_typed_customer_with_normalised_contact_data(crm: crm_sdk.Crm) -> None:
    mail, tel = email(), phone()
    c = crm.customers.create(
        name="Budi Santoso",
        email=mail,
        phone=tel,
        customer_type="WHOLESALE",
        credit_limit=Decimal("1500000.50"),
        birthday=date(1990, 5, 1),
        tags=["vip"],
        address={"city": "Bandung", "country": "ID"},
    )
    assert isinstance(c, crm_sdk.Customer)
    assert isinstance(c.id, int) and c.id > 0
    assert c.customer_code.startswith("WS") and len(c.customer_code) == 10
    assert c.email == mail.lower()
    assert c.phone == "+62" + tel[1:]
    assert c.credit_limit == Decimal("1500000.50") and str(c.credit_limit) == "1500000.50"
    assert c.birthday == date(1990, 5, 1)
    assert c.tags == ["vip"]
    assert c.address.city == "Bandung" and isinstance(c.address, crm_sdk.Address)
    assert c.created_at.tzinfo is not None and c.created_at.utcoffset() == timezone.utc.utcoffset(None)
    d = c.to_dict()
    assert d["customer_code"] == c.customer_code and d["address"]["city"] == "Bandung"
    assert repr(c).startswith(f"Customer(id={c.id}, customer_code='{c.customer_code}'")
    assert crm.customers.get(c.id) == c
    assert crm.customers.by_code(c.customer_code.lower()) == c


def test_the_same_phone_in_another_format_is_a_duplicate(crm: crm_sdk.Crm) -> None:
    tel = phone()
    first = crm.customers.create(name="Budi", phone=tel)
    with pytest.raises(crm_sdk.DuplicateCustomerError) as info:
        crm.customers.create(name="Budi S.", phone="+62 " + tel[1:4] + " " + tel[4:8] + " " + tel[8:])
    err = info.value
    assert isinstance(err, crm_sdk.ConflictError) and isinstance(err, crm_sdk.CrmError)
    assert err.code == "duplicate_customer"
    assert err.existing_customer_code == first.customer_code
    assert err.field == "phone"


def test_every_failing_field_is_reported(crm: crm_sdk.Crm) -> None:
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.create(name="x" * 300, email="x@")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.code == "validation"
    assert sorted(f.field for f in err.fields) == ["email", "name"]
    assert all(f.rule and f.message for f in err.fields)


def test_unknown_and_mistyped_keywords_are_the_core_s_validation(crm: crm_sdk.Crm) -> None:
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.create(name=5, credit_limit="lots", colour="red")
    rules = {(f.field, f.rule) for f in info.value.fields}
    assert rules == {("name", "type"), ("credit_limit", "type"), ("colour", "unknown_field")}


def test_values_python_cannot_send_are_a_type_error(crm: crm_sdk.Crm) -> None:
    with pytest.raises(TypeError, match="tags"):
        crm.customers.create(name="Budi", tags={1, 2})


def test_list_searches_pages_and_converts_to_pandas(crm: crm_sdk.Crm) -> None:
    tag = "t" + uniq()
    made = [crm.customers.create(name=f"Sari {i}", email=email(), tags=[tag]) for i in range(3)]
    tel = phone()
    target = crm.customers.create(name="Dewi", phone=tel, tags=[tag])
    page = crm.customers.list(q=tel.replace("0812", "+62812"), limit=5)
    assert [c.id for c in page] == [target.id]
    assert len(page) == 1 and page[0] == target
    first = crm.customers.list(tag=tag, limit=2)
    assert first.total == 4 and len(first) == 2 and first.next_cursor is not None
    second = crm.customers.list(tag=tag, limit=2, cursor=first.next_cursor)
    assert [c.id for c in list(first) + list(second)] == [c.id for c in made + [target]]
    # A cursor page and a search answer without a count unless asked.
    assert second.total is None
    assert crm.customers.list(q="Dewi", tag=tag).total is None
    assert crm.customers.list(q="Dewi", tag=tag, count=True).total == 1
    frame = first.to_pandas()
    assert list(frame.columns)[:3] == ["id", "customer_code", "name"]
    assert frame["id"].tolist() == [made[0].id, made[1].id]
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.list(limit=-1, sort="age")
    assert {f.field for f in info.value.fields} == {"limit", "sort"}


def test_update_clears_with_none_and_refuses_what_cannot_change(crm: crm_sdk.Crm) -> None:
    c = crm.customers.create(name="Budi", email=email())
    updated = crm.customers.update(c.id, email=None, name="Budi Santoso")
    assert updated.email is None and updated.name == "Budi Santoso"
    assert updated.version == c.version + 1
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.update(c.id, customer_code="RT00000009")
    assert [(f.field, f.rule) for f in info.value.fields] == [("customer_code", "not_updatable")]


def test_missing_customer_is_not_found_and_a_lookup_error(crm: crm_sdk.Crm) -> None:
    with pytest.raises(LookupError) as info:
        crm.customers.get(987_654_321)
    assert isinstance(info.value, crm_sdk.NotFoundError)
    assert info.value.code == "not_found"


def test_deactivate_reactivate_and_merge(crm: crm_sdk.Crm) -> None:
    keep = crm.customers.create(name="Keep", email=email())
    dup = crm.customers.create(name="Dup", email=email())
    assert crm.customers.deactivate(dup.id).is_active is False
    assert crm.customers.reactivate(dup.id).is_active is True
    merged = crm.customers.merge(into=keep.id, from_=dup.id, merged_by="tester")
    assert isinstance(merged, crm_sdk.MergeResult)
    assert merged.merged.merged_into == keep.id and merged.merged.is_active is False
    assert merged.replayed is False
    again = crm.customers.merge(into=keep.id, from_=dup.id, merged_by="tester")
    assert again.replayed is True
    with pytest.raises(crm_sdk.ConflictError) as info:
        crm.customers.merge(into=dup.id, from_=keep.id, merged_by="tester")
    assert info.value.code == "conflict" and info.value.reason == "customer_inactive"


def test_import_is_all_or_nothing_with_errors_by_row(crm: crm_sdk.Crm) -> None:
    tag = "imp" + uniq()
    # Rows that do not read, then rows that break rules: each named by row.
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.import_([{"name": "A", "tags": [tag]}, {"nam": "C"}, {"name": 5}])
    assert [(f.field, f.rule) for f in info.value.fields] == [("[1].nam", "unknown_field"), ("[2].name", "type")]
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.import_([{"name": "A", "tags": [tag]}, {"name": "", "tags": [tag]}])
    assert [(f.field, f.rule) for f in info.value.fields] == [("[1].name", "required")]
    assert crm.customers.list(tag=tag).total == 0
    made = crm.customers.import_([{"name": "A", "tags": [tag]}, {"name": "B", "tags": [tag]}])
    assert [c.name for c in made] == ["A", "B"]
    assert crm.customers.list(tag=tag).total == 2


def test_changes_are_audited_under_the_acting_user_and_erasure_keeps_the_books(crm: crm_sdk.Crm) -> None:
    manager = crm.acting_as("mgr@crm.local", "manager")
    c = manager.customers.create(name="Audited", email=email())
    manager.customers.update(c.id, name="Audited Again")
    trail = crm.customers.audit(c.id)
    assert [e.action for e in trail][:2] == ["customer.create", "customer.update"]
    assert trail[0].actor == "mgr@crm.local" and trail[0].role == "manager"
    assert "name" in str(trail[1].detail) and "Audited" not in str(trail[1].detail)
    erased = crm.customers.erase(c.id)
    assert erased.email is None and erased.name != "Audited Again"
