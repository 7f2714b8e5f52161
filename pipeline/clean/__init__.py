"""Stage package: clean."""
