"""Shared by the workflow-version tests: variants of the shipped workflow written to a folder."""

from __future__ import annotations

from pathlib import Path

from workflows import SHIPPED_DIR

SHIPPED_TEXT = (SHIPPED_DIR / "space-improvement.yaml").read_text(encoding="utf-8")


def variant(version: int, *, rename_survey: bool = False, max_failed_tenders: int | None = None,
            title: str | None = None) -> str:
    """The shipped workflow as another version: ``rename_survey`` calls its first state site_survey;
    ``max_failed_tenders`` bounds that fact; ``title`` changes the Korean title (other content)."""
    text = SHIPPED_TEXT.replace("\nversion: 1\n", f"\nversion: {version}\n", 1)
    assert f"version: {version}" in text
    if rename_survey:
        text = text.replace("  - id: survey\n", "  - id: site_survey\n").replace("source: survey\n",
                                                                               "source: site_survey\n")
    if max_failed_tenders is not None:
        old = "  failed_tenders:\n    type: integer\n    default: 0\n    min: 0\n"
        assert old in text
        text = text.replace(old, old + f"    max: {max_failed_tenders}\n")
    if title is not None:
        text = text.replace("ko: 찾아가는 동주민센터 공간개선", f"ko: {title}", 1)
    return text


def write_variant(folder: Path, name: str = "space-improvement-v2.yaml", version: int = 2, **changes: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(variant(version, **changes), encoding="utf-8")  # type: ignore[arg-type]
    return path
