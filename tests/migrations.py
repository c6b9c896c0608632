"""The checks every migration test makes: the models and the migrated schema agree on the
tables a migration touches, and the migration goes down again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from settle.store.db import Store, alembic_config
from settle.store.models import Base


def schema_drift(store: Store, *names: str) -> list:
    """What autogenerate would still change that mentions any of `names` (a table, an index,
    a quoted column): [] when the migrations made the schema the models describe."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    return [d for d in diff if any(name in repr(d) for name in names)]


def downgrade(store: Store, revision: str) -> None:
    config = alembic_config(str(store.engine.url))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
