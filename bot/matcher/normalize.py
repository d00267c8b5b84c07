"""Turn Slack-typed text into the tokens the matcher compares.

Everything here is deterministic string work: markup stripping, tokenising, a small
suffix stemmer and the filler words people wrap questions in.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from bot.matcher.settings import MAX_QUESTION_CHARS, MIN_ID_NUMBER_LENGTH, MIN_RESOURCE_ID_LENGTH

# <@U123>, <@U123|name>, <#C123|general>, <!here>, <!subteam^S123|@team>: mentions carry no meaning.
_SLACK_REFERENCE = re.compile(r"<[@#!][^>]*>")
# <https://x|label> keeps its label; a bare <https://x> disappears.
_SLACK_LINK_WITH_LABEL = re.compile(r"<(?:https?|mailto):[^|>]*\|([^>]*)>")
_SLACK_LINK = re.compile(r"<(?:https?|mailto):[^>]*>")
_BARE_URL = re.compile(r"https?://\S+")
# :tada:, :+1::skin-tone-2:. Not inside a word: "arn:aws:iam::1234:role/x" and
# "arn:aws-us-gov:..." are ARNs whose partition would otherwise read as an emoji.
_EMOJI = re.compile(r"(?<![a-z0-9]):[a-z0-9_+\-']+:(?![a-z0-9])")
_WORD = re.compile(r"[a-z0-9]+")
_POSSESSIVE = re.compile(r"['\u2019]s\b")
# "I'd" is "I": without its quote it would read as "id", which is a word ("external id").
_I_WOULD = re.compile(r"\bi['\u2019]d\b")
# Chat shorthand for "with" and "without" ("ssh w/o opening port 22"): split at the slash,
# they would leave the stray one-letter words "w" and "o", which the knowledge never uses.
_WITH_SHORTHAND = re.compile(r"(?<![\w/.:-])w/(o\b)?")

STOPWORDS = frozenset(
    """
    a about above after again against ah all also am an and any anybody anyone anything
    are aren around as ask asking at aw aws amazon be because been before being best
    between bit both but by can cannot could curious did do does doing don done dumb
    each either else eh etc even ever every exactly explain few folks for from get gets
    getting give go going good got guys had has have having he hello help her here hey
    hi him his hm hmm how however i if im in into is isn it its itself ive just kind
    kinda know let like ll looking lot me mean might mine more most much must my myself
    need needed needs no nor not now of off ok okay on once one only or our ours
    out over own please pls plz q question quick quickly rather re really right s said
    same say see seems sh she should so some someone something sorry sort still stuff
    such sure t team tell than thank thanks that thats the their them then there these
    they thing things think this those though thru to too tool tools try trying u uh um
    under up us use used using ve very via wanna want wanted wants was way we well were
    what whats when where whether which while whom why will with within
    without wonder wondering would wow y ya yeah yes yet you your yours yo amazonaws
    service services aws's feature features option options offering product details detail
    info helps helped helping asks asked says tells told tried tries wondered thinking
    dont doesnt didnt cant couldnt wont wouldnt shouldnt isnt arent wasnt werent havent
    hasnt youre theyre lets heres theres whos ill youll weve
    literally totally basically honestly seriously lol sorta simply clearly
    obviously definitely probably maybe somehow anyway
    """.split()
)

# What people call the bot by ("hey bot, quick q"): filler right after a greeting or thanks,
# and a word like any other elsewhere ("waf bot control", "some bot is hammering /login").
ADDRESS_WORDS = frozenset({"bot"})
GREETING_WORDS = frozenset("hey hi hello yo thanks thank thx ty ok okay".split())

# Words that turn "A and B" into a request to compare A with B...
STRONG_COMPARISON_WORDS = frozenset(
    """
    vs versus compare compared comparing comparison difference differences differ
    """.split()
)
# Of those, the ones that stand between the things compared ("kms vs cloudhsm"): they
# compare named topics only when the two sides name different ones.
INFIX_COMPARISON_WORDS = frozenset({"vs", "versus"})
# ...and words that do so only when the question is mostly the names it compares ("kms or
# cloudhsm for our keys?"); elsewhere they join other things ("guardduty flagged it, is that
# on us or on aws?"). See WEAK_COMPARISON_MIN_NAMING_SHARE in settings.py.
WEAK_COMPARISON_WORDS = frozenset("different between against or".split())
COMPARISON_WORDS = STRONG_COMPARISON_WORDS | WEAK_COMPARISON_WORDS

# Stems of short suffixes, longest first; a stem must keep at least 3 letters.
_SUFFIXES = (
    ("ational", "ate"),
    ("ations", "ate"),
    ("ation", "ate"),
    ("ibility", ""),
    ("ability", ""),
    ("ible", ""),
    ("able", ""),
    ("ments", ""),
    ("ment", ""),
    ("ings", ""),
    ("ing", ""),
    ("ions", ""),
    ("ion", ""),
    ("ies", "y"),
    ("ery", ""),
    ("ers", ""),
    ("er", ""),
    ("ed", ""),
    ("ly", ""),
    ("es", ""),
    ("s", ""),
)
_DOUBLE_KEEP = frozenset("lsz")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A small, aggressive suffix stemmer: rotate/rotation/rotating all become 'rotat'.

    Applied twice so that a word and its inflections land together ("ddosed" and "ddos").
    """
    for prefix in _STEM_PREFIXES:
        if word.startswith(prefix):
            return prefix
    return _strip_suffix(_strip_suffix(word))


# Word families whose suffixes the rules below would cut back into another family's stem:
# "responsible" and "response" both became "respon", so "who is responsible" read as half a
# question about incident response.
_STEM_PREFIXES = ("responsib",)


def _strip_suffix(word: str) -> str:
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                continue
            word = word[: -len(suffix)] + replacement
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in _DOUBLE_KEEP | set("aeiou"):
        word = word[:-1]  # scann -> scan, logg -> log
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]  # rotate -> rotat, like rotation/rotating
    return word


def strip_slack_markup(text: str) -> str:
    """Remove mentions, emoji and link targets; keep link labels; undo Slack's &amp; escaping."""
    text = _SLACK_LINK_WITH_LABEL.sub(r" \1 ", text)
    text = _SLACK_LINK.sub(" ", text)
    text = _SLACK_REFERENCE.sub(" ", text)
    text = html.unescape(text)
    text = _BARE_URL.sub(" ", text)
    return _EMOJI.sub(" ", text)


def words(text: str) -> list[str]:
    """Lower-case ASCII words of `text`, Slack markup removed, length capped."""
    # The cap is applied twice: loosely before markup is stripped (a pasted 40 KB message
    # costs nothing), exactly after it (a long link does not use up the question).
    text = _without_markup(text[: MAX_QUESTION_CHARS * 4])[:MAX_QUESTION_CHARS]
    return _WORD.findall(_plain(text))


def lines_words(texts: Sequence[str]) -> list[str]:
    """The words of many knowledge texts read in one pass, each text's words followed by
    LINE_END: the words `words` reads from each, but not capped (knowledge is not pasted)
    and with one regex pass for all of them (the index build reads tens of thousands)."""
    # Markup is stripped text by text: an unclosed "<" must not reach into the next one.
    joined = "\n".join(map(_without_markup, texts))
    return _WORD_OR_LINE_END.findall(_plain(joined + "\n"))


# What `lines_words` puts after each text's words: no word, stem or stop word is "\n".
LINE_END = "\n"
_WORD_OR_LINE_END = re.compile(r"[a-z0-9]+|\n")


# Each step below is skipped when it provably changes nothing (the index build reads tens of
# thousands of plain texts): every Slack reference and link starts with "<", html escapes
# with "&", URLs and emoji contain ":"; a possessive needs a quote; and NFKD-to-ASCII leaves
# ASCII text as it is.


def _without_markup(text: str) -> str:
    if "<" in text or "&" in text or ":" in text:
        return strip_slack_markup(text)
    return text


def _plain(text: str) -> str:
    """`text` lower-cased and made ASCII, possessives and quotes removed."""
    text = text.lower()
    if "'" in text or "\u2019" in text:
        text = _I_WOULD.sub("i", _POSSESSIVE.sub("", text))
    if "w/" in text:
        text = _WITH_SHORTHAND.sub(lambda m: " without " if m.group(1) else " with ", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text.replace("'", "")


def is_filler(word: str) -> bool:
    return word in STOPWORDS


_HEX_DIGITS = frozenset("0123456789abcdef")


def is_resource_id(word: str) -> bool:
    """A pasted identifier: the hex part of a resource ID, or an account ID. It names one
    resource, never what a question is about, so reading it only dilutes the words that are
    ("who deleted sg-0a1b2c3d", "role in 123456789012 gets AccessDenied")."""
    if word.isdigit():
        return len(word) >= MIN_ID_NUMBER_LENGTH
    return (
        len(word) >= MIN_RESOURCE_ID_LENGTH and _HEX_DIGITS.issuperset(word) and not word.isalpha()
    )


def content_words(text: str) -> list[str]:
    """Words of `text` without filler (stop words)."""
    return [w for w in words(text) if w not in STOPWORDS]
