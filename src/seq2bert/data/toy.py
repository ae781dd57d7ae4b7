"""A toy English -> "French-like" translation corpus from a small grammar and a fixed lexicon.

Sentences are lowercase words separated by single spaces, without punctuation. Grammar::

    sentence    := clause ("and" clause)*
    clause      := noun_phrase verb noun_phrase
    noun_phrase := [determiner] adjective{0,2} noun ["that" verb noun_phrase]

A relative clause ("that ...") attaches to the noun just before it, and the noun phrase inside
a relative clause takes none of its own. The target language differs from English in ways a
model has to learn beyond word-for-word lookup:

- adjectives come AFTER the noun ("the big red cat" -> "le chatol grandin rougeat"), so
  alignments are not monotonic;
- articles agree with the noun's gender and number, which a decoder must know before it writes
  the noun: the -> le (m) / la (f) / les (plural), a -> un (m) / une (f);
- an English bare plural takes the article "des" ("cats see dogs" -> "des chatols vident des
  canets"), a target word with no source word;
- adjectives agree with their noun: +e when feminine, +s when plural;
- verbs agree with their subject's number (English shows it too: sees -> vide, see -> vident).

Every word has one translation, so the target is a function of the source (:func:`translate`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

# (English singular, English plural, target stem, gender)
_NOUNS = (
    ("cat", "cats", "chatol", "m"), ("dog", "dogs", "canet", "m"), ("bird", "birds", "oisar", "m"),
    ("horse", "horses", "chevan", "m"), ("boy", "boys", "garol", "m"),
    ("teacher", "teachers", "maitrel", "m"), ("girl", "girls", "fillade", "f"),
    ("mouse", "mice", "sourine", "f"), ("house", "houses", "maisette", "f"),
    ("car", "cars", "voitane", "f"), ("tree", "trees", "arbelle", "f"),
    ("river", "rivers", "riviole", "f"),
)
# (English, target masculine singular); no English adjective starts with a vowel, so "a" never
# has to become "an"
_ADJECTIVES = (
    ("big", "grandin"), ("small", "petil"), ("red", "rougeat"), ("black", "noirel"),
    ("tall", "hautin"), ("young", "jeunot"), ("happy", "contal"), ("fast", "rapidon"),
)
# (English singular, English plural, target singular, target plural)
_VERBS = (
    ("sees", "see", "vide", "vident"), ("likes", "like", "ame", "ament"),
    ("chases", "chase", "chasse", "chassent"), ("follows", "follow", "suive", "suivent"),
    ("finds", "find", "trouve", "trouvent"), ("helps", "help", "aide", "aident"),
    ("hears", "hear", "ecoute", "ecoutent"), ("feeds", "feed", "nourre", "nourrent"),
)
_FUNCTION_WORDS = {"and": "et", "that": "qui"}
_DETERMINERS = ("the", "a")

LEXICON: dict[str, dict] = {
    "nouns": {en: {"plural": pl, "target": stem, "gender": g} for en, pl, stem, g in _NOUNS},
    "adjectives": {en: target for en, target in _ADJECTIVES},
    "verbs": {en_pl: {"singular": en_sg, "target": t_sg, "target_plural": t_pl}
              for en_sg, en_pl, t_sg, t_pl in _VERBS},
    "function_words": {"the": "le / la / les", "a": "un / une", "(no article, plural)": "des",
                       **_FUNCTION_WORDS},
}

# English word form -> (noun stem, gender, plural?)
_NOUN_FORMS = {**{sg: (stem, g, False) for sg, _, stem, g in _NOUNS},
               **{pl: (stem, g, True) for _, pl, stem, g in _NOUNS}}
_ADJECTIVE_STEMS = dict(_ADJECTIVES)
# English verb form -> target verb form (the English form already carries the number)
_VERB_FORMS = {**{sg: t_sg for sg, _, t_sg, _ in _VERBS}, **{pl: t_pl for _, pl, _, t_pl in _VERBS}}


def article(determiner: str, gender: str, plural: bool) -> str:
    """Target article for an English determiner ("the", "a" or "" for a bare plural)."""
    if determiner == "the":
        return "les" if plural else ("la" if gender == "f" else "le")
    if determiner == "a" and not plural:
        return "une" if gender == "f" else "un"
    if determiner == "" and plural:
        return "des"
    number = "plural" if plural else "singular"
    raise ValueError(f"no article for determiner {determiner!r} with a {number} noun")


def adjective_form(stem: str, gender: str, plural: bool) -> str:
    """Inflect a target adjective: +e when feminine, then +s when plural."""
    return stem + ("e" if gender == "f" else "") + ("s" if plural else "")


@dataclass
class _NounPhrase:
    """A noun phrase of a sentence being built (mutable while it grows)."""

    noun: int  # index into _NOUNS
    plural: bool
    determiner: str  # "the", "a", or "" (bare plural)
    adjectives: list[int] = field(default_factory=list)  # indices into _ADJECTIVES
    relative: tuple[int, _NounPhrase] | None = None  # (index into _VERBS, object)
    nested: bool = False  # inside a relative clause, so it cannot take one

    def size(self) -> int:
        own = (self.determiner != "") + len(self.adjectives) + 1
        return own + (2 + self.relative[1].size() if self.relative else 0)

    def phrases(self) -> list[_NounPhrase]:
        return [self, *([self.relative[1]] if self.relative else [])]

    def source(self) -> list[str]:
        singular, plural, _, _ = _NOUNS[self.noun]
        noun = plural if self.plural else singular
        words = [self.determiner] if self.determiner else []
        words += [_ADJECTIVES[a][0] for a in self.adjectives] + [noun]
        if self.relative:
            verb, obj = self.relative
            words += ["that", _VERBS[verb][1 if self.plural else 0], *obj.source()]
        return words

    def target(self) -> list[str]:
        _, _, stem, gender = _NOUNS[self.noun]
        words = [article(self.determiner, gender, self.plural), stem + ("s" if self.plural else "")]
        words += [adjective_form(_ADJECTIVES[a][1], gender, self.plural) for a in self.adjectives]
        if self.relative:
            verb, obj = self.relative
            words += ["qui", _VERBS[verb][3 if self.plural else 2], *obj.target()]
        return words


@dataclass
class _Clause:
    """A clause: subject, verb, object."""

    subject: _NounPhrase
    verb: int  # index into _VERBS
    object: _NounPhrase

    def size(self) -> int:
        return self.subject.size() + 1 + self.object.size()

    def source(self) -> list[str]:
        verb = _VERBS[self.verb][1 if self.subject.plural else 0]
        return [*self.subject.source(), verb, *self.object.source()]

    def target(self) -> list[str]:
        verb = _VERBS[self.verb][3 if self.subject.plural else 2]
        return [*self.subject.target(), verb, *self.object.target()]


def _random_phrase(rng: random.Random, nested: bool) -> _NounPhrase:
    plural = rng.random() < 0.5
    determiner = rng.choice(("the", "") if plural else _DETERMINERS)
    return _NounPhrase(rng.randrange(len(_NOUNS)), plural, determiner, nested=nested)


def _random_clause(rng: random.Random) -> _Clause:
    return _Clause(_random_phrase(rng, False), rng.randrange(len(_VERBS)), _random_phrase(rng, False))


def _sentence_size(clauses: list[_Clause]) -> int:
    return sum(c.size() for c in clauses) + len(clauses) - 1  # one "and" between clauses


def _grow(rng: random.Random, clauses: list[_Clause], length: int) -> bool:
    """Add adjectives, articles, relative clauses and clauses until the sentence has `length` words."""
    left = length - _sentence_size(clauses)
    phrases = [p for c in clauses for top in (c.subject, c.object) for p in top.phrases()]
    for _ in range(400):
        if left == 0:
            return True
        # the smallest relative clause adds 3 words ("that see cats"), the smallest clause 4
        weights = (3, 1, 2 if left >= 3 else 0, 2 if left >= 4 else 0)
        move = rng.choices(("adjective", "article", "relative", "clause"), weights=weights)[0]
        if move == "adjective":
            open_phrases = [p for p in phrases if len(p.adjectives) < 2]
            if open_phrases:
                phrase = rng.choice(open_phrases)
                phrase.adjectives.append(rng.choice([a for a in range(len(_ADJECTIVES))
                                                     if a not in phrase.adjectives]))
                left -= 1
        elif move == "article":
            bare = [p for p in phrases if p.determiner == ""]
            if bare:
                rng.choice(bare).determiner = "the"
                left -= 1
        elif move == "relative":
            hosts = [p for p in phrases if not p.nested and p.relative is None]
            obj = _random_phrase(rng, nested=True)
            if hosts and 2 + obj.size() <= left:
                rng.choice(hosts).relative = (rng.randrange(len(_VERBS)), obj)
                phrases.append(obj)
                left -= 2 + obj.size()
        else:
            clause = _random_clause(rng)
            if 1 + clause.size() <= left:
                clauses.append(clause)
                phrases += [clause.subject, clause.object]
                left -= 1 + clause.size()
    return False


def _random_sentence(rng: random.Random, length: int) -> list[_Clause]:
    """A sentence of exactly `length` words (length >= 3)."""
    while True:
        clauses = [_random_clause(rng)]
        if _sentence_size(clauses) <= length and _grow(rng, clauses, length):
            return clauses


def generate(n: int, seed: int, min_words: int = 4, max_words: int = 40) -> list[tuple[str, str]]:
    """`n` (source, target) pairs whose source lengths are uniform over [min_words, max_words]."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 3 <= min_words <= max_words:
        raise ValueError(f"need 3 <= min_words <= max_words (the shortest sentence has 3 words), "
                         f"got min_words={min_words}, max_words={max_words}")
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        clauses = _random_sentence(rng, rng.randint(min_words, max_words))
        source = " and ".join(" ".join(c.source()) for c in clauses)
        target = " et ".join(" ".join(c.target()) for c in clauses)
        pairs.append((source, target))
    return pairs


def _translate_aligned(source: str) -> tuple[list[str], list[tuple[int, int]], list[tuple[str, int]]]:
    """Target words, (source index, target index) links, and per target word its class and the
    source index of the noun it agrees with (-1 for words that agree with none), left to right."""
    words = source.split()
    target: list[str] = []
    links: list[tuple[int, int]] = []
    classes: list[tuple[str, int]] = []
    pending: list[int] = []  # positions of a determiner and adjectives waiting for their noun
    for i, word in enumerate(words):
        if word in _DETERMINERS:
            if pending:
                raise ValueError(f"word {i} ({word!r}) must start its noun phrase in {source!r}")
            pending.append(i)
        elif word in _ADJECTIVE_STEMS:
            pending.append(i)
        elif word in _NOUN_FORMS:
            stem, gender, plural = _NOUN_FORMS[word]
            has_determiner = bool(pending) and words[pending[0]] in _DETERMINERS
            determiner = words[pending[0]] if has_determiner else ""
            adjectives = pending[1:] if has_determiner else pending
            try:
                links.append((pending[0] if has_determiner else i, len(target)))
                target.append(article(determiner, gender, plural))
                classes.append(("article", i))
            except ValueError as error:
                raise ValueError(f"{error} at word {i} ({word!r}) in {source!r}") from None
            links.append((i, len(target)))
            target.append(stem + ("s" if plural else ""))
            classes.append(("noun", i))
            for j in adjectives:
                links.append((j, len(target)))
                target.append(adjective_form(_ADJECTIVE_STEMS[words[j]], gender, plural))
                classes.append(("adjective", i))
            pending = []
        elif pending:
            raise ValueError(f"word {i} ({word!r}) follows {words[pending[-1]]!r}, "
                             f"which needs a noun, in {source!r}")
        elif word in _VERB_FORMS or word in _FUNCTION_WORDS:
            links.append((i, len(target)))
            target.append(_VERB_FORMS.get(word) or _FUNCTION_WORDS[word])
            classes.append(("verb" if word in _VERB_FORMS else "function word", -1))
        else:
            raise ValueError(f"word {i} ({word!r}) is not in the toy lexicon")
    if pending:
        raise ValueError(f"{source!r} ends without the noun its last words need")
    return target, links, classes


def translate(source: str) -> str:
    """The target sentence for a toy source sentence (ValueError if a word is unknown)."""
    return " ".join(_translate_aligned(source)[0])


WORD_CLASSES = ("article", "noun", "adjective", "verb", "function word")


@dataclass(frozen=True)
class TargetWord:
    """What the toy grammar knows about one target word."""

    word: str  # the target word
    word_class: str  # one of WORD_CLASSES
    sources: tuple[int, ...]  # source indices it translates (an article: its determiner, "des": its noun)
    noun: int  # source index of the noun it agrees with in gender and number, -1 if none


def target_words(source: str, target: str) -> list[TargetWord]:
    """Class, gold source links and agreeing noun of every word of `target` (ValueError if it is not the translation)."""
    expected, links, classes = _translate_aligned(source)
    if target.split() != expected:
        raise ValueError(f"{target!r} is not the translation of {source!r} (expected {' '.join(expected)!r})")
    sources: dict[int, list[int]] = {}
    for s, t in links:
        sources.setdefault(t, []).append(s)
    return [TargetWord(word, kind, tuple(sources[t]), noun) for t, (word, (kind, noun)) in enumerate(zip(expected, classes))]


def alignment(source: str, target: str) -> list[tuple[int, int]]:
    """Gold word alignment: (source index, target index) links; "des" links to its noun."""
    expected, links, _ = _translate_aligned(source)
    if target.split() != expected:
        raise ValueError(f"{target!r} is not the translation of {source!r} (expected {' '.join(expected)!r})")
    return links
