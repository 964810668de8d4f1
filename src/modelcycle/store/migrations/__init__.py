"""Alembic migrations of the metadata schema (see ``_schema.py``)."""
