"""Stage package: augment."""
