"""The fresh NLU test set (tests/nlu/fresh/): opt-out against reminder requests and short
replies, written apart from the training data and the other test sets, and never trained on."""

from __future__ import annotations

import pytest
import yaml

from tests.unit.test_nlu_unseen import LANGUAGES, ROOT, examples, in_training_data, repeated

FRESH = ROOT / "tests" / "nlu" / "fresh"
# The distinction the set measures gets more examples than the short replies around it.
MINIMUM = {"opt_out": 15, "request_reminder": 12, "deny": 6, "affirm": 6, "goodbye": 6}


def test_every_language_has_a_file():
    assert sorted(p.stem for p in FRESH.glob("*.yml")) == sorted(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_intents_are_in_the_domain(language):
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert set(examples(FRESH / f"{language}.yml")) <= set(domain["intents"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_enough_examples_per_intent(language):
    found = examples(FRESH / f"{language}.yml")
    assert set(found) == set(MINIMUM)
    short = {i: len(texts) for i, texts in found.items() if len(texts) < MINIMUM[i]}
    assert not short, f"{language}: fewer examples than {MINIMUM}: {short}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_utterance_is_repeated_or_has_two_labels(language):
    found = repeated(FRESH / f"{language}.yml")
    assert not found, found


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_fresh_utterance_is_in_the_training_data(language):
    leaked = in_training_data(FRESH / f"{language}.yml")
    assert not leaked, f"{language}: in data/nlu/ already, so not fresh: {leaked}"
