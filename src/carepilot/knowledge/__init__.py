"""Rule engines over versioned rule tables with a citation per row; pure functions over loaded data."""
