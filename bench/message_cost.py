"""What each part of a message's path costs, ours beside the reference, in one run.

Usage: ``python bench/message_cost.py [--repeat 200]``

Prints medians (milliseconds or microseconds per call) for:
- NLU: parsing one message with our model and with the reference (``rasa init`` moodbot,
  Rasa's default TensorFlow pipeline), on the same customer messages, ours again on
  the same messages (their embeddings now cached), and ours on the customers' answers
  parsed as answers to the question a form has asked (not embedded: the featurizer gives
  them the mean training embedding);
- the sentence-embedding featurizer alone (``nlu.encoder``), mean per message: one call
  per message with no cache, one batch of all (as at training), a cache hit, and how often the
  scripted customers' own messages repeat (the cache's hit rate on them), each with one
  and with two OpenMP threads (a fresh process per thread count: OpenMP fixes it once);
- the two Rasa hot spots ``connectors/rasa_speedups.py`` replaces, before and after;
- the Redis tracker store: saving and reading back a conversation of 50, 150 and 300 events
  (its cost grows with the conversation, since Rasa stores the tracker as one JSON blob).
Needs the Redis at REDIS_HOST:REDIS_PORT (database 9 is used and emptied).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bench import reference_bot  # noqa: E402
from scripted.driver import load_customers  # noqa: E402

BENCH_REDIS_DB = 9


def median_of(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def timed(call: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return median_of(samples)


async def parse_cost(model: Path, texts: list[str], passes: int = 1) -> list[float]:
    """Median seconds to parse one message with ``model``, for each pass over ``texts``.

    A second pass shows what a repeated message costs (our embeddings come from the cache).
    """
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)

    agent = Agent.load(str(model))
    await agent.parse_message("warm up")
    medians = []
    for _ in range(passes):
        samples = []
        for text in texts:
            started = time.perf_counter()
            await agent.parse_message(text)
            samples.append(time.perf_counter() - started)
        medians.append(median_of(samples))
    return medians


async def answer_parse_cost(model: Path, answers: list[str]) -> float:
    """Median seconds to parse an answer while the complaint form waits for one.

    Rasa hands the NLU pipeline the conversation's tracker; here it is one whose form has
    just asked for the customer's name, as in a conversation.
    """
    import logging

    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.shared.core.events import ActiveLoop, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model))
    events = [ActiveLoop("complaint_form"), SlotSet("requested_slot", "customer_name")]
    tracker = DialogueStateTracker.from_events("bench-answers", events, slots=agent.domain.slots)
    await agent.processor.parse_message(UserMessage("warm up"), tracker)
    samples = []
    for text in answers:
        started = time.perf_counter()
        await agent.processor.parse_message(UserMessage(text), tracker)
        samples.append(time.perf_counter() - started)
    return median_of(samples)


def featurizer_costs(texts: list[str], threads: int) -> dict[str, float]:
    """Mean seconds per message of the embedding featurizer's encoder with ``threads`` threads.

    Means, not medians, so that one call per message, one batch of all of them and
    cache hits compare on the same messages. Called in a fresh process per thread
    count: OpenMP reads its thread count once.
    """
    from bot.settings import embedding_model_path
    from nlu.encoder import SentenceEncoder, resolve_model_path

    path = resolve_model_path(embedding_model_path())
    uncached = SentenceEncoder(path, threads=threads, cache_size=0)
    cached = SentenceEncoder(path, threads=threads, cache_size=len(texts))
    uncached.encode(["warm up"])
    cached.encode(texts)

    def per_message(call: Callable[[], object]) -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) / len(texts)

    return {
        "single": per_message(lambda: [uncached.encode([text]) for text in texts]),
        "batched": per_message(lambda: uncached.encode(texts)),
        "cached": per_message(lambda: [cached.encode([text]) for text in texts]),
    }


def cache_hit_rate(texts: list[str]) -> float:
    """Share of messages that repeat an earlier one when every text is sent once, in order."""
    seen: set[str] = set()
    repeats = 0
    for text in texts:
        repeats += text in seen
        seen.add(text)
    return repeats / len(texts) if texts else 0.0


def featurizer_costs_by_threads(texts: list[str], thread_counts: tuple[int, ...] = (1, 2)) -> dict[int, dict[str, float]]:
    """:func:`featurizer_costs` for each thread count, each in a process of its own."""
    context = multiprocessing.get_context("spawn")
    costs = {}
    for threads in thread_counts:
        with context.Pool(1) as pool:
            costs[threads] = pool.apply(featurizer_costs, (texts, threads))
    return costs


def hot_spot_costs(repeat: int) -> list[tuple[str, float, float]]:
    """(name, Rasa's own seconds per call, ours) for the two replaced hot spots."""
    import jsonschema
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event

    from connectors import rasa_speedups

    result = {"events": [{"event": "slot", "name": "order_ref", "value": "88412"}] * 5,
              "responses": [{"response": "utter_ask_contact"}]}
    schema = RemoteAction.action_response_format_spec()
    original_resolve = Event.__dict__["resolve_by_type"].__func__
    return [
        ("action response validation",
         timed(lambda: jsonschema.validate(result, schema), repeat),
         timed(lambda: rasa_speedups._validate_action_result(None, result), repeat)),
        ("event class lookup",
         timed(lambda: original_resolve("slot"), repeat),
         timed(lambda: rasa_speedups._resolve_by_type("slot"), repeat)),
    ]


def tracker_store_costs(repeat: int) -> list[tuple[int, float]]:
    """(events, median seconds for one save plus one retrieve) on the real Redis."""
    import redis
    from rasa.core.tracker_store import RedisTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    host, port = os.environ.get("REDIS_HOST", "127.0.0.1"), int(os.environ.get("REDIS_PORT", "6379"))
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    store = RedisTrackerStore(domain, host=host, port=port, db=BENCH_REDIS_DB, key_prefix="bench")
    costs = []
    for size in (50, 150, 300):
        tracker = DialogueStateTracker(f"bench-{size}", domain.slots)
        for turn in range(size // 3):
            tracker.update(UserUttered(f"message {turn}", {"name": "inform", "confidence": 0.9}))
            tracker.update(ActionExecuted("complaint_form"))
            tracker.update(SlotSet("impact", f"answer {turn}"))

        async def round_trip() -> None:
            await store.save(tracker)
            await store.retrieve(tracker.sender_id)

        costs.append((size, timed(lambda: asyncio.run(round_trip()), max(10, repeat // 10))))
    redis.Redis(host=host, port=port, db=BENCH_REDIS_DB).flushdb()
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200, help="calls per micro-measurement")
    args = parser.parse_args()
    from scripts.train_model import model_path

    ours = model_path()
    if not ours.is_file():
        print(f"error: no model at {ours}; run 'make setup'", file=sys.stderr)
        return 2
    texts = [text for customer in load_customers() for text in customer["opening"]]
    answers = [str(answer) for customer in load_customers() for answer in (customer.get("answers") or {}).values()]
    texts += answers
    reference = reference_bot.build()
    ours_s, ours_repeated_s = asyncio.run(parse_cost(ours, texts, passes=2))
    (reference_s,) = asyncio.run(parse_cost(reference, texts))
    answers_s = asyncio.run(answer_parse_cost(ours, answers))
    print(f"NLU parse, median per message over {len(texts)} customer messages")
    print(f"  reference (Rasa default pipeline): {reference_s * 1000:7.2f} ms")
    print(f"  ours (n-grams + sentence embedding + logistic regression): {ours_s * 1000:7.2f} ms"
          f"   ratio ours/reference {ours_s / reference_s:.2f}")
    print(f"  ours, the same messages again (embeddings cached): {ours_repeated_s * 1000:7.2f} ms")
    print(f"  ours, the {len(answers)} answers parsed as answers to a form's question (not embedded): "
          f"{answers_s * 1000:7.2f} ms")
    print("Sentence-embedding featurizer (multilingual-e5-small, 4-bit), mean ms per message")
    print(f"  {'threads':>7s} {'one call each':>14s} {'one batch':>10s} {'cache hit':>10s}")
    for threads, cost in featurizer_costs_by_threads(texts).items():
        print(f"  {threads:7d} {cost['single'] * 1000:14.2f} {cost['batched'] * 1000:10.2f} {cost['cached'] * 1000:10.4f}")
    print(f"  repeated messages among the scripted customers' {len(texts)}: {cache_hit_rate(texts):.0%} "
          "(served from the cache)")
    print("Rasa hot spots per call, Rasa's own code vs connectors/rasa_speedups.py")
    for name, before, after in hot_spot_costs(args.repeat):
        print(f"  {name:28s} {before * 1e6:9.1f} µs -> {after * 1e6:7.1f} µs   ({before / after:.0f}x)")
    print("Redis tracker store, one save plus one retrieve (grows with the conversation)")
    for size, seconds in tracker_store_costs(args.repeat):
        print(f"  {size:4d} events: {seconds * 1000:7.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
