"""Toy translation corpus: lengths, word order, agreement rules, and a target fixed by the source."""
from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from seq2bert.data import toy
from seq2bert.metrics import BUCKET_ORDER as LENGTH_BUCKETS, length_bucket

LEX = toy.LEXICON
# target noun form -> (gender, plural?)
T_NOUNS = {**{e["target"]: (e["gender"], False) for e in LEX["nouns"].values()},
           **{e["target"] + "s": (e["gender"], True) for e in LEX["nouns"].values()}}
# target adjective form -> (gender, plural?), inflection written from the rules
T_ADJECTIVES = {stem + f + p: ("f" if f else "m", bool(p))
                for stem in LEX["adjectives"].values() for f in ("", "e") for p in ("", "s")}
T_VERBS = {**{e["target"]: False for e in LEX["verbs"].values()},
           **{e["target_plural"]: True for e in LEX["verbs"].values()}}
S_VERBS = {**{e["singular"]: False for e in LEX["verbs"].values()}, **{pl: True for pl in LEX["verbs"]}}
S_NOUNS = {**{sg: False for sg in LEX["nouns"]}, **{e["plural"]: True for e in LEX["nouns"].values()}}
ARTICLES = {("m", False): {"le", "un"}, ("f", False): {"la", "une"},
            ("m", True): {"les", "des"}, ("f", True): {"les", "des"}}


@pytest.fixture(scope="module")
def pairs():
    return toy.generate(3000, seed=0)


def test_same_seed_same_corpus_and_different_seeds_differ():
    assert toy.generate(200, seed=5) == toy.generate(200, seed=5)
    assert toy.generate(200, seed=5) != toy.generate(200, seed=6)


def test_lengths_in_bounds_and_spread_over_every_bucket(pairs):
    lengths = [len(s.split()) for s, _ in pairs]
    assert min(lengths) == 4 and max(lengths) == 40
    share = Counter(length_bucket(n) for n in lengths)
    for bucket in LENGTH_BUCKETS:  # uniform lengths give 19%, 27%, 27%, 27%
        assert share[bucket] / len(pairs) > 0.15, share
    custom = [len(s.split()) for s, _ in toy.generate(300, seed=1, min_words=3, max_words=6)]
    assert set(custom) == {3, 4, 5, 6}


def test_lexicon_is_small(pairs):
    assert len(LEX["nouns"]) <= 12 and len(LEX["adjectives"]) <= 8 and len(LEX["verbs"]) <= 8
    assert len({w for s, _ in pairs for w in s.split()}) <= 60
    assert len({w for _, t in pairs for w in t.split()}) <= 90


def test_every_word_is_lowercase_and_known(pairs):
    function_words = {"le", "la", "les", "un", "une", "des", "et", "qui"}
    known_target = set(T_NOUNS) | set(T_ADJECTIVES) | set(T_VERBS) | function_words
    for source, target in pairs:
        assert source == source.lower() and target == target.lower()
        assert set(target.split()) <= known_target


def test_adjectives_follow_their_noun_in_the_target(pairs):
    swapped = 0
    for source, target in pairs:
        s, t = source.split(), target.split()
        for i, word in enumerate(t):
            if word in T_ADJECTIVES:
                assert t[i - 1] in T_NOUNS or t[i - 1] in T_ADJECTIVES, target
        swapped += sum(a in LEX["adjectives"] and b in S_NOUNS for a, b in zip(s, s[1:]))
    assert swapped > 1000


def subject_numbers(tokens, nouns, verbs, conjunction, relative):
    """(verb number, subject number) for every verb, from the clause structure."""
    out = []
    clause_subject = None
    for i, word in enumerate(tokens):
        if word == conjunction or i == 0:
            clause_subject = None
        if word in nouns and clause_subject is None:
            clause_subject = nouns[word]
        if word in verbs:
            if tokens[i - 1] == relative:  # a relative clause's verb agrees with the noun it follows
                head = next(nouns[w] for w in reversed(tokens[: i - 1]) if w in nouns)
                out.append((verbs[word], head))
            else:
                out.append((verbs[word], clause_subject))
    return out


def test_agreement_rules_hold(pairs):
    for source, target in pairs:
        t = target.split()
        for i, word in enumerate(t):
            if word in T_NOUNS:
                gender, plural = T_NOUNS[word]
                assert t[i - 1] in ARTICLES[(gender, plural)], target
                j = i + 1
                while j < len(t) and t[j] in T_ADJECTIVES:
                    assert T_ADJECTIVES[t[j]] == (gender, plural), target
                    j += 1
        target_verbs = subject_numbers(t, {w: p for w, (_, p) in T_NOUNS.items()}, T_VERBS, "et", "qui")
        source_verbs = subject_numbers(source.split(), S_NOUNS, S_VERBS, "and", "that")
        assert target_verbs and all(v == s for v, s in target_verbs), target
        assert all(v == s for v, s in source_verbs), source


def test_articles_translate_by_rule(pairs):
    for source, target in pairs:
        s, t = source.split(), target.split()
        for si, ti in toy.alignment(source, target):
            if t[ti] in ("le", "la", "les"):
                assert s[si] == "the"
            elif t[ti] in ("un", "une"):
                assert s[si] == "a"
            elif t[ti] == "des":  # a bare English plural: linked to the noun, no article before it
                assert S_NOUNS[s[si]] and (si == 0 or s[si - 1] not in ("the", "a"))


def test_long_sentences_chain_clauses(pairs):
    long = [s for s, _ in pairs if len(s.split()) > 30]
    assert all(" and " in s or " that " in s for s in long)
    assert sum(" and " in s for s in long) > 0.5 * len(long)
    assert sum(" that " in s for s in long) > 0.5 * len(long)


def test_target_is_a_function_of_the_source(pairs):
    short = toy.generate(3000, seed=1, min_words=3, max_words=4)  # short sentences repeat often
    targets = defaultdict(set)
    seen = Counter()
    for source, target in pairs + short:
        targets[source].add(target)
        seen[source] += 1
    assert sum(1 for n in seen.values() if n > 1) > 100
    assert all(len(v) == 1 for v in targets.values())
    assert all(toy.translate(s) == t for s, t in pairs + short)


def test_alignment_of_a_worked_example():
    source = "the big cat sees mice"
    assert toy.translate(source) == "le chatol grandin vide des sourines"
    assert toy.alignment(source, toy.translate(source)) == [(0, 0), (2, 1), (1, 2), (3, 3), (4, 4), (4, 5)]


def test_alignment_covers_every_word(pairs):
    for source, target in pairs[:500]:
        links = toy.alignment(source, target)
        assert sorted(j for _, j in links) == list(range(len(target.split())))
        assert {i for i, _ in links} == set(range(len(source.split())))


@pytest.mark.parametrize("bad, reason", [
    ("the cat sees dogs quickly", r"word 4 \('quickly'\) is not in the toy lexicon"),
    ("the cat sees the unicorn", r"'unicorn'\) follows 'the', which needs a noun"),
    ("the the cat sees dogs", r"word 1 \('the'\) must start its noun phrase"),
    ("a cats see dogs", "no article for determiner 'a' with a plural noun"),
    ("cat sees dogs", "no article for determiner '' with a singular noun"),
    ("the cat sees the big", "ends without the noun its last words need"),
    ("big the cat sees dogs", r"word 1 \('the'\) must start its noun phrase"),
])
def test_translate_rejects_what_the_grammar_cannot_make(bad, reason):
    with pytest.raises(ValueError, match=reason):
        toy.translate(bad)


def test_alignment_rejects_a_wrong_target():
    with pytest.raises(ValueError, match="not the translation"):
        toy.alignment("the cat sees dogs", "le chatol vident des canets")


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="n must be >= 0"):
        toy.generate(-1, seed=0)
    assert toy.generate(0, seed=0) == []
    with pytest.raises(ValueError, match="min_words"):
        toy.generate(5, seed=0, min_words=2)
    with pytest.raises(ValueError, match="min_words"):
        toy.generate(5, seed=0, min_words=10, max_words=9)


def test_target_words_know_class_and_agreeing_noun():
    source = "the black cats see a small red house"
    words = toy.target_words(source, toy.translate(source))
    assert [(w.word, w.word_class, w.sources, w.noun) for w in words] == [
        ("les", "article", (0,), 2), ("chatols", "noun", (2,), 2), ("noirels", "adjective", (1,), 2),
        ("vident", "verb", (3,), -1), ("une", "article", (4,), 7), ("maisette", "noun", (7,), 7),
        ("petile", "adjective", (5,), 7), ("rougeate", "adjective", (6,), 7)]
    bare = toy.target_words("cats see dogs", toy.translate("cats see dogs"))
    assert (bare[0].word, bare[0].sources, bare[0].noun) == ("des", (0,), 0)  # no English word: linked to its noun
    with pytest.raises(ValueError, match="is not the translation"):
        toy.target_words(source, "les chatols")
