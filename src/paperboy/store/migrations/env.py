"""Alembic environment: runs migrations on the engine Paperboy hands over (see store/db.py).

On SQLite, Alembic's batch mode rebuilds a table to change its constraints (copy, drop, rename).
With foreign keys enforced, dropping the old ``papers`` table would cascade-delete every author
and category row, so enforcement is switched off for the migration (it can only be changed
outside a transaction) and the result is checked with ``PRAGMA foreign_key_check`` before commit.
"""

from alembic import context

from paperboy.store.schema import metadata

config = context.config
engine = config.attributes["engine"]

def _pragma(connection, value: str) -> None:
    # Straight to the driver: through SQLAlchemy it would run inside a BEGIN, where SQLite ignores it.
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={value}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _pragma(connection, "OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left {len(broken)} rows with dangling foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            _pragma(connection, "ON")
