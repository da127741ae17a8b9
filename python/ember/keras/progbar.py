"""Keras-style progress bar: `12/50 [======>.......] - ETA: 1s - loss: 0.2345`. On a terminal (verbose=1) it redraws
one line in place with '\\r', at most every 0.1 s; otherwise (verbose=2, or output not a terminal) it prints one
finished line per epoch. Zero dependencies; writes to sys.stdout at the time of each call (so tests can capture)."""
import sys
import time

__all__ = ["Progbar", "format_logs"]

BAR_WIDTH = 30
REDRAW_INTERVAL = 0.1


def _format_value(value):
    return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4e}"


def format_logs(logs):
    return "".join(f" - {name}: {_format_value(value)}" for name, value in logs.items())


def _format_duration(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_per_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def stream_is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progbar:
    """Progress over `target` steps. update(step, logs_fn) is cheap: logs_fn() (which may compute metrics) is only
    called when a line is actually drawn."""

    def __init__(self, target, verbose=1, stream=None):
        self.target = target
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.dynamic = verbose == 1 and stream_is_terminal(self.stream)
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn_width = 0
        self.line_open = False          # a partial line is on screen (needs a newline before other output)

    def wants_update(self, now=None):
        """True when update() would redraw now (so the caller only computes logs when they are shown)."""
        if not self.dynamic:
            return False
        now = time.perf_counter() if now is None else now
        return now - self._last_draw >= REDRAW_INTERVAL

    def _bar(self, step):
        if self.target is None:
            return f"{step}/Unknown"
        digits = len(str(self.target))
        filled = min(int(BAR_WIDTH * step / self.target), BAR_WIDTH) if self.target else BAR_WIDTH
        head = ("=" if step >= (self.target or 0) else ">") if filled else ""
        bar = "=" * max(filled - 1, 0) + head + "." * (BAR_WIDTH - filled)
        return f"{step:>{digits}}/{self.target} [{bar}]"

    def update(self, step, logs):
        """Redraws the in-place line (terminal, verbose=1) with running logs (a dict)."""
        now = time.perf_counter()
        self._last_draw = now
        elapsed = now - self.start
        eta = elapsed / step * (self.target - step) if step and self.target else 0.0
        line = f"{self._bar(step)} - ETA: {_format_duration(eta)}{format_logs(logs)}"
        self._write_in_place(line)

    def _write_in_place(self, line):
        padding = max(self._drawn_width - len(line), 0)
        self.stream.write("\r" + line + " " * padding)
        self.stream.flush()
        self._drawn_width = len(line)
        self.line_open = True

    def finish(self, step, logs):
        """The epoch's final line: `50/50 [====] - 0s 2ms/step - loss: ...`, ended with a newline."""
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / step if step else 0.0
        line = f"{self._bar(step)} - {_format_duration(elapsed)} {_format_per_step(per_step)}{format_logs(logs)}"
        if self.dynamic:
            self._write_in_place(line)
            self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.line_open = False

    def end_line(self):
        """Ends a partial in-place line (e.g. after Ctrl-C) so the terminal prompt starts on a clean line."""
        if self.line_open:
            self.stream.write("\n")
            self.stream.flush()
            self.line_open = False
