"""Paging links (self, first, next, previous) for searchset and history Bundles.

Paging is by offset with a stable sort (rid as the last key), so walking `next` visits every
match exactly once while the data does not change.
"""

from __future__ import annotations

from urllib.parse import urlencode


def page_links(base: str, rtype: str | None, pairs: list[tuple[str, str]],
                count: int | None, offset: int, total: int | None,
                returned: int) -> list[dict[str, str]]:
    kept = [(k, v) for k, v in pairs if k not in ("_offset", "_count")]
    path = f"{base}/{rtype}" if rtype else base

    def url(off: int) -> str:
        q = [*kept, ("_count", str(count))] if count is not None else list(kept)
        if off:
            q.append(("_offset", str(off)))
        return f"{path}?{urlencode(q)}"

    links = [{"relation": "self", "url": url(offset)}]
    if count:
        links.append({"relation": "first", "url": url(0)})
        more = (offset + returned < total) if total is not None else returned == count
        if more:
            links.append({"relation": "next", "url": url(offset + count)})
        if offset > 0:
            links.append({"relation": "previous", "url": url(max(0, offset - count))})
    return links
