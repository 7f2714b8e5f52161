"""Stage package: pair."""
