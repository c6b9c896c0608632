"""The unseen NLU test set (tests/nlu/unseen/): complete, named after real intents, and
never trained on — an utterance that leaks into data/nlu/ stops measuring anything."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

from settle.config import load_business_settings

ROOT = Path(__file__).resolve().parents[2]
UNSEEN = ROOT / "tests" / "nlu" / "unseen"
MINIMUM = 10
# Entity markup in training examples: [text](entity) or [text]{"entity": ...}.
ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
LANGUAGES = load_business_settings().languages


def normalised(text: str) -> str:
    text = ANNOTATION.sub(r"\1", text).lower()
    kept = "".join(
        " " if unicodedata.category(c)[0] in "PS" else c for c in unicodedata.normalize("NFC", text)
    )
    return " ".join(kept.split())


def examples(path: Path) -> dict[str, list[str]]:
    """Intent -> its examples, for every `- intent:` block in a Rasa NLU YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: dict[str, list[str]] = {}
    for item in data.get("nlu") or []:
        if "intent" not in item:
            continue
        lines = [line.strip()[2:].strip() for line in str(item.get("examples", "")).splitlines()]
        found.setdefault(item["intent"], []).extend(line for line in lines if line)
    return found


def repeated(path: Path) -> list[tuple[str, str, str]]:
    """(text, its first intent, its second) for every utterance a test file holds twice."""
    seen: dict[str, str] = {}
    found = []
    for intent, texts in examples(path).items():
        for text in texts:
            key = normalised(text)
            if key in seen:
                found.append((text, seen[key], intent))
            seen[key] = intent
    return found


def in_training_data(path: Path) -> list[str]:
    """The utterances of a test file that data/nlu/ trains on (normalised alike)."""
    trained = {
        normalised(text)
        for data in sorted((ROOT / "data" / "nlu").rglob("*.yml"))
        for texts in examples(data).values()
        for text in texts
    }
    assert trained, "no training examples found under data/nlu/"
    return [
        text for texts in examples(path).values() for text in texts if normalised(text) in trained
    ]


def customer_intents() -> set[str]:
    return set(examples(UNSEEN / "en.yml"))


def test_every_language_has_a_file():
    assert sorted(p.stem for p in UNSEEN.glob("*.yml")) == sorted(LANGUAGES)


def test_intents_are_the_domains_customer_intents():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    known = set(domain["intents"])
    assert customer_intents() <= known
    skipped = known - customer_intents()
    # Only what no customer says is left out: Rasa's fallback and the service's triggers.
    assert all(n == "nlu_fallback" or n.startswith("EXTERNAL_") for n in skipped), skipped


@pytest.mark.parametrize("language", LANGUAGES)
def test_enough_examples_per_intent(language):
    found = examples(UNSEEN / f"{language}.yml")
    assert set(found) == customer_intents()
    short = {intent: len(texts) for intent, texts in found.items() if len(texts) < MINIMUM}
    assert not short, f"{language}: fewer than {MINIMUM} examples: {short}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_utterance_is_repeated_or_has_two_labels(language):
    found = repeated(UNSEEN / f"{language}.yml")
    assert not found, found


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_unseen_utterance_is_in_the_training_data(language):
    leaked = in_training_data(UNSEEN / f"{language}.yml")
    assert not leaked, f"{language}: in data/nlu/ already, so not unseen: {leaked}"
