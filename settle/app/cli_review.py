"""`settle review export`: the console's labelled messages as Rasa NLU training data,
data/nlu/<lang>/review.yml (README: The operator console)."""

from __future__ import annotations

from pathlib import Path

from settle.core.settings_file import PROJECT_ROOT
from settle.review import labels
from settle.store.db import Store

NLU_DIR = PROJECT_ROOT / "data" / "nlu"


def review_command(store: Store, args) -> int:
    with store.unit_of_work() as session:
        written = labels.export(session, Path(args.nlu_dir))
    for path in written:
        print(f"Wrote {path}")
    if not written:
        print("No labelled messages yet: nothing written.")
    return 0
