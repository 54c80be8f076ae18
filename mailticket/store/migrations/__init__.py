"""Alembic migrations of the store's schema (`versions/`), run by `store.migrate`."""
