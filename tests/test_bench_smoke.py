"""The benchmark harness, at its tiny size, so it never rots (the real run is `make bench`)."""

import importlib.util
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import openai
import pytest

import bench.__main__ as bench_main
from bench.upstream import UpstreamProcess

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("1. Failover TTFT", "2. Cooldown", "3. Relay cost", "4. Concurrent streams", "5. Catalog",
           "6. Queries per chat")


def test_tiny_run_prints_one_table_and_rewrites_the_report(tmp_path):
    doc = tmp_path / "benchmarks.md"
    run = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--doc", str(doc)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert run.stdout.count("Figure ") == 1  # one table, one header
    text = doc.read_text()
    for figure in FIGURES:
        assert figure in run.stdout and f"| {figure} |" in text
    assert f"`python -m bench --size tiny --doc {doc}`" in text
    assert f"{os.cpu_count()} cores" in text and f"Python {platform.python_version()}" in text
    assert datetime.now(timezone.utc).strftime("%Y-%m-%d") in text
    assert "Concurrent streams and the serve configuration" in text
    if importlib.util.find_spec("litellm") is None:
        assert "LiteLLM is not installed" in run.stdout and "LiteLLM is not installed" in text


def test_a_failed_figure_fails_the_run_and_leaves_the_report_alone(tmp_path, monkeypatch, capsys):
    def broken(ctx):
        raise RuntimeError("upstream went away")

    monkeypatch.setattr(bench_main, "FIGURES", {"queries": broken})
    doc = tmp_path / "benchmarks.md"
    doc.write_text("previous report\n")
    assert bench_main.main(["--size", "tiny", "--only", "queries", "--doc", str(doc)]) == 1
    out, err = capsys.readouterr()
    assert "upstream went away" in out and "Failed: queries" in err
    assert doc.read_text() == "previous report\n"


@pytest.fixture(scope="module")
def upstream():
    with UpstreamProcess() as process:
        yield process


def test_the_bench_upstream_speaks_the_wire_format_the_official_sdk_reads(upstream):
    client = openai.OpenAI(base_url=upstream.base_url, api_key="sk-bench", max_retries=0)
    stream = client.chat.completions.create(model="ok-3-0", messages=[{"role": "user", "content": "hi"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) == 3 and all(float(t) > 0 for t in texts)  # each token is its send time
    assert chunks[-1].usage.completion_tokens == 3
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="rl-7", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.response.headers["retry-after"] == "7"
    assert upstream.chat_calls("rl-7") == 1
