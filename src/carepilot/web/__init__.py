"""Dashboard templates and static files."""
