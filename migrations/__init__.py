"""Alembic migrations for the callbridge store (run with ``callbridge db upgrade``)."""
