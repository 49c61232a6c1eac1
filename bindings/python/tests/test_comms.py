"""Communications through the Python API, on every backend: templates and
previews, consent and unsubscribe, campaigns and the log. (Delivery runs in
a dispatcher, tested in Rust against a real SMTP server.)"""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

import crm_sdk
from conftest import email, uniq


def test_templates_are_checked_and_previews_escape_html(crm: crm_sdk.Crm) -> None:
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.comms.create_template(
            name="Bad", channel="email", locale="id", subject="Halo {nama}", text="{oops"
        )
    rules = sorted((f.field, f.rule) for f in info.value.fields)
    assert rules == [("subject", "placeholder"), ("text", "syntax")]
    t = crm.comms.create_template(
        name="Poin",
        channel="email",
        locale="id",
        subject="Poin Anda, {customer_name}",
        text="Halo {customer_name}, poin {loyalty_points}",
        html="<p>Halo {customer_name}</p>",
    )
    assert isinstance(t, crm_sdk.Template) and t.channel == "email" and t.locale == "id"
    assert crm.comms.template(t.id) == t
    assert t in crm.comms.templates()
    c = crm.customers.create(name="<b>Budi</b> & Co", email=email())
    r = crm.comms.preview(t.id, c.id)
    assert isinstance(r, crm_sdk.Rendered)
    assert r.subject == "Poin Anda, <b>Budi</b> & Co"
    assert r.text == "Halo <b>Budi</b> & Co, poin 0"
    assert r.html == "<p>Halo &lt;b&gt;Budi&lt;/b&gt; &amp; Co</p>"
    with pytest.raises(crm_sdk.NotFoundError):
        crm.comms.preview(t.id, 987_654_321)


def test_consent_history_and_one_click_unsubscribe(crm: crm_sdk.Crm) -> None:
    c = crm.customers.create(name="Sari", email=email())
    first = crm.comms.set_consent(c.id, channel="email", granted=True, source="till")
    assert isinstance(first, crm_sdk.ConsentRecord) and first.granted and first.source == "till"
    crm.comms.set_consent(c.id, channel="sms", granted=True, source="web_form")
    url = crm.comms.unsubscribe_url(c.id, "email", 7)
    token = url.split("token=")[1]
    out = crm.comms.unsubscribe(token)
    assert not out.granted and out.source == "unsubscribe_link:campaign 7"
    assert crm.comms.unsubscribe(token).id == out.id, "a second click changes nothing"
    now = crm.comms.consent(c.id)
    assert (now.email, now.sms, len(now.history)) == (False, True, 3)
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.comms.unsubscribe(token[:-2] + "xx")
    assert info.value.fields[0].field == "token"
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.comms.set_consent(c.id, channel="fax", granted="yes")
    assert sorted(f.field for f in info.value.fields) == ["channel", "granted", "source"]


def test_campaigns_are_created_sent_and_read_back(crm: crm_sdk.Crm) -> None:
    tag = "promo-" + uniq()
    c = crm.customers.create(name="Tono", email=email(), tags=[tag])
    t = crm.comms.create_template(name="T", channel="email", locale="en", subject="Hi", text="Hi {customer_name}")
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.comms.create_campaign(name="", template_id=t.id, target={"segment": "VIP"})
    assert sorted(f.field for f in info.value.fields) == ["name", "target.segment"]
    camp = crm.comms.create_campaign(name="Dec", template_id=t.id, target={"tag": tag})
    assert isinstance(camp, crm_sdk.Campaign)
    assert (camp.status, camp.target, camp.quiet_hours) == ("draft", {"tag": tag}, "defer")
    later = datetime.now(timezone.utc) + timedelta(days=1)
    scheduled = crm.comms.send_campaign(camp.id, at=later)
    assert scheduled.status == "scheduled" and scheduled.scheduled_at is not None
    sending = crm.comms.send_campaign(camp.id)
    assert sending.status == "sending"
    assert isinstance(sending.progress, crm_sdk.CampaignProgress)
    assert (sending.progress.recipients, sending.progress.pending) == (1, 1)
    assert crm.comms.campaign(camp.id).to_dict()["progress"]["pending"] == 1
    assert any(x.id == camp.id for x in crm.comms.campaigns())
    assert crm.comms.communications(c.id) == []


def test_the_async_handle_has_the_same_calls(db_url: str) -> None:
    async def main() -> None:
        crm = await crm_sdk.AsyncCrm.connect(db_url)
        c = await crm.customers.create(name="Async", email=email())
        rec = await crm.comms.set_consent(c.id, channel="email", granted=True, source="app")
        assert rec.granted
        consent = await crm.comms.consent(c.id)
        assert consent.email and not consent.sms
        assert await crm.comms.communications(c.id, limit=5) == []

    asyncio.run(main())
