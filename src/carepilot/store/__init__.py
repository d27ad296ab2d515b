"""Persistence: SQLAlchemy tables, repositories and Alembic migrations. The only package that speaks SQL."""
