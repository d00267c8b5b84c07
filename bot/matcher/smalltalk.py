"""Recognise greetings, thanks and requests for help, which get a canned reply."""

from __future__ import annotations

GREETING = "greeting"
THANKS = "thanks"
HELP = "help"

_TRIGGERS = {
    THANKS: frozenset(
        """
    thanks thank thx ty tysm cheers appreciated appreciate kudos ta great awesome nice
    perfect cool brilliant helpful
    """.split()
    ),
    HELP: frozenset(
        """
    help usage commands command howto instructions
    """.split()
    ),
    GREETING: frozenset(
        """
    hi hello hey heya hiya yo howdy sup morning afternoon evening gm hallo hola
    greetings
    """.split()
    ),
}
# Words that may surround a trigger without turning it into a real question.
_FILLER = frozenset(
    """
    a an the there you u bot awssec so much very lot lots for that this it is are am
    good me please pls plz can do does what who how work works working i my mate all
    folks team everyone again man buddy friend again you re just oh ok okay wow really
    super that's thats doing today hows how's going up whats
    """.split()
)


def detect_small_talk(words: list[str]) -> str | None:
    """'greeting', 'thanks' or 'help' when `words` are only small talk, else None."""
    if not words or len(words) > 8:
        return None
    found = [kind for kind, triggers in _TRIGGERS.items() for w in words if w in triggers]
    if not found:
        return None
    if any(w not in _FILLER and not any(w in t for t in _TRIGGERS.values()) for w in words):
        return None
    for kind in (THANKS, HELP, GREETING):
        if kind in found:
            return kind
    return None
