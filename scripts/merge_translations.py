"""Add the `responses` of settle/locales/<lang>.yml to domain.yml as language variations.

For translators: write the texts under `responses:` in settle/locales/<lang>.yml (keys as in
domain.yml; `name@socketio` for a channel's variation), run this, then delete that section.
English is each response's variation without a language condition: the default.
Existing variations are replaced, so running it twice changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

ROOT = Path(__file__).resolve().parent.parent


def main(languages) -> int:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    domain_file = ROOT / "domain.yml"
    domain = yaml.load(domain_file)
    for language in languages:
        texts = (yaml.load(ROOT / "settle" / "locales" / f"{language}.yml") or {}).get(
            "responses"
        ) or {}
        for key, text in texts.items():
            name, _, channel = key.partition("@")
            variations = domain["responses"].get(name)
            if variations is None:
                print(f"{language}: {name} is not a response in domain.yml", file=sys.stderr)
                return 1
            kept = [
                v
                for v in variations
                if not (_language(v) == language and v.get("channel") == (channel or None))
            ]
            condition = CommentedSeq([CommentedMap(type="slot", name="language", value=language)])
            condition.fa.set_flow_style()
            condition[0].fa.set_flow_style()
            variation = CommentedMap(condition=condition)
            if channel:
                variation["channel"] = channel
            variation["text"] = text
            kept.append(variation)
            domain["responses"][name] = kept
    yaml.dump(domain, domain_file)
    return 0


def _language(variation):
    for condition in variation.get("condition") or []:
        if condition.get("name") == "language":
            return condition.get("value")
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
