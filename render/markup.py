"""Inline Markdown in short texts (report notes), rendered for each output.

Notes are written once, in Markdown (`code`, **bold**, [text](url)), because the Markdown report
shows them as they are. Every other output renders them: HTML converts them to elements, plain
outputs (terminal, XLSX cells) drop the marks. Nothing else of Markdown is supported: notes are
one line.
"""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def plain(text: str) -> str:
    """The text without its Markdown marks: `dongflow plan` -> dongflow plan, [a](u) -> a (u)."""
    text = _CODE.sub(r"\1", text)
    text = _BOLD.sub(r"\1", text)
    return _LINK.sub(r"\1 (\2)", text)


def to_html(text: str) -> str:
    """The text as escaped HTML, its Markdown marks as elements (<code>, <strong>, <a>)."""
    out = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_html_outside_code(text[last : match.start()]))
        out.append(f"<code>{html.escape(match.group(1))}</code>")
        last = match.end()
    out.append(_html_outside_code(text[last:]))
    return "".join(out)


def _html_outside_code(text: str) -> str:
    text = html.escape(text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)

    def link(match: re.Match[str]) -> str:
        url = match.group(2)
        if not re.match(r"^(https?://|mailto:|#|/)", html.unescape(url)):
            return match.group(0)  # no javascript: and the like
        return f'<a href="{url}">{match.group(1)}</a>'

    return _LINK.sub(link, text)
