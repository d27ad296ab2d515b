"""Services that assemble Insights for one patient from the engines."""
