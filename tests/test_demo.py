"""``make demo`` runs ``ridgeline.demo``: it must finish and answer the essays' questions."""

import contextlib
import io

from ridgeline import demo


def test_the_demo_runs_and_answers_the_essays_questions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo writes its pictures into the current directory
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert demo.main() == 0
    text = out.getvalue()
    assert "Essay 001's question" in text and "answer:" in text
    assert "USD per million output tokens" in text
    assert "static batch of 1:" in text and "in-flight batching:" in text
    assert "ridge point" in text
