"""`make eval`: how well the trained model understands each language, on data it never trained on.

Three test sets, none ever trained on (data/nlu/<lang>/ is what the model trains on):
  held-out  tests/nlu/<lang>.yml, written alongside the training data;
  unseen    tests/nlu/unseen/<lang>.yml, written apart from it in the style of real callers and
            texters (fillers, typos, code-switching, regional forms);
  fresh     tests/nlu/fresh/<lang>.yml, written apart from all of the above: opt-outs that say
            "message", "call" or "reminder" against requests to be reminded, and short replies.
For each set and language this prints intent accuracy and macro-F1, the worst intents and the
most frequent confusions, and how often the language detector names the right language.
--set picks one set (default: all). With --cross-validation it also runs
`rasa test nlu --cross-validation` on the training data. Writes results/nlu/report.json (one
section per set) and a confusion matrix per language (results/nlu/<set>/<lang>.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import subprocess
import sys
from pathlib import Path

import yaml
from sklearn.metrics import classification_report, confusion_matrix

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from settle.config import load_business_settings  # noqa: E402
from settle.understanding.language_detection import detect_language  # noqa: E402

TEST_SETS = {
    "held-out": ROOT / "tests" / "nlu",
    "unseen": ROOT / "tests" / "nlu" / "unseen",
    "fresh": ROOT / "tests" / "nlu" / "fresh",
}


def test_examples(folder: Path, language: str) -> list:
    """(text, intent) pairs of one language's test file in a Rasa NLU YAML folder."""
    data = yaml.safe_load((folder / f"{language}.yml").read_text(encoding="utf-8"))
    return [
        (line.strip()[2:].strip(), item["intent"])
        for item in data["nlu"]
        for line in item["examples"].splitlines()
        if line.strip().startswith("- ")
    ]


async def predict(model: Path, texts: list) -> list:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # not a debug line per parsed message
    logging.getLogger("rasa").setLevel(logging.WARNING)
    agent = Agent.load(str(model))
    return [(await agent.parse_message(text))["intent"]["name"] for text in texts]


def score_language(language: str, examples: list, guesses: list, languages, out: Path) -> dict:
    """One language's scores; writes its confusion matrix to out/<language>.txt."""
    truth = [intent for _, intent in examples]
    labels = sorted(set(truth))
    scores = classification_report(truth, guesses, labels=labels, output_dict=True, zero_division=0)
    detections = [detect_language(text, languages) for text, _ in examples]
    named = [d for d in detections if d is not None]
    right = sum(d.language == language for d in named)
    matrix = confusion_matrix(truth, guesses, labels=labels)
    width = max(len(label) for label in labels)
    lines = [" " * width + " " + " ".join(f"{i:>3}" for i in range(len(labels)))]
    lines += [
        f"{label:>{width}} " + " ".join(f"{n:>3}" for n in row) + f"  ({i})"
        for i, (label, row) in enumerate(zip(labels, matrix, strict=False))
    ]
    (out / f"{language}.txt").write_text("\n".join(lines) + "\n")
    return {
        "examples": len(truth),
        "accuracy": round(
            sum(t == g for t, g in zip(truth, guesses, strict=False)) / len(truth), 4
        ),
        "macro_f1": round(scores["macro avg"]["f1-score"], 4),
        "per_intent_f1": {label: round(scores[label]["f1-score"], 3) for label in labels},
        # A missed opt-out keeps messaging someone who said stop: recall is kept apart from F1.
        "per_intent_recall": {label: round(scores[label]["recall"], 3) for label in labels},
        "per_intent_precision": {label: round(scores[label]["precision"], 3) for label in labels},
        "confusions": collections.Counter(
            f"{t} -> {g}" for t, g in zip(truth, guesses, strict=False) if t != g
        ).most_common(10),
        "language_detected": round(len(named) / len(truth), 3),
        "language_right_when_detected": round(right / len(named), 3) if named else None,
    }


def print_table(name: str, folder: Path, report: dict) -> None:
    print(f"\n{name} set ({folder.relative_to(ROOT)}/<language>.yml)")
    print(
        f"{'language':8} {'examples':>8} {'accuracy':>8} {'macro-F1':>8} {'detected':>8} "
        f"{'right':>6}  weakest intents"
    )
    for language, r in report.items():
        weakest = sorted((f1, label) for label, f1 in r["per_intent_f1"].items())[:3]
        print(
            f"{language:8} {r['examples']:>8} {r['accuracy']:>8.3f} {r['macro_f1']:>8.3f} "
            f"{r['language_detected']:>8.0%} {(r['language_right_when_detected'] or 0):>6.0%}  "
            + ", ".join(f"{label} {f1:.2f}" for f1, label in weakest)
        )
    mean = sum(r["macro_f1"] for r in report.values()) / len(report)
    print(f"mean macro-F1 {mean:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(ROOT / "models" / "settle.tar.gz"))
    parser.add_argument(
        "--set",
        choices=[*TEST_SETS, "all"],
        default="all",
        help="which test set to score (default: all, one table each)",
    )
    parser.add_argument("--cross-validation", action="store_true")
    args = parser.parse_args()
    languages = load_business_settings().languages
    out = ROOT / "results" / "nlu"
    sets = list(TEST_SETS) if args.set == "all" else [args.set]

    examples = {
        (name, language): test_examples(TEST_SETS[name], language)
        for name in sets
        for language in languages
    }
    everything = [text for pairs in examples.values() for text, _ in pairs]
    predicted = iter(asyncio.run(predict(Path(args.model), everything)))
    report: dict = {}
    for name in sets:
        (out / name).mkdir(parents=True, exist_ok=True)
        report[name] = {}
        for language in languages:
            pairs = examples[name, language]
            guesses = [next(predicted) for _ in pairs]
            report[name][language] = score_language(language, pairs, guesses, languages, out / name)
        print_table(name, TEST_SETS[name], report[name])
    print(f"\nconfusion matrices in {out}/<set>/<language>.txt, details in {out}/report.json")
    print(
        "Entities: invoice numbers, postal codes, amounts, dates and positions are read by "
        "rule-based parsers in the actions (settle/identity.py, settle/billing.py), tested "
        "per language in tests/unit/test_identity_and_choice.py, not by the NLU model."
    )
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))

    if args.cross_validation:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rasa",
                "test",
                "nlu",
                "--nlu",
                str(ROOT / "data" / "nlu"),
                "--config",
                str(ROOT / "config.yml"),
                "--cross-validation",
                "--folds",
                "3",
                "--out",
                str(out / "cross-validation"),
            ],
            check=True,
            cwd=ROOT,
        )
        cv = json.loads((out / "cross-validation" / "intent_report.json").read_text())
        print(
            f"3-fold cross-validation on all training data: intent macro-F1 "
            f"{cv['macro avg']['f1-score']:.3f}, accuracy {cv['accuracy']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
