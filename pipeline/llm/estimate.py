"""What pending LLM work will cost before it is sent: tokens from the prompts as they will be rendered,
priced from the model's price table (pipeline/config/prices.py).

Input tokens are counted on the rendered prompt: the fixed part once (a prompt's label lists are the bulk of
it) plus each input's own text, which is what the request adds. tiktoken counts them when its encoding
is on the machine (`o200k_base` for the GPT-4o/4.1 families); offline, where tiktoken cannot fetch it,
characters / 4 stands in (OpenAI's rule of thumb for English), and the report says which was used. OpenAI's
chat format adds a few tokens per message (`CHAT_OVERHEAD`); the json_schema response format adds some
more that is not counted. Output tokens are the mean of the logged `llm_calls` of the same prompt, else
`DEFAULT_OUTPUT_TOKENS`. Three prices: live, live with the prompt's shared prefix served from OpenAI's
prompt cache (cached in 128-token steps once it is 1,024 tokens or more; not guaranteed), and Batch API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb

from pipeline.config import LlmConfig

CHAT_OVERHEAD = 7  # ~3 tokens framing the one user message + 3 priming the reply, rounded up
DEFAULT_OUTPUT_TOKENS = 100  # one short JSON object: about twice the example answer in the labelling prompt
_MARK = "\x00TEXT\x00"


def token_counter(model: str) -> tuple[Callable[[str], int], str]:
    """(count, method): tiktoken's encoding for `model` when it can be loaded, else characters / 4."""
    try:
        import tiktoken

        try:
            enc = tiktoken.encoding_for_model(model)
        except KeyError:
            enc = tiktoken.get_encoding("o200k_base")
        enc.encode("probe")
    except Exception:  # noqa: BLE001 - not installed, or its encoding file cannot be fetched offline
        return (lambda text: (len(text) + 3) // 4), "chars/4 (tiktoken encoding not available)"
    return (lambda text: len(enc.encode(text, disallowed_special=()))), f"tiktoken {enc.name}"


def logged_output_tokens(con: duckdb.DuckDBPyConnection, prompt: str, model: str) -> tuple[float, str]:
    """Mean completion tokens of the answered calls of `prompt` (this model's if any), and where it came from."""
    for where, args in (("AND model = ?", [prompt, model]), ("", [prompt])):
        n, mean = con.execute(
            f"SELECT count(*), avg(completion_tokens) FROM llm_calls WHERE prompt = ? {where} "
            "AND completion_tokens IS NOT NULL", args).fetchone() or (0, None)  # fmt: skip
        if n:
            return float(mean), f"mean of {n} logged call(s)"
    return float(DEFAULT_OUTPUT_TOKENS), f"default {DEFAULT_OUTPUT_TOKENS} (no logged call of {prompt})"


@dataclass
class Workload:
    """One kind of LLM request a run would send: how many, and their tokens."""

    name: str
    prompt: str
    requests: int
    input_tokens: int
    prefix_tokens: int  # the rendered prompt before the input: the same in every request
    fixed_tokens: int  # every request's tokens besides its input (prefix, suffix, chat framing)
    output_each: float
    output_source: str
    count_method: str

    @property
    def output_tokens(self) -> int:
        return round(self.output_each * self.requests)

    def scaled(self, requests: int) -> Workload:
        """The same requests, `requests` of them (a projection at the measured mean input size)."""
        per = self.input_tokens / self.requests if self.requests else float(self.fixed_tokens)
        return Workload(self.name, self.prompt, requests, round(per * requests), self.prefix_tokens,
                        self.fixed_tokens, self.output_each, self.output_source, self.count_method)  # fmt: skip

    def costs(self, cfg: LlmConfig) -> dict[str, float] | None:
        """USD live, live with the shared prefix cached, and through the Batch API; None without a price."""
        price = cfg.price()
        if price is None:
            return None
        cached = (self.prefix_tokens // 128) * 128 if self.prefix_tokens >= 1024 else 0
        return {"live": price.cost(self.input_tokens, self.output_tokens),
                "live_prefix_cached": price.cost(self.input_tokens, self.output_tokens, cached * self.requests),
                "batch": price.cost(self.input_tokens, self.output_tokens, batch=True)}


def prompt_workload(name: str, render: Callable[[str], str], prompt: str, texts: Iterable[str], cfg: LlmConfig,
                    con: duckdb.DuckDBPyConnection) -> Workload:
    """The workload of sending each of `texts` through `render` (the caller's prompt with its fixed values;
    the text goes where `render` puts its argument)."""
    count, method = token_counter(cfg.model)
    prefix, _, suffix = render(_MARK).partition(_MARK)
    fixed = count(prefix) + count(suffix) + CHAT_OVERHEAD
    n = tokens = 0
    for text in texts:
        n += 1
        tokens += fixed + count(text)
    output_each, source = logged_output_tokens(con, prompt, cfg.model)
    return Workload(name, prompt, n, tokens, count(prefix), fixed, output_each, source, method)


def report(workloads: list[Workload], cfg: LlmConfig) -> list[str]:
    """The lines `derm1m estimate` prints."""
    lines = [f"model {cfg.model}; batch mode {'on' if cfg.batch else 'off'}"]
    totals = {"live": 0.0, "live_prefix_cached": 0.0, "batch": 0.0}
    for w in workloads:
        lines.append(f"{w.name} ({w.prompt}): {w.requests:,} request(s), {w.input_tokens:,} input tokens "
                     f"({w.count_method}; shared prefix {w.prefix_tokens:,}), {w.output_tokens:,} output tokens "
                     f"({w.output_each:.0f} each, {w.output_source})")
        costs = w.costs(cfg)
        if costs is None:
            lines.append(f"  no price for {cfg.model} in llm.prices: cost unknown")
            continue
        for k in totals:
            totals[k] += costs[k]
        lines.append(f"  USD live {costs['live']:,.2f}, live with prefix cached {costs['live_prefix_cached']:,.2f}, "
                     f"batch {costs['batch']:,.2f}")
    if cfg.price() is not None and len(workloads) > 1:
        lines.append(f"total USD live {totals['live']:,.2f}, live with prefix cached "
                     f"{totals['live_prefix_cached']:,.2f}, batch {totals['batch']:,.2f}")
    return lines
