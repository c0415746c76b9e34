"""The replay's summary as text: a table of verdicts per answer topic, then each difference."""

from __future__ import annotations

from worker.replay.compare import Report, Status

_TOPICS = ("true", "failure", "deadletter")


def render(report: Report, title: str, limit: int | None = None) -> str:
    lines = [title, ""]
    by_topic = report.by_topic()
    lines.append(f"{'answers':<12}{'true':>8}{'failure':>9}{'deadletter':>12}{'total':>8}")
    for status in Status:
        row = by_topic[status.value]
        cells = "".join(f"{row[t]:>{w}}" for t, w in zip(_TOPICS, (8, 9, 12), strict=True))
        lines.append(f"{status.value:<12}{cells}{sum(row.values()):>8}")
    notes = []
    if report.not_compared:
        notes.append(f"{report.not_compared} recorded answers belong to requests that are not in the recording")
    if report.header_only:
        notes.append(
            f"{report.header_only} equivalent answers hold JWEs to keys whose private half was not given "
            "(--decryption-keys): only their headers were compared"
        )
    if report.moved:
        notes.append(
            f"{report.moved} requests were placed by the config version their recorded answer names, not by "
            "their timestamp (the original worker read that config change later or earlier than they came)"
        )
    if notes:
        lines.append("")
        lines += [f"note: {n}" for n in notes]
    problems = report.problems()
    if problems:
        lines.append("")
        shown = problems if limit is None else problems[:limit]
        for v in shown:
            where = f"  {v.path}" if v.path else ""
            lines.append(f"{v.status.value:<10} {v.label}  {v.topic}{where}: {v.reason}")
        if len(shown) < len(problems):
            lines.append(f"... and {len(problems) - len(shown)} more (--limit, or --json for all)")
    counts = report.counts()
    verdict = "PASS" if report.passed else "FAIL"
    lines.append("")
    lines.append(
        f"{verdict}: {counts['different']} different, {counts['missing']} missing "
        f"({counts['identical']} identical, {counts['equivalent']} equivalent, {counts['extra']} extra)"
    )
    return "\n".join(lines)
