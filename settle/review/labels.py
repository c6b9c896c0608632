"""Intents operators give to customers' messages (migration 0012), and the Rasa NLU files
they make: data/nlu/<lang>/review.yml, the labelled messages only, card numbers masked,
each text once per language (its latest label wins)."""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path

import yaml
from sqlalchemy import Column, Integer, String, Text, delete, select
from sqlalchemy.orm import Session

from settle.core import audit
from settle.core.settings_file import PROJECT_ROOT
from settle.privacy.cards import mask_card_numbers
from settle.store.models import Base, UTCDateTime, utcnow

EXPORT_NAME = "review.yml"
_NOT_ANNOTATIONS = str.maketrans("[]{}", "()()")


class TurnLabel(Base):
    """The intent a customer's message should have had. Only the masked text is kept, not
    who wrote it; the tracker event it came from is named so a turn is labelled once."""

    __tablename__ = "turn_labels"

    id = Column(Integer, primary_key=True)
    tracker_event_id = Column(Integer, nullable=False, unique=True)
    text = Column(Text, nullable=False)  # masked
    language = Column(String(8), nullable=False)
    intent = Column(String(64), nullable=False)
    labelled_by = Column(String(254), nullable=False)  # the operator's e-mail
    labelled_at = Column(UTCDateTime(), nullable=False, default=utcnow)


@functools.cache
def domain_intents(domain: Path = PROJECT_ROOT / "domain.yml") -> tuple[str, ...]:
    """The intents a message may be labelled with: the domain's, without the fallback and
    the intents only Settle itself sends (EXTERNAL_…)."""
    intents = yaml.safe_load(domain.read_text()).get("intents") or []
    names = [next(iter(i)) if isinstance(i, dict) else str(i) for i in intents]
    return tuple(n for n in names if n != "nlu_fallback" and not n.startswith("EXTERNAL_"))


def label_turn(
    session: Session, event_id: int, text: str, language: str, intent: str, email: str
) -> TurnLabel:
    """Label (or label again) one message; audited as operator:<email>."""
    if intent not in domain_intents():
        raise ValueError(f"{intent!r} is not an intent of the domain")
    label = session.scalar(select(TurnLabel).where(TurnLabel.tracker_event_id == event_id))
    if label is None:
        label = TurnLabel(tracker_event_id=event_id)
        session.add(label)
    label.text = mask_card_numbers(" ".join(text.split()))
    label.language, label.intent = language, intent
    label.labelled_by, label.labelled_at = email, utcnow()
    audit.record(
        session, f"operator:{email}", "turn.labelled", f"tracker_event:{event_id}", intent=intent
    )
    return label


def labels_of(session: Session, event_ids: list[int]) -> dict[int, str]:
    """event id -> the intent it was labelled with."""
    rows = session.execute(
        select(TurnLabel.tracker_event_id, TurnLabel.intent).where(
            TurnLabel.tracker_event_id.in_(event_ids)
        )
    )
    return {event_id: intent for event_id, intent in rows}


def forget_turns(session: Session, event_ids: list[int]) -> int:
    """Delete the labels of these tracker events (a customer erased); returns how many."""
    forgotten = 0
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        result = session.execute(delete(TurnLabel).where(TurnLabel.tracker_event_id.in_(chunk)))
        forgotten += result.rowcount or 0
    return forgotten


def training_data(session: Session) -> dict[str, str]:
    """language -> the Rasa NLU YAML of its labelled messages."""
    latest: dict[str, dict[str, str]] = defaultdict(dict)  # language -> text -> intent
    rows = session.scalars(select(TurnLabel).order_by(TurnLabel.labelled_at, TurnLabel.id))
    for label in rows:
        text = _example(mask_card_numbers(" ".join(label.text.split())))
        if text:
            latest[label.language][text] = label.intent
    return {language: _nlu_yaml(texts) for language, texts in sorted(latest.items())}


def export(session: Session, nlu_dir: Path) -> list[Path]:
    """Write <nlu_dir>/<lang>/review.yml for each language with labelled messages."""
    written = []
    for language, document in training_data(session).items():
        path = nlu_dir / language / EXPORT_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
        written.append(path)
    return written


def _nlu_yaml(texts: dict[str, str]) -> str:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in texts.items():
        by_intent[intent].append(text)
    lines = [
        "# Written by `settle review export` from the console's labels: do not edit by hand.",
        'version: "3.1"',
        "nlu:",
    ]
    for intent in sorted(by_intent):
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in sorted(by_intent[intent])]
    return "\n".join(lines) + "\n"


def _example(text: str) -> str:
    """A message as a training example: Rasa reads [text](entity) and {…} in an example as
    entity annotations, which a customer's words never are."""
    return text.translate(_NOT_ANNOTATIONS)
