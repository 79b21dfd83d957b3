"""Everyday sentences in ATOMIC's event form: "I lent my neighbour a ladder" -> "PersonX lends PersonY a ladder".

ATOMIC's heads are short present-tense clauses about PersonX (the subject) and PersonY, PersonZ (the other
people). A sentence already written that way is left as it is. Otherwise a few documented rules apply,
in order, and each change is reported so a caller can say what it made of the text:

1. The subject: a leading personal pronoun (I, you, he, she, we, they), "someone" or a capitalised name
   becomes PersonX.
2. The verb after it (skipping adverbs such as "always" or "just") goes to the third person present, by
   its lemma (`lemminflect`): "lent" -> "lends", "forgot" -> "forgets". "was"/"were" become "is"; the
   auxiliaries "have"/"had" + participle and "did" + verb fold into the one present verb; a negation
   ("didn't", "never") stays, as "does not" + verb or "never" + verb.
3. The subject's possessive ("my" for "I", "her" for "she", ...) becomes "PersonX's"; its object and
   reflexive forms ("me", "myself") become "PersonX".
4. Other people become PersonY, then PersonZ, in the order they appear: a possessive plus a word for a
   person ("my neighbour", "her boss"), another pronoun ("him", "her", "them" not meaning the subject)
   or another capitalised name.

The rules are deliberately small: what they cannot read is left in place, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lemminflect import getAllLemmas, getInflection

from skd.graph_schema.text import clean_text

#: subject pronoun -> its possessive, and the object forms that mean the subject itself ("I hurt myself");
#: "her" after "she" is someone else ("she called her"), as English would say "herself" otherwise
_SUBJECTS: dict[str, tuple[str, frozenset[str]]] = {
    "i": ("my", frozenset({"me", "myself"})),
    "you": ("your", frozenset({"yourself"})),
    "he": ("his", frozenset({"himself"})),
    "she": ("her", frozenset({"herself"})),
    "we": ("our", frozenset({"us", "ourselves"})),
    "they": ("their", frozenset({"themselves"})),
    "someone": ("their", frozenset({"themselves"})),
    "somebody": ("their", frozenset({"themselves"})),
}
_POSSESSIVES = {"my", "your", "his", "her", "our", "their"}
_OBJECTS = {"me", "you", "him", "her", "us", "them"}
#: words for a person: after a possessive they are another participant ("my neighbour" -> PersonY)
PEOPLE = frozenset(
    [
        "neighbour",
        "neighbor",
        "neighbours",
        "neighbors",
        "friend",
        "friends",
        "mom",
        "mum",
        "mother",
        "dad",
        "father",
        "parents",
        "brother",
        "sister",
        "wife",
        "husband",
        "boss",
        "son",
        "daughter",
        "teacher",
        "colleague",
        "coworker",
        "co-worker",
        "boyfriend",
        "girlfriend",
        "partner",
        "kid",
        "kids",
        "child",
        "children",
        "cousin",
        "aunt",
        "uncle",
        "grandma",
        "grandmother",
        "grandpa",
        "grandfather",
        "roommate",
        "flatmate",
        "classmate",
        "doctor",
        "landlord",
        "tenant",
        "baby",
        "nephew",
        "niece",
        "fiance",
        "fiancee",
        "manager",
        "employee",
        "student",
        "grandson",
        "granddaughter",
        "sibling",
        "spouse",
    ]
)
_ADVERBS = {"always", "often", "never", "just", "finally", "accidentally", "suddenly", "really", "also", "still"}
_AUX_HAVE = {"have", "has", "had", "'ve", "'d"}
_AUX_DO = {"did", "do", "does"}
_BE = {"was", "were", "am", "are", "is", "'m", "'re"}
_NEGATIONS = {"not", "n't"}
_DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "some", "any", "no"}
_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[^\sA-Za-z]")
_CONTRACTIONS = {"m", "re", "ve", "d", "ll", "s"}
_ALREADY = re.compile(r"\bPerson[XYZ]\b")


@dataclass(slots=True)
class Normalised:
    """An event in ATOMIC's form, and what was changed to get there (empty when nothing was)."""

    text: str
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _tokens(text: str) -> list[str]:
    """Words and punctuation; "didn't" is "did" + "n't", "I'm" is "I" + "'m", "Ann's" is "Ann" + "'s"."""
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        low = tok.lower()
        if low.endswith("n't") and len(tok) > 3:
            out += ["can" if low == "can't" else "will" if low == "won't" else tok[:-3], "n't"]
        elif "'" in tok and low.split("'", 1)[1] in _CONTRACTIONS:
            head, tail = tok.split("'", 1)
            out += [head, "'" + tail.lower()]
        else:
            out.append(tok)
    return out


def _join(tokens: list[str]) -> str:
    text = ""
    for tok in tokens:
        if text and tok not in {",", ".", "!", "?", ";", ":"} and not tok.startswith("'") and tok != "n't":
            text += " "
        text += tok
    return text


def _verb_lemma(word: str) -> str | None:
    """The lemma of a word lemminflect's dictionary knows as a verb, else None."""
    lemmas = getAllLemmas(word.lower()).get("VERB")
    return lemmas[0] if lemmas else None


def _third_person(lemma: str) -> str:
    forms = getInflection(lemma, tag="VBZ")
    return forms[0] if forms else lemma


def _is_participle(word: str) -> bool:
    lemma = _verb_lemma(word)
    return lemma is not None and word.lower() in getInflection(lemma, tag="VBN")


def _is_base_verb(word: str) -> bool:
    return _verb_lemma(word) == word.lower()


#: capitalised words at a sentence's start that are not names
_NOT_NAMES = _DETERMINERS | _POSSESSIVES | {"it", "there", "here", "then", "when", "if", "after", "yesterday", "today"}


def _is_name(token: str) -> bool:
    low = token.lower()
    return token[:1].isupper() and token.isalpha() and low not in _SUBJECTS and low not in _NOT_NAMES


class _Others:
    """The other people of a sentence, PersonY then PersonZ in the order they appear."""

    def __init__(self, changes: list[str]) -> None:
        self.names: dict[str, str] = {}
        self.changes = changes

    def __call__(self, words: str) -> str:
        key = words.lower()
        if key not in self.names:
            if len(self.names) >= 2:
                return words  # a fourth participant: left as written
            self.names[key] = "PersonY" if not self.names else "PersonZ"
            self.changes.append(f"read {words!r} as {self.names[key]}")
        return self.names[key]


def _verb_phrase(tokens: list[str], i: int) -> tuple[list[str], int]:
    """The verb group starting at `tokens[i]` in the third person present, and where the rest begins.
    Adverbs stay in front; have + participle and do + verb fold into one verb; a negation stays."""
    adverbs: list[str] = []
    negated = False
    n = len(tokens)
    while i < n:
        low = tokens[i].lower()
        nxt = tokens[i + 1] if i + 1 < n else ""
        if low in _ADVERBS:
            adverbs.append(tokens[i])
        elif low in _NEGATIONS:
            negated = True
        elif low in _AUX_HAVE and (_is_participle(nxt) or nxt.lower() in _NEGATIONS | _ADVERBS):
            pass  # "have lost" -> "loses"
        elif low in _AUX_DO and (_is_base_verb(nxt) or nxt.lower() in _NEGATIONS | _ADVERBS):
            pass  # "did not sleep" -> "does not sleep"
        else:
            break
        i += 1
    if i >= n:
        return adverbs, i
    word = tokens[i]
    if word.lower() in _BE:
        return [*adverbs, "is", *(["not"] if negated else [])], i + 1
    lemma = _verb_lemma(word)
    if lemma is None:
        return [*adverbs, *(["not"] if negated else []), word], i + 1
    if negated:
        return [*adverbs, "does", "not", lemma], i + 1
    return [*adverbs, _third_person(lemma)], i + 1


def normalise_event(text: str) -> Normalised:
    """The event in ATOMIC's form by the module's rules (see its docstring), with what was changed."""
    cleaned = clean_text(text)
    if not cleaned or _ALREADY.search(cleaned):
        return Normalised(cleaned)
    tokens = _tokens(cleaned)
    first = tokens[0]
    if first.lower() in _SUBJECTS:
        possessive, itself = _SUBJECTS[first.lower()]
    elif _is_name(first) and len(tokens) > 1 and _verb_lemma(tokens[1]) is not None:
        possessive, itself = "", frozenset()
    else:
        return Normalised(cleaned)  # no subject it can read: left as it is
    changes = [f"read {first!r} as PersonX"]
    others = _Others(changes)
    verb, i = _verb_phrase(tokens, 1)
    if verb != tokens[1:i]:
        changes.append(f"read {_join(tokens[1:i])!r} as {_join(verb)!r}")
    out = ["PersonX", *verb]
    while i < len(tokens):
        tok, low = tokens[i], tokens[i].lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        owned = nxt.isalpha() and nxt.lower() not in _DETERMINERS  # "her keys", not "her the book"
        if low in _POSSESSIVES and nxt.lower() in PEOPLE:  # "my neighbour": another participant
            person = others(f"{tok} {nxt}")
            if i + 2 < len(tokens) and tokens[i + 2] == "'s":  # "my friend's car"
                out.append(person + "'s")
                i += 3
            else:
                out.append(person)
                i += 2
            continue
        if low == possessive and owned:
            out.append("PersonX's")
            changes.append(f"read {tok!r} as PersonX's")
        elif low in itself:
            out.append("PersonX")
            changes.append(f"read {tok!r} as PersonX")
        elif low in _POSSESSIVES and owned:
            out.append(others(tok) + "'s")
        elif low in _OBJECTS or _is_name(tok):
            out.append(others(tok))
        else:
            out.append(tok)
        i += 1
    return Normalised(_join(out), changes)
