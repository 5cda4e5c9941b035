"""The one progress helper: a bar on a terminal, timed lines in a log, nothing when switched off;
the same calls in every mode, and never falsy."""

import io

from genolm.io.progress import plural, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_per_interval_and_one_where_the_work_ended():
    out, clock = io.StringIO(), Clock()
    p = progress(1000, "embed", "seq", stream=out, every=30, clock=clock)
    for _ in range(10):  # 10 updates in 20 s: nothing yet
        clock.now += 2
        p.update(10)
    assert out.getvalue() == ""
    clock.now = 40
    p.update(300)  # 400 of 1000 in 40 s: 10 a second, 60 s left
    p.set_postfix(loss="1.234")
    clock.now = 50
    p.update(100)  # within 30 s of the last line: silent
    p.close()
    lines = out.getvalue().splitlines()
    assert lines == ["genolm embed: 400/1,000 seqs (40%), 10 seq/s, ~1m00s left",
                     "genolm embed: 500/1,000 seqs (50%), 10 seq/s, ~50s left, loss 1.234"]


def test_unknown_total_and_a_short_job_in_a_log():
    out, clock = io.StringIO(), Clock()
    with progress(None, "embed", "seq", stream=out, every=30, clock=clock) as p:
        clock.now = 31
        p.update(62)
    assert out.getvalue().splitlines() == ["genolm embed: 62 seqs, 2.0 seq/s"] * 2  # the line, then the end
    out = io.StringIO()
    with progress(5, "quick", "step", stream=out, every=30, clock=Clock()) as p:
        p.update(5)
    assert out.getvalue() == ""  # done before the first interval: no line at all


def test_a_terminal_gets_a_bar_even_without_a_total():
    term = Terminal()
    p = progress(None, "embed", "seq", stream=term)
    assert p  # a tqdm bar without a total is falsy; this object never is
    p.update(3)
    p.set_total(10)
    p.update(2)
    p.write("a message")
    p.close()
    text = term.getvalue()
    assert "\r" in text and "embed:" in text and "5/10" in text and "a message\n" in text


def test_switched_off_it_draws_nothing_but_still_writes_messages():
    term = Terminal()
    p = progress(10, "x", "step", stream=term, enabled=False, every=0)
    assert p
    p.update(5)
    p.set_postfix(a=1)
    p.write("validation: 1.9 bits per base")
    p.close()
    assert term.getvalue() == "validation: 1.9 bits per base\n"


def test_plural():
    assert [plural(n, "record") for n in (0, 1, 2, 12345)] == ["0 records", "1 record", "2 records", "12,345 records"]
    assert plural(3, "batch", "batches") == "3 batches"


def test_a_bar_keeps_redrawing_when_the_work_slows_down():
    # tqdm's default learns from fast first updates to skip the next ~hundreds: a run that then
    # slows down (validation, a busy machine) showed no change for minutes.
    import time

    term = Terminal()
    p = progress(10_000, "pretrain", "step", stream=term)
    for _ in range(2000):
        p.update(1)
    before = term.getvalue().count("\r")
    for _ in range(3):
        time.sleep(0.15)  # more than tqdm's 0.1 s between draws
        p.update(1)
    assert term.getvalue().count("\r") - before == 3
    p.close()
