"""Who may do what (settle.access): proofs, bindings, lockout, rules, requests, rate."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from actions.opt_out import ActionOptOut
from actions.payment import ActionPayInvoice
from actions.router import ActionVerifyIdentity
from settle.access import lockout
from settle.access import proof as proofs
from settle.access.addresses import address_key
from settle.access.proof import ChannelProof
from settle.access.ratelimit import RateLimiter
from settle.access.replay import CallFacts, first_time, issue_nonce, prune, use_nonce
from settle.access.requests import forwarded_client
from settle.config import ConfigError
from settle.rules.security import Lockout, SecurityRules, security_from_dict
from settle.store.models import AuditEntry, OptOut, utcnow
from tests.migrations import downgrade, schema_drift
from tests.unit.trackers import run, tracker

SECRET = "s3cret"


# --- proofs -----------------------------------------------------------------------------


def test_a_sealed_proof_opens_only_for_its_conversation_and_secret():
    proof = ChannelProof(kind=proofs.SMS, phone="+14155550101", phone_proven=True)
    metadata = {proofs.METADATA_KEY: proofs.seal(proof, "+14155550101", SECRET)}
    assert proofs.unseal(metadata, "+14155550101", SECRET) == proof
    assert proofs.unseal(metadata, "+14155550102", SECRET) == proofs.UNPROVEN
    assert proofs.unseal(metadata, "+14155550101", "other") == proofs.UNPROVEN
    assert proofs.unseal(metadata, "+14155550101", None) == proofs.UNPROVEN


@pytest.mark.parametrize(
    "forged",
    [
        {"claims": {"kind": "sms", "phone": "+14155550101", "phone_proven": True}, "seal": "x"},
        {"claims": "nope", "seal": "x"},
        "a string",
        {
            "claims": {**vars(ChannelProof(kind="sms", phone="+1", phone_proven=True)), "extra": 1},
            "seal": "x",
        },
    ],
)
def test_what_a_client_writes_into_metadata_proves_nothing(forged):
    assert proofs.unseal({proofs.METADATA_KEY: forged}, "+1", SECRET) == proofs.UNPROVEN
    assert proofs.METADATA_KEY not in proofs.without_proof({proofs.METADATA_KEY: forged, "a": 1})


def test_a_tampered_claim_breaks_the_seal():
    entry = proofs.seal(
        ChannelProof(kind=proofs.VOICE, phone="+1555", call_sid="CA1"), "+1555", SECRET
    )
    entry["claims"]["phone_proven"] = True
    assert proofs.unseal({proofs.METADATA_KEY: entry}, "+1555", SECRET) == proofs.UNPROVEN


@pytest.mark.parametrize(
    "bound, proof, holds",
    [
        ("phone:+1555", ChannelProof(kind="sms", phone="+1555", phone_proven=True), True),
        (
            "phone:+1555",
            ChannelProof(kind="voice", phone="+1555", phone_proven=True, call_sid="CA"),
            True,
        ),
        # The same number, unattested: a spoofed caller ID does not ride a texter's verification.
        ("phone:+1555", ChannelProof(kind="voice", phone="+1555", call_sid="CA"), False),
        ("phone:+1555", ChannelProof(kind="sms", phone="+1666", phone_proven=True), False),
        ("phone:+1555", proofs.UNPROVEN, False),
        ("call:CA1", ChannelProof(kind="voice", phone="+1555", call_sid="CA1"), True),
        ("call:CA1", ChannelProof(kind="voice", phone="+1555", call_sid="CA2"), False),
        ("call:CA1", ChannelProof(kind="sms", phone="+1555", phone_proven=True), False),
        ("web", proofs.UNPROVEN, True),
        ("web", ChannelProof(kind="voice", phone="+1555", call_sid="CA1"), False),
        (None, proofs.UNPROVEN, False),
    ],
)
def test_a_verification_holds_only_for_messages_that_come_the_same_way(bound, proof, holds):
    assert proofs.holds(bound, proof) is holds


def test_bindings_follow_how_the_customer_was_verified():
    call = ChannelProof(kind="voice", phone="+1555", call_sid="CA9")
    assert proofs.binding(call, by_phone=False) == "call:CA9"
    assert (
        proofs.binding(
            ChannelProof(kind="voice", phone="+1555", phone_proven=True, call_sid="CA9"),
            by_phone=True,
        )
        == "phone:+1555"
    )
    assert (
        proofs.binding(ChannelProof(kind="sms", phone="+1555", phone_proven=True), by_phone=False)
        == "phone:+1555"
    )
    assert proofs.binding(proofs.UNPROVEN, by_phone=False) == "web"


# --- actions believe proofs, never channel names ---------------------------------------


def test_a_message_naming_the_sms_channel_without_a_seal_is_not_recognised(app):
    said, slots, _ = run(
        ActionPayInvoice(), tracker("pay", channel="twilio", sender="+14155550101", sealed=False)
    )
    assert said == ["utter_ask_identity"] and "verified" not in slots


def test_an_unattested_caller_is_asked_who_they_are_with_the_keypad(app):
    proof = ChannelProof(kind="voice", phone="+14155550101", call_sid="CA-u")
    said, slots, messages = run(
        ActionPayInvoice(),
        tracker("pay", channel="twilio_voice", sender="+14155550101", proof=proof),
    )
    assert said == ["utter_ask_identity"] and "verified" not in slots
    assert messages[0]["custom"]["keypad"] == "identity"


def test_a_texters_verification_does_not_carry_over_to_an_unattested_call(app):
    texted = {"verified": True, "customer_id": "C001", "identity_binding": "phone:+14155550101"}
    spoofed = ChannelProof(kind="voice", phone="+14155550101", call_sid="CA-spoof")
    said, slots, _ = run(
        ActionPayInvoice(),
        tracker("pay", channel="twilio_voice", sender="+14155550101", slots=texted, proof=spoofed),
    )
    assert said == ["utter_ask_identity"]


def test_keypad_digits_verify_a_caller_invoice_first_then_postal_code(app):
    proof = ChannelProof(kind="voice", phone="+14155559999", call_sid="CA-k")
    keys = [{"entity": "keypad", "value": "1001"}]
    said, slots, messages = run(
        ActionVerifyIdentity(),
        tracker(
            '/inform{"keypad": "1001"}',
            channel="twilio_voice",
            sender="+14155559999",
            proof=proof,
            entities=keys,
            slots={"goal": "balance"},
        ),
    )
    assert said == ["utter_ask_postal_code"] and slots == {"claimed_invoice_number": "INV-1001"}
    assert messages[0]["custom"]["keypad"] == "postal"
    said, slots, _ = run(
        ActionVerifyIdentity(),
        tracker(
            '/inform{"keypad": "94110"}',
            channel="twilio_voice",
            sender="+14155559999",
            proof=proof,
            entities=[{"entity": "keypad", "value": "94110"}],
            slots={"goal": "balance", "claimed_invoice_number": "INV-1001"},
        ),
    )
    assert said[0] == "utter_identity_verified"
    assert slots["identity_binding"] == "call:CA-k"


def test_whoever_answers_our_call_confirms_the_postal_code_first(app):
    proof = ChannelProof(kind="voice", phone="+14155550101", call_sid="CA-out", outbound=True)
    said, slots, _ = run(
        ActionPayInvoice(),
        tracker("pay", channel="twilio_voice", sender="+14155550101", proof=proof),
    )
    assert said == ["utter_confirm_postal_code"] and "verified" not in slots
    said, slots, _ = run(
        ActionVerifyIdentity(),
        tracker(
            "11111",
            channel="twilio_voice",
            sender="+14155550101",
            proof=proof,
            slots={"goal": "pay"},
        ),
    )
    assert said == ["utter_identity_failed"]
    said, slots, _ = run(
        ActionVerifyIdentity(),
        tracker(
            "9 4 1 1 0",
            channel="twilio_voice",
            sender="+14155550101",
            proof=proof,
            slots={"goal": "pay"},
        ),
    )
    assert said[:2] == ["utter_identity_verified", "utter_one_invoice"]
    assert slots["customer_id"] == "C001" and slots["identity_binding"] == "call:CA-out"


def test_only_a_proven_number_is_opted_out_at_once(app):
    said, _, _ = run(
        ActionOptOut(),
        tracker("stop texting me", channel="twilio", sender="+14155550101", sealed=False),
    )
    assert said == ["utter_ask_identity"]
    said, _, _ = run(
        ActionOptOut(),
        tracker(
            "stop calling me",
            channel="twilio_voice",
            sender="+14155550101",
            proof=ChannelProof(kind="voice", phone="+14155550101", call_sid="CA"),
        ),
    )
    assert said == ["utter_ask_identity"]
    with app.store.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(OptOut)) == 0
    said, _, _ = run(
        ActionOptOut(), tracker("stop texting me", channel="twilio", sender="+14155550101")
    )
    assert said == ["utter_opted_out"]
    with app.store.unit_of_work() as session:
        assert session.scalars(select(OptOut.phone)).all() == ["+14155550101"]


def test_the_stored_language_is_told_for_a_proven_number_only(app):
    from dataclasses import replace

    from settle_rasa.channels import language_on_file

    app.settings = replace(
        app.settings, business=replace(app.settings.business, languages=("en", "es"))
    )
    with app.store.unit_of_work() as session:
        from settle.store.models import Customer

        session.get(Customer, "C001").language = "es"
        session.get(Customer, "C002").language = "fr"  # not one this business speaks
    assert language_on_file("+14155550101") == "es"
    assert language_on_file("+14155550102") is None
    assert language_on_file("+14155559999") is None
    # The language on file counts only for a message whose number the channel proved.
    from rasa_sdk.executor import CollectingDispatcher

    from actions.turn import Turn
    from settle.understanding.language_detection import ON_FILE

    def answered_in(sealed: bool) -> str:
        t = tracker(
            "hola", channel="twilio", sender="+14155550101", slots={"language": None}, sealed=sealed
        )
        t.events[0]["metadata"][ON_FILE] = "es"  # what the signed channel adds (or a forger)
        return Turn.read(CollectingDispatcher(), t).language

    assert answered_in(sealed=True) == "es"
    assert answered_in(sealed=False) == "en"  # an unproven message is told nothing


# --- lockout -----------------------------------------------------------------------------


def _misses(store, keys, n, rules=None, now=None):
    rules = rules or Lockout()
    locks = []
    for _ in range(n):
        with store.unit_of_work() as session:
            locks += lockout.record_miss(session, rules, keys, "test", now)
    return locks


def test_five_misses_on_an_invoice_lock_it_for_an_hour(store):
    now = utcnow()
    keys = {"invoice": "INV1001"}
    assert _misses(store, keys, 4, now=now) == []
    (lock,) = _misses(store, keys, 1, now=now)
    assert lock.scope == "invoice" and lock.until == now + dt.timedelta(minutes=60)
    with store.unit_of_work() as session:
        assert (
            lockout.active_lock(session, {"invoice": "INV1001", "conversation": "c"}, now).id
            == lock.id
        )
        assert lockout.active_lock(session, keys, now + dt.timedelta(minutes=61)) is None
        assert lockout.active_lock(session, {"invoice": "INV2002"}, now) is None
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "identity.locked")
        )
    assert audited == 1


def test_misses_outside_the_window_do_not_add_up(store):
    start = utcnow()
    for minute in (0, 5, 10, 16, 21):  # never five within fifteen minutes
        assert (
            _misses(store, {"customer": "C001"}, 1, now=start + dt.timedelta(minutes=minute)) == []
        )


def test_a_cleared_lock_starts_the_count_afresh(store):
    now = utcnow()
    (lock,) = _misses(store, {"client_address": "203.0.113.9"}, 10, now=now)
    # An operator of the console, by e-mail address (up to 254 characters).
    operator = "operator:" + "ann.long-name" * 10 + "@example.com"
    with store.unit_of_work() as session:
        assert lockout.clear_lock(session, lock.id, operator, now)
        assert not lockout.clear_lock(session, lock.id, "operator:ann", now)
        assert lockout.active_lock(session, {"client_address": "203.0.113.9"}, now) is None
    assert _misses(store, {"client_address": "203.0.113.9"}, 1, now=now) == []


def test_keys_for_leave_out_what_a_check_did_not_touch():
    keys = lockout.keys_for("web-1", None, "C001", None)
    assert set(keys) == {"conversation", "customer"} and keys["conversation"] != "web-1"


def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit(store):
    """Every check serialises on its keys, so the lock is seen by the guess after the fifth."""
    keys, tried, start = {"invoice": "INV-RACE"}, [], threading.Barrier(12)

    def guess():
        start.wait()
        with store.unit_of_work() as session:
            lockout.serialize(session, keys)
            if lockout.active_lock(session, keys) is None:
                tried.append(1)
                lockout.record_miss(session, Lockout(), keys, "test")

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tried) == 5


@pytest.mark.parametrize(
    "spelling, key",
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),  # an IPv4 client through a dual-stack socket
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one subscriber's /64 is one client
        ("2001:DB8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::1", "::1"),
    ],
)
def test_a_client_is_counted_by_one_key_however_its_address_is_written(spelling, key):
    assert address_key(forwarded_client(spelling, [], ())) == key
    assert lockout.keys_for("c", None, None, spelling)["client_address"] == key


# --- settings -------------------------------------------------------------------------------


def test_security_settings_are_checked():
    rules = security_from_dict(
        {"caller_id_attestations": ["A", "B"], "lockout": {"invoice": {"misses": 3}}}
    )
    assert rules.attested("TN-Validation-Passed-B") and not rules.attested("TN-Validation-Passed-C")
    assert rules.lockout.invoice.misses == 3 and rules.lockout.invoice.lock_minutes == 60
    for bad, named in [
        ({"caller_id_attestations": ["C"]}, "caller_id_attestations"),
        ({"lockout": {"invoice": {"misses": 0}}}, "security.lockout.invoice.misses"),
        ({"lockout": {"planet": {}}}, "planet"),
        ({"web_messages_per_minute": "fast"}, "web_messages_per_minute"),
        ({"speed": 1}, "speed"),
    ]:
        with pytest.raises(ConfigError, match=named):
            security_from_dict(bad)
    assert SecurityRules().attested("TN-Validation-Passed-A")
    assert not SecurityRules().attested(None) and not SecurityRules().attested(
        "TN-Validation-Passed-B"
    )


def test_the_old_verification_setting_names_its_new_place(tmp_path):
    from settle.config import load_business_settings

    file = tmp_path / "settle.yml"
    file.write_text("business:\n  max_verification_attempts: 3\n")
    with pytest.raises(ConfigError, match="security.lockout.conversation.misses"):
        load_business_settings(str(file))


# --- requests, replays and rate ----------------------------------------------------------------


@pytest.mark.parametrize(
    "peer, forwarded, expected",
    [
        ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),  # not our proxy: its header is ignored
        ("127.0.0.1", ["203.0.113.1"], "203.0.113.1"),
        ("127.0.0.1", ["203.0.113.66, 203.0.113.1"], "203.0.113.1"),  # the hop our proxy saw
        ("127.0.0.1", ["203.0.113.1, 10.0.0.2"], "203.0.113.1"),  # 10.0.0.2: another of ours
        ("127.0.0.1", [], "127.0.0.1"),
    ],
)
def test_the_client_address_believes_our_proxies_only(peer, forwarded, expected):
    assert forwarded_client(peer, forwarded, ("127.0.0.1", "10.0.0.0/8")) == expected


def test_a_webhook_is_taken_once(store):
    with store.unit_of_work() as session:
        assert first_time(session, "sms:SM1")
        assert not first_time(session, "sms:SM1")
        assert first_time(session, "sms:SM2")


def test_a_call_token_is_good_once_for_its_call(store):
    facts = CallFacts("CA1", "+14155550101", True, False)
    with store.unit_of_work() as session:
        nonce = issue_nonce(session, facts)
    with store.unit_of_work() as session:
        assert use_nonce(session, nonce, "CA2") is None
        assert use_nonce(session, nonce, "CA1") == facts
        assert use_nonce(session, nonce, "CA1") is None
        assert use_nonce(session, None, "CA1") is None
    with store.unit_of_work() as session:
        stale = issue_nonce(session, facts)
    with store.unit_of_work() as session:
        assert use_nonce(session, stale, "CA1", utcnow() + dt.timedelta(hours=5)) is None
        prune(session, utcnow() + dt.timedelta(days=8))


def test_a_client_gets_its_rate_and_then_waits():
    clock = [0.0]
    limiter = RateLimiter(3, clock=lambda: clock[0])
    assert [limiter.allow("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.allow("a") == pytest.approx(20.0)
    assert limiter.allow("b") == 0
    clock[0] += 20
    assert limiter.allow("a") == 0


def test_the_trust_tables_match_migration_0006_and_it_downgrades(store):
    from sqlalchemy import inspect

    import settle.access.records  # noqa: F401 - the models, on Base.metadata
    from settle.store.db import Store

    assert (
        schema_drift(store, "identity_misses", "identity_locks", "webhook_receipts", "call_nonces")
        == []
    )
    downgrade(store, "0005")
    assert "identity_locks" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert "identity_locks" in inspect(store.engine).get_table_names()
