"""Show training's progress: which candidate, which fold, how long so far.

On a terminal one line is rewritten in place; when the output is a file or a
pipe (CI logs, ``tee``), each step is a plain line of its own, so a log never
fills with carriage returns. ``Progress(None)`` says nothing.
"""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """Report progress to ``stream`` (a live line when it is a terminal).

    Example
    -------
    >>> progress = Progress(sys.stdout)       # doctest: +SKIP
    >>> progress.fold("boosting", 2, 5)       # doctest: +SKIP
    [  1.3 s] boosting: fold 2/5
    """

    def __init__(self, stream: TextIO | None):
        self.stream = stream
        self.live = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._line_open = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def fold(self, family: str, fold: int, folds: int) -> None:
        self._say(f"{family}: fold {fold}/{folds}", final=False)

    def step(self, message: str) -> None:
        """A step other than a fold (refitting, measuring)."""
        self._say(message, final=False)

    def candidate_done(self, family: str, mean: float | None, std: float | None, skipped: str | None) -> None:
        if skipped:
            self._say(f"{family}: {skipped}", final=True)
        else:
            self._say(f"{family}: cross-validation score {mean:.4f} ± {std:.4f}", final=True)

    def close(self) -> None:
        """End a live line, so what follows starts on a line of its own."""
        if self.stream is not None and self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False

    def _say(self, message: str, final: bool) -> None:
        if self.stream is None:
            return
        text = f"[{self.elapsed():6.1f} s] {message}"
        if self.live:
            # \r back to the start, \033[K clears what a longer line left behind.
            self.stream.write(f"\r\033[K{text}" + ("\n" if final else ""))
            self._line_open = not final
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
