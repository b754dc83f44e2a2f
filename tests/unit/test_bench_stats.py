"""The benchmark's arithmetic: if these are wrong, every reported figure is wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))  # ``bench`` is a folder of scripts, not an installed package

from bench import followups, load, nlu_eval, proc_stats  # noqa: E402

# --- percentiles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order of arrival does not matter
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        (list(range(1, 101)), 95, 95.05),  # numpy.percentile(range(1, 101), 95)
        (list(range(1, 101)), 99, 99.01),
    ],
)
def test_percentile_interpolates_linearly_like_numpy(values: list[float], q: float, expected: float) -> None:
    assert load.percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none_not_zero() -> None:
    assert load.percentile([], 95) is None


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_rejects_out_of_range(q: float) -> None:
    with pytest.raises(ValueError):
        load.percentile([1.0], q)


def test_ratio_is_none_without_a_usable_reference() -> None:
    assert load.ratio(3.0, 1.5) == pytest.approx(2.0)
    assert load.ratio(None, 1.0) is None
    assert load.ratio(1.0, None) is None
    assert load.ratio(1.0, 0.0) is None


def test_levels_and_urls_are_validated() -> None:
    assert load.parse_levels("1, 10,50") == [1, 10, 50]
    for bad in ("0", "a,b", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            load.parse_levels(bad)
    assert load.loopback_urls("http://127.0.0.1:5005/,http://localhost:5006") == [
        "http://127.0.0.1:5005",
        "http://localhost:5006",
    ]
    assert load.loopback_urls("http://[::1]:5005") == ["http://[::1]:5005"]
    for bad in ("http://10.0.0.5:5005", "http://example.com", "ftp://127.0.0.1"):
        with pytest.raises(argparse.ArgumentTypeError):
            load.loopback_urls(bad)


# --- precision / recall / F1 ------------------------------------------------------------

EXPECTED = ["billing", "billing", "billing", "delivery", "delivery", "none"]
PREDICTED = ["billing", "billing", "delivery", "delivery", "billing", "none"]


def test_label_scores_one_vs_rest() -> None:
    billing = nlu_eval.label_scores(EXPECTED, PREDICTED, "billing")
    assert (billing.support, billing.predicted) == (3, 3)
    assert billing.precision == pytest.approx(2 / 3)
    assert billing.recall == pytest.approx(2 / 3)
    assert billing.f1 == pytest.approx(2 / 3)

    delivery = nlu_eval.label_scores(EXPECTED, PREDICTED, "delivery")
    assert delivery.precision == pytest.approx(1 / 2)
    assert delivery.recall == pytest.approx(1 / 2)
    assert delivery.f1 == pytest.approx(1 / 2)


def test_f1_is_the_harmonic_mean() -> None:
    assert nlu_eval.f1_score(1.0, 0.5) == pytest.approx(2 / 3)
    assert nlu_eval.f1_score(0.0, 0.0) == 0.0


def test_label_never_predicted_or_never_expected_scores_zero_without_dividing_by_zero() -> None:
    never_predicted = nlu_eval.label_scores(["account"], ["other"], "account")
    assert (never_predicted.precision, never_predicted.recall, never_predicted.f1) == (0.0, 0.0, 0.0)
    never_expected = nlu_eval.label_scores(["account"], ["other"], "other")
    assert (never_expected.support, never_expected.predicted, never_expected.f1) == (0, 1, 0.0)


def test_label_scores_refuses_unpaired_lists() -> None:
    with pytest.raises(ValueError):
        nlu_eval.label_scores(["a", "b"], ["a"], "a")


def test_macro_f1_averages_only_labels_the_data_expects() -> None:
    scores = [nlu_eval.label_scores(EXPECTED, PREDICTED, label) for label in nlu_eval.ALL_LABELS]
    # billing 2/3, delivery 1/2, none 1; the five absent categories are left out.
    assert nlu_eval.macro_f1(scores) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    never_expected = nlu_eval.label_scores(["account"], ["other"], "other")
    assert nlu_eval.macro_f1([never_expected]) == 0.0
    assert nlu_eval.macro_f1([]) == 0.0


def test_category_scores_count_complaints_read_as_none_as_misses_and_ignore_non_complaints() -> None:
    expected = ["billing", "billing", "account", "none", "none"]
    predicted = ["billing", "none", "delivery", "account", "none"]
    scores = {s.label: s for s in nlu_eval.category_scores(expected, predicted)}
    assert set(scores) == {"billing", "delivery", "account"}
    assert (scores["billing"].precision, scores["billing"].recall) == (1.0, 0.5)
    assert (scores["account"].support, scores["account"].predicted, scores["account"].f1) == (1, 0, 0.0)
    assert (scores["delivery"].support, scores["delivery"].predicted) == (0, 1)
    result = nlu_eval.evaluate("combined", expected, predicted)
    # billing 2/3 and account 0 are averaged; delivery, never expected, is only reported.
    assert result.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)
    assert result.complaint_recall == pytest.approx(2 / 3)
    assert result.false_positive_rate == pytest.approx(1 / 2)
    assert (result.complaints, result.non_complaints) == (3, 2)


def test_confusion_pairs() -> None:
    assert nlu_eval.confusion_pairs(EXPECTED, PREDICTED) == [
        (("billing", "delivery"), 1),
        (("delivery", "billing"), 1),
    ]


def test_truncate_keeps_one_line_within_the_limit() -> None:
    assert nlu_eval.truncate("short") == "short"
    long = "word " * 30
    cut = nlu_eval.truncate(long, 60)
    assert len(cut) == 60 and cut.endswith("…")
    assert nlu_eval.truncate("two\nlines") == "two lines"


def test_model_variant_reads_only_complaint_intents() -> None:
    config = None  # the classifier alone needs no triage settings
    assert nlu_eval.model_category(nlu_eval.Parse("complain_billing", 0.2), "x", config) == "billing"
    assert nlu_eval.model_category(nlu_eval.Parse("greet", 0.9), "x", config) == "none"
    assert nlu_eval.model_category(nlu_eval.Parse("complain_weather", 0.9), "x", config) == "none"


# --- CSV validation -----------------------------------------------------------------------


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cases.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_cases_accepts_optional_flag_and_source_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, "text,category,is_complaint,source\n"
                          "I was charged twice,Billing,1,cfpb:1\nhello,none,0,banking77:test:2\n")
    cases = nlu_eval.read_cases(path)
    assert [(c.text, c.category, c.is_complaint) for c in cases] == [
        ("I was charged twice", "billing", True),
        ("hello", "none", False),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("text\nhello\n", r"lacks column\(s\) category"),
        ("text,category\n", "no rows"),
        ("text,category\nhello,weather\n", "'weather' is not one of"),
        ("text,category\n,billing\n", "empty text"),
        ("text,category,is_complaint\nhello,none,1\n", "contradicts"),
    ],
)
def test_bad_csv_is_a_dataset_error(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(nlu_eval.DatasetError, match=message):
        nlu_eval.read_cases(_csv(tmp_path, content))


def test_bad_csv_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert nlu_eval.main([str(_csv(tmp_path, ""))]) == 2
    assert nlu_eval.main([str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and "cannot read" in err and "Traceback" not in err


# --- process tree -------------------------------------------------------------------------


def test_descendants_are_collected_once_and_dead_roots_ignored() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 30: 20}
    assert proc_stats.with_descendants([10, 11, 999], parents) == {10, 11, 12, 13}


def test_rss_of_this_process_is_positive() -> None:
    import os

    total, count = proc_stats.tree_rss_bytes([os.getpid()])
    assert count >= 1 and total > 0


# --- Telegram against REST --------------------------------------------------------------


def test_channel_ratios_are_per_round_and_judged_on_their_median() -> None:
    from bench.telegram_channel import channel_ratios

    results = {
        "rest": [{"msg_per_s": 90.0, "p95_ms": 700}, {"msg_per_s": 100.0, "p95_ms": 600}, {"msg_per_s": 80.0, "p95_ms": 500}],
        "telegram": [{"msg_per_s": 60.0, "p95_ms": 980}, {"msg_per_s": 80.0, "p95_ms": 720}, {"msg_per_s": 70.0, "p95_ms": 600}],
    }
    ratios = channel_ratios(results)
    assert ratios["per_round"] == {"msg_per_s": [1.5, 1.25, 1.14], "p95": [1.4, 1.2, 1.2]}
    assert ratios["median"] == {"msg_per_s": 1.25, "p95": 1.2}
    assert ratios["within_target"] == {"msg_per_s": True, "p95": True}
    results["telegram"][1] = {"msg_per_s": 50.0, "p95_ms": 720}
    assert channel_ratios(results)["within_target"] == {"msg_per_s": False, "p95": True}


# --- follow-ups ---------------------------------------------------------------------------


def _followups_result(due_per_s: float, p99_s: float, sent: int = 100_000, duplicates: int = 0) -> followups.Result:
    return followups.Result(
        workers=1, count=100_000, due_per_s=due_per_s, sent=sent, schedule_s=1.0, sweep_s=0.2, sweep_late_s=0.0,
        jobs_per_s=due_per_s, p50_s=0.5, p99_s=p99_s, max_s=p99_s, duplicates=duplicates, worker_cpu_ms=0.4, load=(1.0, 1.0),
    )


def _due_over(seconds: float, count: int = 100_000) -> dict[str, float]:
    """Due times as bench/followups.py writes them: ``count`` evenly over ``seconds``."""
    return {f"followup:CX-{i:06d}:72h:survey": 1_800_000_000 + i * seconds / count for i in range(count)}


def test_the_follow_up_due_rate_is_read_from_the_due_times_written() -> None:
    assert followups.due_rate(_due_over(60)) == pytest.approx(1666.67, rel=1e-4)  # the "within one minute"
    assert followups.due_rate(_due_over(100)) == pytest.approx(1000.0, rel=1e-6)  # the target's rate
    assert followups.due_rate({"a": 5.0, "b": 5.0}) == float("inf")  # all due at once


def test_the_follow_up_verdict_is_judged_at_the_achieved_rate() -> None:
    assert _followups_result(999.99, 1.2).verdict == "met"
    assert _followups_result(1666.7, 2.4).verdict == "MISSED"
    assert _followups_result(600.0, 0.4).verdict == "n/a (only 600 due/s)"
    assert _followups_result(1000.0, 0.4, sent=99_999).verdict == "MISSED (not all sent once)"
    assert _followups_result(1000.0, 0.4, duplicates=1).verdict == "MISSED (not all sent once)"
