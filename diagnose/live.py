"""What a run in progress says: each condition once, at the epoch it first shows.

The live callback and ``diagnose --watch`` both feed a growing run to the
engine epoch by epoch and tell the user when a condition first becomes
clear. :class:`Notices` is that one decision, shared, so that a log
followed from the shell says the same thing at the same epoch as the
callback inside ``fit()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .report import Report

# Findings that describe every run in progress ("still improving: train longer"):
# news only once training has ended, so the final report says them, no notice.
UNTIL_THE_END = ("still-improving",)


@dataclass(frozen=True)
class Notice:
    """A condition that became clear at ``epoch`` (1-based), and the finding that shows it."""

    epoch: int
    condition: str
    rule: str
    message: str

    @property
    def text(self) -> str:
        return f"{self.condition} ({self.rule}): {self.message}"


class Notices:
    """Each problem condition once, at the first epoch whose report shows it.

    Example:
        >>> notices = Notices()
        >>> # for each epoch k: new = notices.update(k, report_of_the_first_k_epochs)
    """

    def __init__(self) -> None:
        self.first_seen: dict[str, int] = {}  # condition -> 1-based epoch first reported

    def reset(self) -> None:
        self.first_seen.clear()

    def update(self, epoch: int, report: Report) -> list[Notice]:
        """The notices ``report`` (of the first ``epoch`` epochs) adds to those said before."""
        new = []
        for condition in report.conditions:
            if condition == "healthy" or condition in self.first_seen:
                continue
            findings = [f for f in report.findings
                        if f.condition == condition and f.rule not in UNTIL_THE_END]
            if not findings:
                continue
            self.first_seen[condition] = epoch
            new.append(Notice(epoch, condition, findings[0].rule, findings[0].message))
        return new
