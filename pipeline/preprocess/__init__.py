"""Stage package: preprocess."""
