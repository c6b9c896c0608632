"""`settle scan-pans` finds card numbers wherever they were kept, and never prints one."""

from __future__ import annotations

import json

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, insert

from settle.privacy.scan import scan_all


def test_card_numbers_are_found_in_columns_json_numbers_keys_and_logs(tmp_path):
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    metadata = MetaData()
    events = Table(
        "events",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("sender_id", String(255)),
        Column("timestamp", Float),
        Column("data", Text),
    )
    engine = create_engine(url)
    metadata.create_all(engine)
    rows = [
        ("web-1", {"event": "user", "text": "hello", "timestamp": 1733097037.123456}),
        ("web-2", {"event": "slot", "name": "number", "value": 4111111111111111}),
        ("web-3", {"event": "user", "metadata": {"4111 1111 1111 1111": "x"}}),
        ("5555555555554444", {"event": "user", "text": "hi"}),
        ("web-4", {"event": "user", "text": "cinq cinq cinq cinq 5555 5555 5555 4444"}),
    ]
    with engine.begin() as connection:
        for sender, data in rows:
            connection.execute(
                insert(events).values(
                    sender_id=sender, timestamp=1733097037.1, data=json.dumps(data)
                )
            )
    engine.dispose()
    log = tmp_path / "log"
    log.mkdir()
    (log / "rasa.log").write_text(
        "2026-12-01 23:10:37,123 INFO fine\n2026-12-01 23:10:38,123 INFO card 4111-1111-1111-1111\n"
    )
    billing = f"sqlite:///{tmp_path / 'billing.db'}"
    create_engine(billing).dispose()

    found = [str(f) for f in scan_all(billing, url, [log])]
    assert len(found) == 5, found
    assert any("events.sender_id#4" in f for f in found)
    assert any("rasa.log:2" in f for f in found)
    printed = "\n".join(found)
    for digits in ("4111111111111111", "4111 1111 1111 1111", "5555 5555 5555 4444", "4444"):
        assert digits not in printed
