"""`jaxdl bench` is `python -m bench` of the checkout, with the arguments passed through."""
import os
import subprocess
import sys

from jaxdl import cli


def test_jaxdl_bench_passes_its_arguments_to_python_m_bench():
    out = subprocess.run([sys.executable, "-m", "jaxdl.cli", "bench", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert out.stdout.startswith("usage: python -m bench")  # bench's own parser answered
    assert "--report-only" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "jaxdl.cli", "bench", "--no-such-option"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--no-such-option" in bad.stderr


def test_jaxdl_bench_outside_a_checkout_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setattr(os.path, "isfile", lambda path: False)
    assert cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxdl: error: jaxdl bench needs a source checkout")
    assert len(err.splitlines()) == 1
