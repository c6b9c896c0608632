"""Labels of conversation review (settle.review.labels): the table of migration 0012, and
the NLU files they make — one text once per language, its latest label, read by Rasa as
plain examples (no entity annotations a customer happened to type)."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from sqlalchemy import inspect, select

from settle.review import labels
from settle.review.labels import TurnLabel
from settle.store.db import Store
from settle.store.models import AuditEntry
from tests.migrations import downgrade, schema_drift


def test_the_labels_table_matches_migration_0012_and_it_downgrades(store):
    assert schema_drift(store, "turn_labels") == []
    downgrade(store, "0011")
    assert "turn_labels" not in inspect(store.engine).get_table_names()
    Store.connect(str(store.engine.url)).engine.dispose()
    assert "turn_labels" in inspect(store.engine).get_table_names()


def test_export_keeps_each_text_once_with_its_latest_label(sqlite_store, tmp_path):
    with sqlite_store.unit_of_work() as session:
        labels.label_turn(session, 1, "i want to pay", "en", "pay_invoice", "a@example.com")
        labels.label_turn(session, 2, "i  want to pay\n", "en", "check_balance", "b@example.com")
        labels.label_turn(session, 3, "card 4111 1111 1111 1111 [x](y) {z}", "en", "inform", "a@x")
        labels.label_turn(session, 4, "quiero pagar", "es", "pay_invoice", "a@example.com")
        labels.label_turn(session, 4, "quiero pagar", "es", "request_refund", "b@example.com")
    with sqlite_store.unit_of_work() as session:
        written = labels.export(session, tmp_path)
        assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
            "en/review.yml",
            "es/review.yml",
        ]
        relabelled = session.scalars(select(TurnLabel).where(TurnLabel.tracker_event_id == 4))
        assert [label.labelled_by for label in relabelled] == ["b@example.com"]
        audited = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "turn.labelled")
        )
        assert list(audited)[-1] == "operator:b@example.com"
    english = RasaYAMLReader().read(tmp_path / "en" / "review.yml")
    assert sorted((m.get("text"), m.get("intent")) for m in english.intent_examples) == [
        ("card **** (x)(y) (z)", "inform"),
        ("i want to pay", "check_balance"),
    ]
    assert english.entity_examples == []
    spanish = RasaYAMLReader().read(tmp_path / "es" / "review.yml")
    assert [(m.get("text"), m.get("intent")) for m in spanish.intent_examples] == [
        ("quiero pagar", "request_refund")
    ]


def test_only_the_domains_intents_are_labels(sqlite_store):
    assert "pay_invoice" in labels.domain_intents()
    assert "nlu_fallback" not in labels.domain_intents()
    assert not any(name.startswith("EXTERNAL_") for name in labels.domain_intents())
    with sqlite_store.unit_of_work() as session, pytest.raises(ValueError, match="not an intent"):
        labels.label_turn(session, 1, "hi", "en", "nlu_fallback", "a@example.com")
