"""Prefect application layer: thin flows over pipeline/ stages. Only flows/build.py knows stage order."""
