"""A fake decoder step for checking greedy_decode: its greedy output is known in advance.

Sequence b predicts `script[b, t]` at step t when it was fed its own previous prediction (BOS at
step 0), and `detour[b, t]` (never EOS, never the scripted token) after any other token, so
decoders that feed back the wrong tokens or lose the state produce recognisably wrong output.
The state is a float32 (B, 1) step counter, as opaque to the decoder as a hidden state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# Added to the predicted token's logit; the noise around it is much smaller.
_PREDICTED_BOOST = 6.0


class StepMisuse(ValueError):
    """The decoder called the fake step in a way a real decoder step would reject."""


@dataclass(frozen=True, eq=False)
class FakeDecoder:
    """A deterministic stand-in for a trained decoder step with a known greedy output."""

    script: np.ndarray  # (B, max_len) token predicted after the scripted previous token
    detour: np.ndarray  # (B, max_len) token predicted after any other previous token
    noise: np.ndarray  # (B, max_len, V) small logit noise around the predicted token
    ends: tuple  # per sequence, the step (1-based) that predicts EOS, or None
    bos_id: int
    max_len: int
    boost: float = _PREDICTED_BOOST  # added to the predicted token's logit; small = close logits

    @classmethod
    def build(cls, rng: np.random.Generator, vocab: int, ends: list, bos_id: int, eos_id: int,
              pad_id: int, max_len: int, boost: float = _PREDICTED_BOOST) -> "FakeDecoder":
        """A decoder whose sequence b produces EOS at step ends[b] (None: never)."""
        ordinary = np.array([t for t in range(vocab) if t not in (bos_id, eos_id, pad_id)])
        batch = len(ends)
        script = rng.choice(ordinary, size=(batch, max_len))
        detour = rng.choice(ordinary, size=(batch, max_len))
        clash = detour == script
        detour[clash] = np.array([ordinary[(np.searchsorted(ordinary, s) + 1) % len(ordinary)]
                                  for s in script[clash]], dtype=detour.dtype)
        for row, end in enumerate(ends):
            if end is not None:
                script[row, end - 1] = eos_id
        noise = rng.normal(0.0, 0.5, size=(batch, max_len, vocab)).astype(np.float32)
        return cls(script, detour, noise, tuple(ends), bos_id, max_len, boost)

    @property
    def batch_size(self) -> int:
        return self.script.shape[0]

    @property
    def vocab(self) -> int:
        return self.noise.shape[2]

    def initial_state(self) -> np.ndarray:
        """(B, 1) float32 step counter, all zeros."""
        return np.zeros((self.batch_size, 1), dtype=np.float32)

    def __str__(self) -> str:
        ends = ", ".join("never" if end is None else str(end) for end in self.ends)
        return f"a fake decoder (vocabulary {self.vocab}) whose sequences end with EOS at steps [{ends}]"

    def for_framework(self, fw: Any) -> Callable:
        return self.step_function(fw.to_tensor, fw.loose_numpy)

    def for_numpy(self) -> Callable:
        return self.step_function(np.asarray, np.asarray)

    def describe(self) -> str:
        return str(self)

    def mutated(self, fw: Any, passed: Any) -> bool:
        return False

    def logits(self, prev: np.ndarray, counter: int) -> np.ndarray:
        """(B,) previous tokens at step `counter` -> (B, V) float32 logits."""
        expected_prev = self.bos_id if counter == 0 else self.script[:, counter - 1]  # (B,)
        predicted = np.where(prev == expected_prev, self.script[:, counter], self.detour[:, counter])
        logits = self.noise[:, counter].copy()  # (B, V)
        logits[np.arange(self.batch_size), predicted] += self.boost
        return logits

    def step_function(self, to_tensor: Callable[[np.ndarray], Any],
                      to_numpy: Callable[[Any], np.ndarray]) -> Callable:
        """A fresh `step(prev_tokens, state) -> (logits, state)` in the tensor type of `to_tensor`."""
        calls = 0

        def step(prev_tokens, state):
            nonlocal calls
            calls += 1
            if calls > self.max_len:
                raise StepMisuse(f"step() was called {calls} times but max_len is {self.max_len}: "
                                 "decode at most max_len tokens")
            prev = self._checked_prev(to_numpy(prev_tokens))
            counter = self._checked_counter(state, to_numpy)
            new_state = np.full((self.batch_size, 1), counter + 1, dtype=np.float32)
            return to_tensor(self.logits(prev, counter)), to_tensor(new_state)

        return step

    def _checked_prev(self, prev: np.ndarray) -> np.ndarray:
        batch = self.batch_size
        if prev.shape != (batch,):
            if prev.shape == (self.vocab,):
                raise StepMisuse(f"step() got prev_tokens of shape {prev.shape}, one per vocabulary entry "
                                 f"instead of one per sequence ({batch}): take the argmax over the last "
                                 "(vocabulary) axis of the logits, not the batch axis")
            raise StepMisuse(f"step() expects prev_tokens of shape ({batch},), one token per sequence, "
                             f"but got shape {prev.shape}")
        if prev.dtype.kind not in "iu":
            raise StepMisuse(f"step() expects integer token ids as prev_tokens, got {prev.dtype}")
        if prev.min() < 0 or prev.max() >= self.vocab:
            raise StepMisuse(f"step() got token ids {prev.tolist()} outside the vocabulary 0..{self.vocab - 1}")
        return prev

    def _checked_counter(self, state, to_numpy) -> int:
        try:
            counter = to_numpy(state)
        except Exception:
            counter = None
        if counter is None or counter.shape != (self.batch_size, 1):
            raise StepMisuse("step() expects back the state it returned last time (or the initial state), "
                             f"but got {type(state).__name__}: pass the state returned by step() to the next call")
        return int(min(round(float(counter[0, 0])), self.max_len - 1))
