"""The workflow files shipped with dongflow (installed as package data)."""

from pathlib import Path

SHIPPED_DIR = Path(__file__).parent
