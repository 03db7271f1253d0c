"""Command-line front-end (Typer + Rich). Parses and presents only; nothing imports it.

One module per command group; ``main.app`` assembles them. Every command calls the same
Python API a user would.
"""
