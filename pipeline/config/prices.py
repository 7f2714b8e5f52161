"""LLM prices per model, for `llm_calls.cost_usd` and `derm1m estimate`.

USD per 1M tokens, as providers publish them. `cached_input` is what prompt-cache hits cost (usage
`prompt_tokens_details.cached_tokens`); `batch_discount` multiplies the whole call's cost when it went
through the Batch API. A model missing from the table has no price: its calls log a NULL cost, which
reads as "unknown", never as free.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0.0)
    output: float = Field(ge=0.0)
    cached_input: float | None = Field(default=None, ge=0.0)  # None: cache hits cost full input
    batch_discount: float = Field(default=1.0, gt=0.0, le=1.0)  # 0.5: the Batch API halves the price

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None, cached_tokens: int | None = None,
             batch: bool = False) -> float:
        """USD for one call; cached tokens are part of `prompt_tokens`, as OpenAI's usage reports them."""
        cached = min(cached_tokens or 0, prompt_tokens or 0)
        usd = ((prompt_tokens or 0) - cached) * self.input + (completion_tokens or 0) * self.output
        usd += cached * (self.input if self.cached_input is None else self.cached_input)
        return usd / 1e6 * (self.batch_discount if batch else 1.0)


# OpenAI list prices, USD per 1M tokens (standard tier), from OpenAI's pricing page
# (developers.openai.com/api/docs/pricing) as quoted by pricing references dated 2026-03 to 2026-11,
# taken 2026-12-06; the page itself cannot be read from the build machines. The Batch API is half price.
# List prices change: a profile's `llm.prices` overrides any entry, and models not listed here are unpriced.
PRICES_AS_OF = "2026-12-06"
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.60, "batch_discount": 0.5},
    "gpt-4o": {"input": 2.50, "cached_input": 1.25, "output": 10.00, "batch_discount": 0.5},
    "gpt-4.1": {"input": 2.00, "cached_input": 0.50, "output": 8.00, "batch_discount": 0.5},
    "gpt-4.1-mini": {"input": 0.40, "cached_input": 0.10, "output": 1.60, "batch_discount": 0.5},
}

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18 is priced as gpt-4o-mini


def lookup(prices: dict[str, ModelPrice], model: str) -> ModelPrice | None:
    """The price of `model`, or of its undated alias; None when neither is in the table."""
    return prices.get(model) or prices.get(_DATED.sub("", model))


def legacy_price(per_1k_input: float | None, per_1k_output: float | None) -> ModelPrice:
    """The old `price_per_1k_*` fields as a table entry: they priced every token alike, batch or not, and
    an unset one as 0, so they keep that meaning."""
    return ModelPrice(input=(per_1k_input or 0.0) * 1000, output=(per_1k_output or 0.0) * 1000)
