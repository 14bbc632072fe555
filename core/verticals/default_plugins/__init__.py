"""Plugins shipped inside the package, so the core serves, meters and tests without any other plugin."""
