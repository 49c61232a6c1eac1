"""Schemathesis hooks of tests/schemathesis.sh.

The OpenAPI document states every input rule a JSON schema can express. A
few rules cannot be expressed: they depend on a phone-number plan, on the
clock, on stored data, or on another field or parameter. The document
states those in its descriptions, and the server refuses such a request
with 422 `validation`, naming each failing field and rule.

`filter_failure` drops one kind of report only: "schema-valid request
rejected" (ST202) when the answer is a 422 whose failing fields are all
such rules. A 422 naming any other rule (a length, a pattern, a type the
document does not state) is still a failure, and so is every other check.

`before_call` keeps the run from locking itself out: requests that would
disable, demote or reset the run's own administrator go to another user.
"""

import atexit
from collections import Counter
from decimal import Decimal, InvalidOperation

import schemathesis

MONEY_FIELDS = ("credit_limit", "total_amount", "amount")
DROPPED = Counter()


def _float_beyond_cents(value):
    """A JSON number with more than 2 decimals: `multipleOf: 0.01` cannot
    say so reliably for binary floats, so the document says it in words."""
    if not isinstance(value, float):
        return False
    try:
        return Decimal(repr(value)).as_tuple().exponent < -2
    except InvalidOperation:
        return True


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unstated(error, case):
    """Whether a failing field of a 422 is a rule no JSON schema can state."""
    field, rule = error.get("field"), error.get("rule")
    message = error.get("message", "")
    body = case.body if isinstance(case.body, dict) else {}
    operation = (case.path_parameters or {}).get("operation")
    return (
        # A number that exists in its region's numbering plan.
        (field, rule) == ("phone", "phone")
        # From 1900-01-01 to today; at most 5 minutes ahead of the server.
        or (field == "birthday" and rule in ("past", "min"))
        or (field, rule) == ("purchase_date", "past")
        # A cursor the server issued; not with a page after the first;
        # created_from not after created_to.
        or (field, rule) in (("cursor", "cursor"), ("cursor", "exclusive"))
        or (field, rule) == ("created_from", "range")
        # An uploaded file must be a customer CSV (a header with a name
        # column; a mapping that fits it): binary content is not.
        or (field == "file" and rule in ("header", "name_column", "mapping"))
        # A mapping line names a header of that file and a customer field.
        or field == "mapping"
        # A merge of a customer into itself (path and body).
        or (field, rule) == ("from", "different")
        # The caller's own current password (stored data).
        or (field, rule) == ("current_password", "mismatch")
        # Negative points are for `adjust` only (the path decides).
        or (
            (field, rule) == ("points", "min")
            and operation in ("earn", "redeem")
            and _number(body.get("points"))
            and body["points"] < 0
        )
        # `receipt` is for redemptions only (the path decides).
        or (
            (field, rule) == ("reference_type", "reserved")
            and body.get("reference_type") == "receipt"
            and operation != "redeem"
        )
        # Refunds beyond what is left of the purchase (stored data).
        or ((field, rule) == ("amount", "max") and message.startswith("refunds would exceed"))
        # Communications: placeholders a template may use, no subject or
        # HTML on an SMS, a template that exists, a segment or tier known to
        # the programme, a signed unsubscribe token.
        or rule in ("placeholder", "syntax")
        or (field, rule) in (("subject", "not_allowed"), ("html", "not_allowed"))
        or (field, rule) == ("subject", "required")
        or (field, rule) == ("template_id", "exists")
        or (field, rule) in (("target.segment", "one_of"), ("target.tier", "one_of"), ("target.tag", "required"))
        or (field, rule) == ("token", "signature")
        # A JSON number with more than 2 decimals.
        or (
            field in MONEY_FIELDS
            and rule in ("scale", "min", "type")
            and _float_beyond_cents(body.get(field))
        )
    )


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """The run's own administrator (user 1) is not disabled, demoted or
    given a new password by the run: its token would end, and every later
    request would answer 401. User 2, made by the script, stands in. (At
    call time, so that every phase's requests are covered.)"""
    parameters = case.path_parameters or {}
    if case.operation.path.startswith("/api/users/{id}") and parameters.get("id") in (1, "1"):
        parameters["id"] = 2


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    if failure.code != "ST202" or response.status_code != 422:
        return True
    # The public unsubscribe page: a token whose signature does not verify
    # (no schema can state a signature) answers its HTML "invalid link" page.
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    ctype = headers.get("content-type") or ""
    if isinstance(ctype, (list, tuple)):
        ctype = ctype[0] if ctype else ""
    if case.operation.path == "/unsubscribe" and ctype.startswith("text/html"):
        DROPPED.update(["token/signature"])
        return False
    try:
        errors = response.json()["error"]["fields"]
    except (ValueError, KeyError, TypeError):
        return True
    if errors and all(_unstated(e, case) for e in errors):
        DROPPED.update(f"{e.get('field')}/{e.get('rule')}" for e in errors)
        return False
    return True


@atexit.register
def _summary():
    if DROPPED:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(DROPPED.items()))
        print(f"=== schema-valid requests refused for rules no schema can state (field/rule): {rules}")
