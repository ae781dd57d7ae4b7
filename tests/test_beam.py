"""Beam search: one step against a brute-force reference, the constructed case where greedy loses,
the length penalty, beam_size=1 = greedy, PyTorch = TensorFlow, and clear errors."""
import math

import numpy as np
import pytest
import tensorflow as tf
import torch

from seq2bert import decoding_example as example
from seq2bert.configs import TransformerConfig
from seq2bert.tf import decoding as k_decoding
from seq2bert.tf import transformer as k_transformer
from seq2bert.tf.weights import load_torch_state
from seq2bert.torch import decoding as t_decoding
from seq2bert.torch import ops as t_ops
from seq2bert.torch import transformer as t_transformer
from seq2bert.torch.weights import torch_state

PAD, BOS, EOS = 0, 1, 2
FRAMEWORKS = ["pytorch", "tensorflow"]


def as_numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def step(framework, log_probs, scores, finished):
    """beam_search_step of one framework on NumPy inputs -> NumPy outputs."""
    if framework == "pytorch":
        out = t_decoding.beam_search_step(torch.tensor(log_probs), torch.tensor(scores), torch.tensor(finished),
                                          EOS, PAD)
    else:
        out = k_decoding.beam_search_step(tf.constant(log_probs), tf.constant(scores), tf.constant(finished),
                                          EOS, PAD)
    return tuple(as_numpy(x) for x in out)


def reference_step(log_probs, scores, finished):
    """Every candidate listed, sorted by score (ties: lower beam, then lower token), the K best kept."""
    batch, beams, vocab = log_probs.shape
    out = np.zeros((batch, beams)), np.zeros((batch, beams), int), np.zeros((batch, beams), int)
    for b in range(batch):
        candidates = []
        for k in range(beams):
            if finished[b, k]:
                candidates.append((scores[b, k], k, PAD))
            else:
                candidates += [(scores[b, k] + log_probs[b, k, v], k, v) for v in range(vocab)]
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        for rank, (score, parent, token) in enumerate(candidates[:beams]):
            out[0][b, rank], out[1][b, rank], out[2][b, rank] = score, parent, token
    return out


def random_step_inputs(seed=0, batch=3, beams=4, vocab=6):
    rng = np.random.default_rng(seed)
    log_probs = np.log(rng.dirichlet(np.ones(vocab), (batch, beams))).astype(np.float32)  # (B, K, V)
    scores = np.sort(rng.normal(-3, 1, (batch, beams)).astype(np.float32), axis=1)[:, ::-1].copy()
    finished = rng.random((batch, beams)) < 0.4
    return log_probs, scores, finished


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_step_keeps_the_k_best_candidates(framework, seed):
    log_probs, scores, finished = random_step_inputs(seed)
    new_scores, parents, tokens = step(framework, log_probs, scores, finished)
    expected_scores, expected_parents, expected_tokens = reference_step(log_probs, scores, finished)
    np.testing.assert_allclose(new_scores, expected_scores, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(parents, expected_parents)
    np.testing.assert_array_equal(tokens, expected_tokens)
    assert (np.diff(new_scores, axis=1) <= 0).all()  # best first


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_finished_beam_keeps_its_score_in_one_slot(framework):
    # beam 0 finished with the best score: it keeps it once, with PAD; it does not fill every slot.
    log_probs = np.log(np.full((1, 3, 5), 0.2, np.float32))  # (B, K, V)
    scores = np.array([[-0.5, -1.0, -9.0]], np.float32)
    finished = np.array([[True, False, False]])
    new_scores, parents, tokens = step(framework, log_probs, scores, finished)
    assert parents[0, 0] == 0 and tokens[0, 0] == PAD and new_scores[0, 0] == pytest.approx(-0.5)
    assert list(parents[0, 1:]) == [1, 1] and list(tokens[0, 1:]) == [0, 1]  # beam 1's two best (a tie: low ids)
    np.testing.assert_allclose(new_scores[0, 1:], -1.0 + math.log(0.2), atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_start_state_gives_k_different_first_tokens(framework):
    log_probs = np.log(np.array([[[0.1, 0.4, 0.3, 0.2]] * 3], np.float32))  # every beam predicts the same
    scores = np.array([[0.0, -np.inf, -np.inf]], np.float32)
    new_scores, parents, tokens = step(framework, log_probs, scores, np.zeros((1, 3), bool))
    assert list(parents[0]) == [0, 0, 0] and list(tokens[0]) == [1, 2, 3]
    np.testing.assert_allclose(new_scores[0], np.log([0.4, 0.3, 0.2]), atol=1e-6)


def search(framework, model, src, src_len, **options):
    if framework == "pytorch":
        return as_numpy(t_decoding.beam_search(model, torch.tensor(src), torch.tensor(src_len), **options))
    return as_numpy(k_decoding.beam_search(model, tf.constant(src), tf.constant(src_len), **options))


def table_model(framework, next_log_probs=example.next_token_log_probs, max_length=8):
    module = t_decoding if framework == "pytorch" else k_decoding
    return module.TableModel(next_log_probs, max_length=max_length)


SOURCE = np.array([[4, 5, 0], [6, 0, 0]]), np.array([2, 1])  # two sentences (ignored by the table)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_beam_finds_the_more_probable_sentence_greedy_misses(framework):
    model = table_model(framework)
    greedy = search(framework, model, *SOURCE, beam_size=1)
    beam = search(framework, model, *SOURCE, beam_size=2)
    assert [example.words(row) for row in greedy] == [("the", "cat", "<eos>")] * 2
    assert [example.words(row) for row in beam] == [("a", "cat", "<eos>")] * 2
    assert example.sequence_probability(greedy[0]) == pytest.approx(0.55 * 0.35 * 0.90)
    assert example.sequence_probability(beam[0]) == pytest.approx(0.40 * 0.90 * 0.95)
    # greedy's choice is the best first word; the best sentence starts with the second best
    first = example.next_token_log_probs(np.array([[BOS]]))[0]
    assert example.TOKENS[int(first.argmax())] == "the"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_beam_size_one_is_greedy_decoding_of_the_table(framework):
    model = t_decoding.TableModel(example.next_token_log_probs)
    cache = model.start_cache(torch.zeros(2, 3, 1), None)
    greedy = t_ops.greedy_decode(lambda prev, state: model.decode_step(prev, state), cache, 2, BOS, EOS, PAD, 8)
    np.testing.assert_array_equal(search(framework, table_model(framework), *SOURCE, beam_size=1), greedy.numpy())


def swapping_table(prefixes):
    """After step 2 the beams swap places ("a cat" overtakes "the dog"), and what follows depends on
    the prefix: a search that does not reorder its cache continues each beam from the other's words."""
    rows = {(): {"the": 0.5, "a": 0.45, "dog": 0.05}, ("the",): {"dog": 0.4, "cat": 0.3, "<eos>": 0.3},
            ("a",): {"cat": 0.9, "dog": 0.1}, ("a", "cat"): {"<eos>": 1.0}, ("the", "dog"): {"<eos>": 1.0}}
    out = np.full((len(prefixes), len(example.TOKENS)), -np.inf)
    for row, ids in enumerate(prefixes):
        for word, p in rows.get(example.words(ids), {"dog": 1.0}).items():  # unknown prefixes ramble on
            out[row, example.TOKENS.index(word)] = np.log(p)
    return out


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_cache_follows_the_surviving_beams(framework):
    found = search(framework, table_model(framework, swapping_table), *SOURCE, beam_size=2)
    assert [example.words(row) for row in found] == [("a", "cat", "<eos>")] * 2


def penalty_table(prefixes):
    """P(<eos>) = 0.4 or P(cat) = 0.6 then P(<eos> | cat) = 0.6: the shorter sentence is more probable (0.4 > 0.36)."""
    out = np.full((len(prefixes), len(example.TOKENS)), -np.inf)
    for row, ids in enumerate(prefixes):
        said = example.words(ids)
        if said == ():
            out[row, [EOS, 6]] = np.log([0.4, 0.6])
        elif said == ("cat",):
            out[row, [EOS, 7]] = np.log([0.6, 0.4])
        else:
            out[row, EOS] = 0.0
    return out


def test_the_length_penalty_formula():
    for module, as_tensor in ((t_decoding, torch.tensor), (k_decoding, tf.constant)):
        lengths = as_tensor(np.array([1, 2, 10, 40]))
        expected = [((5 + n) / 6) ** 0.6 for n in (1, 2, 10, 40)]
        np.testing.assert_allclose(as_numpy(module.wu_length_penalty(lengths, 0.6)), expected, rtol=1e-6)
        np.testing.assert_allclose(as_numpy(module.wu_length_penalty(lengths, 0.0)), 1.0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_length_penalty_picks_the_hypothesis(framework):
    model = table_model(framework, penalty_table)
    short, long = [EOS], [6, EOS]  # log 0.4 = -0.916 over length 1; log 0.36 = -1.022 over length 2
    for alpha in (0.0, 0.6):  # -1.022 / (7/6)**0.6 = -0.931 < -0.916: the short one still wins
        found = search(framework, model, *SOURCE, beam_size=2, length_penalty=alpha)
        assert found.tolist() == [short, short]
    assert math.log(0.36) / (7 / 6) ** 1.0 > math.log(0.4) / 1.0  # with alpha = 1 the long one wins
    found = search(framework, model, *SOURCE, beam_size=2, length_penalty=1.0)
    assert found.tolist() == [long, long]


@pytest.fixture(scope="module")
def transformers():
    """A PyTorch Transformer with arbitrary weights (not the shared start) and its TF twin with the same ones."""
    config = TransformerConfig(src_vocab=15, tgt_vocab=12, width=16, heads=2, encoder_layers=1, decoder_layers=2,
                               ffn=32, max_length=12, dropout=0.0)
    torch_model = t_transformer.Transformer(config).eval()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in torch_model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    tf_model = k_transformer.Transformer(config)
    load_torch_state(tf_model, torch_state(torch_model))
    rng = np.random.default_rng(0)
    src_len = np.array([7, 3, 5, 1, 6, 7])
    src = np.where(np.arange(7)[None] < src_len[:, None], rng.integers(4, 15, (6, 7)), PAD)
    return {"pytorch": torch_model, "tensorflow": tf_model}, src, src_len


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_beam_size_one_is_the_transformers_greedy_translation(framework, transformers):
    models, src, src_len = transformers
    model = models[framework]
    as_tensor = torch.tensor if framework == "pytorch" else tf.constant
    greedy, _ = model.translate(as_tensor(src), as_tensor(src_len), 10)
    greedy = as_numpy(greedy)
    assert len({tuple(row) for row in greedy}) > 2  # the arbitrary weights give varied sentences
    np.testing.assert_array_equal(search(framework, model, src, src_len, beam_size=1, max_len=10), greedy)


def test_pytorch_and_tensorflow_search_alike(transformers):
    models, src, src_len = transformers
    greedy = search("pytorch", models["pytorch"], src, src_len, beam_size=1, max_len=10)
    for beam_size in (2, 4):
        found = {fw: search(fw, models[fw], src, src_len, beam_size=beam_size, max_len=10) for fw in FRAMEWORKS}
        np.testing.assert_array_equal(found["pytorch"], found["tensorflow"])
        tokens = found["pytorch"]
        # these weights make beams differ from greedy, so the comparison covers reordering and finishing
        assert tokens.shape != greedy.shape or (tokens != greedy).any()
        for row in tokens:  # PAD after EOS, never before it
            ids = list(row)
            end = ids.index(EOS) + 1 if EOS in ids else len(ids)
            assert PAD not in ids[:end] and set(ids[end:]) <= {PAD}
    for seed in (3, 4):
        log_probs, scores, finished = random_step_inputs(seed, batch=2, beams=3, vocab=9)
        for a, b in zip(step("pytorch", log_probs, scores, finished), step("tensorflow", log_probs, scores, finished)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_bad_input_gets_a_clear_error(framework):
    model = table_model(framework)
    for beam_size in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="beam_size must be an int >= 1, got"):
            search(framework, model, *SOURCE, beam_size=beam_size)
    with pytest.raises(ValueError, match=r"beam_size 8 is larger than the 7 tokens a beam can choose from"):
        search(framework, model, *SOURCE, beam_size=8)
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        search(framework, model, *SOURCE, max_len=0)
    with pytest.raises(ValueError, match="length_penalty must be >= 0, got -0.5"):
        search(framework, model, *SOURCE, length_penalty=-0.5)
    log_probs, scores, finished = random_step_inputs(0, batch=2, beams=4, vocab=3)
    with pytest.raises(ValueError, match=r"beam size K = 4 is larger than the vocabulary V = 3"):
        step(framework, log_probs, scores, finished)
    log_probs, scores, finished = random_step_inputs(0)
    with pytest.raises(ValueError, match=r"scores \(3, 3\) and finished \(3, 4\) must both have shape \(B, K\) = "
                                         r"\(3, 4\)"):
        step(framework, log_probs, scores[:, :3], finished)
    with pytest.raises(ValueError, match=r"log_probs must have shape \(B, K, V\), got \(3, 4\)"):
        step(framework, log_probs[..., 0], scores, finished)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_translate_dataset_can_search_with_beams(framework, transformers):
    from seq2bert.data.text import Encoded

    module = __import__(f"seq2bert.{'torch' if framework == 'pytorch' else 'tf'}.train", fromlist=["train"])
    models, src, src_len = transformers
    targets = np.full((len(src_len), 2), EOS)
    data = Encoded(src, src_len, targets, targets, np.full(len(src_len), 2))
    greedy, weights = module.translate_dataset(models[framework], data, 10, batch_size=4)
    one, no_weights = module.translate_dataset(models[framework], data, 10, batch_size=4, beam_size=1)
    assert one == greedy and no_weights == [None] * len(src_len) and weights[0] is not None
    beams, _ = module.translate_dataset(models[framework], data, 10, batch_size=4, beam_size=3)
    expected = search(framework, models[framework], src, src_len, beam_size=3, max_len=10)
    for found, row in zip(beams, expected):
        assert found == [int(t) for t in row[: len(found)]] and (found[-1] == EOS or len(found) == 10)
