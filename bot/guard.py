"""Credential guard: spots secrets pasted into questions so they never reach storage or logs.

Pure functions over strings. The patterns lean towards catching a real credential (a false
positive only costs a redacted word) but stay quiet on ordinary AWS questions, ARNs, git SHAs,
Java class paths, docs URLs and placeholders such as ``AKIAXXXXXXXXXXXXXXXX``.

Detection runs on *normalised views* of the text, never on the text as typed:

* view A: Unicode NFKC (full-width ``ＡＫＩＡ…`` becomes ``AKIA…``), zero-width and other
  invisible format characters removed, ``%2F``-style escapes decoded (URL-encoded tokens);
* view B: view A with line breaks (and the blanks around them) removed, so a key wrapped over
  two lines is one run again.

Every view keeps, for each of its characters, the span of the original text it came from, so a
finding is reported (and redacted) in the coordinates of the *original* text.

The rules are our own, written with the rule sets of maintained scanners as the reference for
what real credentials look like: gitleaks (cmd/generate/config/rules: aws.go, slack.go,
github.go, jwt.go, privatekey.go) and Yelp's detect-secrets (plugins/aws.py, slack.py,
private_key.py, basic_auth.py, jwt.py).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = [
    "RedactingLogFilter",
    "SecretFinding",
    "contains_secret",
    "find_secrets",
    "looks_secret_shaped",
    "redact",
]

ACCESS_KEY_ID = "AWS access key id"
SECRET_ACCESS_KEY = "AWS secret access key"
SESSION_TOKEN = "AWS session token"
PRIVATE_KEY = "private key"
SLACK_TOKEN = "Slack token"
SLACK_WEBHOOK = "Slack webhook URL"
GITHUB_TOKEN = "GitHub token"
URL_PASSWORD = "password in a URL"
JWT = "JSON Web Token"
PASSWORD = "password or API token"


@dataclass(frozen=True)
class SecretFinding:
    kind: str
    start: int  # in the original text
    end: int


# ------------------------------------------------------------------------------ tunables

# Characters either side of a candidate searched for a key id or a word such as "secret".
# Trade: wider catches a secret pasted further from its key id, but lets an unrelated word
# vouch for a random-looking run.
_CONTEXT_WINDOW = 100
# A base64 run at least this long, near a key id or the word "token", is a session token
# (real ones are 300-1,200 characters). Trade: lower catches truncated tokens, but starts to
# redact other long base64 blobs that sit near the word "token".
_SESSION_TOKEN_MIN_CHARS = 100
# A key id or secret typed with spaces in it is accepted in at most this many pieces.
# Trade: more catches keys broken up more, but lets all-caps prose ("ASIA PACIFIC …") match.
_MAX_PIECES = 3
# Fewer distinct characters than this in the random part of a key id (16 chars) or a secret
# (40 chars) marks a placeholder (AKIAXXXXXXXXXXXXXXXX, AKIA0000…). Real random ids have
# ~12 and keys ~28; trade: higher rejects more placeholders but may skip an unlucky real key.
_MIN_DISTINCT_KEY_ID = 5
_MIN_DISTINCT_SECRET = 10
# "Secret-shaped" (never quoted back): a run at least this long mixing upper case, lower
# case and digits. Trade: shorter withholds the quote for more ordinary ids.
_SHAPED_MIN_CHARS = 20

# ------------------------------------------------------------------------------ normalising

# Invisible format characters people (or copy-paste) put inside tokens: soft hyphen, Mongolian
# vowel separator, zero-width space/joiners, bidi marks and embeddings, word joiner and
# invisible operators, BOM.
_INVISIBLE = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
_VIEW_A_EDITS = re.compile(
    rf"(?P<invisible>[{_INVISIBLE}]+)|(?P<wide>[^\x00-\x7f{_INVISIBLE}]+)|%(?P<hex>[0-9A-Fa-f]{{2}})"
)
_LINE_BREAK = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")


class _View:
    """A rewritten copy of the text with, per character, the original span it came from.

    `begin`/`end` are None while the view is the original text itself (the common case:
    plain ASCII), so the usual message costs no mapping lists.
    """

    __slots__ = ("begin", "end", "text")

    def __init__(self, text: str, begin: list[int] | None, end: list[int] | None) -> None:
        self.text = text
        self.begin = begin
        self.end = end

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if self.begin is None or self.end is None:
            return start, end
        return self.begin[start], self.end[end - 1]


# A rewrite turns one regex match into pieces: (new text, start, end) in the source view.
_Pieces = list[tuple[str, int, int]]


def _rewrite(
    view: _View, pattern: re.Pattern[str], edit: Callable[[re.Match[str]], _Pieces]
) -> _View:
    """`view` with every match of `pattern` replaced by `edit(match)`, mapping kept."""
    if not pattern.search(view.text):
        return view
    parts: list[str] = []
    begin: list[int] = []
    end: list[int] = []
    pos = 0
    for match in pattern.finditer(view.text):
        parts.append(view.text[pos : match.start()])
        begin.extend(range(pos, match.start()))
        end.extend(range(pos + 1, match.start() + 1))
        for piece, piece_start, piece_end in edit(match):
            parts.append(piece)
            begin.extend([piece_start] * len(piece))
            end.extend([piece_end] * len(piece))
        pos = match.end()
    parts.append(view.text[pos:])
    begin.extend(range(pos, len(view.text)))
    end.extend(range(pos + 1, len(view.text) + 1))
    if view.begin is not None and view.end is not None:  # compose with the earlier view
        outer_begin, outer_end = view.begin, view.end
        begin = [outer_begin[i] for i in begin]
        end = [outer_end[i - 1] for i in end]
    return _View("".join(parts), begin, end)


def _edit_view_a(match: re.Match[str]) -> _Pieces:
    if match.group("invisible"):
        return []
    if match.group("hex"):
        char = chr(int(match.group("hex"), 16))
        # Only printable ASCII: "%0A" or "%00" stay as typed.
        keep = " " <= char <= "~"
        return [(char if keep else match.group(), match.start(), match.end())]
    run, offset = match.group("wide"), match.start()
    if unicodedata.is_normalized("NFKC", run):  # most non-ASCII prose: one piece, as is
        return [(run, offset, match.end())]
    return [
        (unicodedata.normalize("NFKC", c), offset + i, offset + i + 1) for i, c in enumerate(run)
    ]


def _drop(match: re.Match[str]) -> _Pieces:
    return []


def _views(text: str) -> Iterator[tuple[_View, bool]]:
    """(view, joined) pairs: the normalised text, then the same with line breaks joined."""
    view_a = _rewrite(_View(text, None, None), _VIEW_A_EDITS, _edit_view_a)
    yield view_a, False
    view_b = _rewrite(view_a, _LINE_BREAK, _drop)
    if view_b is not view_a:
        yield view_b, True


# ------------------------------------------------------------------------------ detectors

# A found span in view coordinates.
_Hit = tuple[str, int, int]

# Key ids: the credential prefixes only (AKIA long-term, ASIA temporary, ABIA STS bearer,
# ACCA context-specific, A3T… older ids; gitleaks aws.go). AROA/AIDA/… are unique ids of
# roles and users, not secrets. Case-insensitive with optional blanks between characters
# (a key typed in lower case or broken up); `_key_id_ok` then decides.
_GAP = r"[ \t]{0,2}"
_KEY_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)" + rf"(?:{_GAP}[A-Z0-9]){{16}}"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)

# A secret access key is 40 base64 characters; the look-arounds reject slices of longer runs
# (base64 blobs, PEM bodies). detect-secrets' aws.py pairs this shape with nearby context.
_B64 = "A-Za-z0-9/+="
_SECRET_KEY_SHAPE = re.compile(rf"(?<![{_B64}])[{_B64}]{{40}}(?![{_B64}])")
_SECRET_CONTEXT = re.compile(r"secret|credential|passw(?:or)?d|private", re.IGNORECASE)
_TOKEN_CONTEXT = re.compile(r"token|session|credential|secret", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-fA-F]+")
# A secret broken by blanks: up to _MAX_PIECES runs after a key id or a `secret =` name.
_SPLIT_VALUE = re.compile(
    rf"[\s:=,\"']{{0,6}}([{_B64}]+(?:[ \t]{{1,2}}[{_B64}]+){{1,{_MAX_PIECES - 1}}})"
)
_PIECE = re.compile(rf"[{_B64}]+")
# Java class paths and file paths: every /-separated segment is a lower-case or CamelCase word.
_PATH_SEGMENT = re.compile(r"[a-z0-9]+|(?:[A-Z][a-z0-9]+)+|[A-Z0-9]{1,3}")

# `aws_secret_access_key = ...`, `"SecretAccessKey": "..."`, `export AWS_SESSION_TOKEN=...`,
# `X-Amz-Security-Token=` in a presigned URL: the value is a secret whatever its length.
_AWS_ASSIGNMENT = re.compile(
    r"(?P<name>aws_secret_access_key|secret_access_key|secretaccesskey|aws_secret_key"
    r"|aws_session_token|session_token|sessiontoken|aws_security_token|x-amz-security-token)"
    rf"[\"']?\s*[:=]\s*[\"']?(?P<value>[{_B64}]{{8,}})",
    re.IGNORECASE,
)
# Other credentials by name (gitleaks' generic-api-key idea, much narrower).
_OTHER_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9])(?P<name>password|passwd|client_secret|api[_-]?key|access[_-]?token"
    r"|auth[_-]?token|refresh[_-]?token)"
    r"[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"'<>]{8,})"
    r"|(?<![A-Za-z0-9])bearer\s+(?P<bearer>[A-Za-z0-9._~+/-]{20,}=*)",
    re.IGNORECASE,
)
_PLACEHOLDER_START = tuple("$<{[*%")
_PLACEHOLDER_WORDS = frozenset(
    {"password", "changeme", "secret", "redacted", "example", "xxxxxxxx", "none", "null"}
)

# AWS session tokens: base64 of a protobuf-like blob starting "…origin_ec" (IQoJb3JpZ2luX2Vj)
# or "…er/aws" (FwoGZXIvYXdz, FQoGZXIvYXdz) in older tokens.
_SESSION_TOKEN = re.compile(
    rf"(?<![{_B64}])(?:[A-Za-z0-9+/]{{2}}oJb3JpZ2luX2Vj|F[wQ]oGZXIvYXdz)[{_B64}]{{16,}}"
)
_LONG_B64 = re.compile(rf"(?<![{_B64}])[{_B64}]{{{_SESSION_TOKEN_MIN_CHARS},}}")

# Through the END line, or to the end of the text when the paste was cut short.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r".*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# A key body pasted without its header: the DER openings of private keys (PKCS#1 RSA
# "…IBAAK", PKCS#8 "…IBADAN", EC "MHcCAQEE"/"MHQCAQEE"/"MIGkAgEB", PKCS#8 EC/Ed25519
# "MIGHAgEA"/"MIG2AgEA"/"MC4CAQAw") and OpenSSH's "openssh-key-v1" (b3BlbnNzaC1rZXktdjE).
# Certificates (public) start "MIIxxCCA…" and do not match.
_HEADERLESS_KEY = re.compile(
    r"(?<![A-Za-z0-9+/=])"
    r"(?:MII[A-Za-z0-9+/]{1,3}IBA(?:AK|DAN)|MHcCAQEE|MHQCAQEE|MIGkAgEB|MIGHAgEA|MIG2AgEA"
    r"|MC4CAQAw|b3BlbnNzaC1rZXktdjE)"
    rf"[{_B64}]{{16,}}"
)

# Slack tokens (gitleaks slack.go): bot/user/app/config/refresh tokens, and the xoxc-/xoxd-
# pair of a browser session (xoxd is URL-encoded in cookies; view A decodes it).
_SLACK_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:xox[abposrecd](?:\.xox[a-z])?-|xapp-)[A-Za-z0-9/+=-]{10,}",
    re.IGNORECASE,
)
# With or without https:// (Slack shows a pasted bare URL as <http://…|…>).
_SLACK_WEBHOOK = re.compile(
    r"(?<![A-Za-z0-9.])(?:https?://)?hooks\.slack(?:-gov)?\.com/"
    r"(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{8,}",
    re.IGNORECASE,
)
# GitHub (gitleaks github.go): classic ghp_/gho_/ghu_/ghs_/ghr_ tokens, fine-grained PATs.
_GITHUB_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})"
    r"(?![A-Za-z0-9_])"
)
# scheme://user:password@host (detect-secrets basic_auth.py): the password part only.
_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@<>|]{1,128}:"
    r"(?P<password>[^\s/@<>|]{1,256})@"
)
# Header and payload both base64url of a JSON object ("{\"" → eyJ); signature optional.
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def _distinct(value: str) -> int:
    return len(set(value))


def _is_placeholder(value: str) -> bool:
    bare = value.strip("\"'")
    return (
        bare.startswith(_PLACEHOLDER_START)
        or bare.lower() in _PLACEHOLDER_WORDS
        or _distinct(bare) < 4
        or set(bare) <= set("xX*.-_#")
    )


def _looks_random(candidate: str) -> bool:
    """A run mixing upper case, lower case and digits (and not hex) is almost surely a key."""
    return (
        any(c.isupper() for c in candidate)
        and any(c.islower() for c in candidate)
        and any(c.isdigit() for c in candidate)
        and not _HEX.fullmatch(candidate)
    )


def _looks_like_path(candidate: str) -> bool:
    """com/amazonaws/services/s3/AmazonS3Client: every segment a word, at least two slashes."""
    segments = candidate.strip("/").split("/")
    return len(segments) >= 3 and all(_PATH_SEGMENT.fullmatch(s) for s in segments)


def _key_id_ok(match: re.Match[str]) -> bool:
    candidate = match.group()
    compact = "".join(candidate.split())
    body = compact[4:]
    if _distinct(body) < _MIN_DISTINCT_KEY_ID:
        return False
    if compact.isupper() and compact == candidate:
        return True
    # Broken up or lower case: prose can look like that ("ASIA PACIFIC …"), a real key
    # almost always has a digit (16 random characters of 36) and is in one case.
    pieces = len(candidate.split())
    return (
        pieces <= _MAX_PIECES
        and any(c.isdigit() for c in body)
        and (compact.isupper() or compact.islower())
    )


def _secret_ok(candidate: str) -> bool:
    return _distinct(candidate) >= _MIN_DISTINCT_SECRET and not _looks_like_path(candidate)


def _near(spans: list[tuple[int, int]], lo: int, hi: int) -> bool:
    return any(s < hi and e > lo for s, e in spans)


def _split_secret_after(text: str, pos: int) -> _Hit | None:
    """A 40-character secret broken by blanks, starting right after `pos`."""
    match = _SPLIT_VALUE.match(text, pos)
    if not match:
        return None
    total, start = 0, match.start(1)
    for piece in _PIECE.finditer(text, start, match.end(1)):
        total += len(piece.group())
        if total == 40:
            joined = "".join(text[start : piece.end()].split())
            if _looks_random(joined) and _secret_ok(joined):
                return SECRET_ACCESS_KEY, start, piece.end()
            return None
        if total > 40:
            return None
    return None


def _has(lowered: str, keywords: tuple[str, ...]) -> bool:
    """gitleaks' keyword prefilter: a plain substring test is far cheaper than a regex."""
    return any(k in lowered for k in keywords)


_KEY_ID_WORDS = ("akia", "asia", "abia", "acca", "a3t")
_AWS_NAME_WORDS = ("secret", "token")
_OTHER_NAME_WORDS = ("pass", "secret", "api_key", "apikey", "api-key", "token", "bearer")


def _aws_hits(text: str, lowered: str, joined: bool) -> Iterator[_Hit]:
    key_ids = []
    if _has(lowered, _KEY_ID_WORDS):
        key_ids = [m.span() for m in _KEY_ID.finditer(text) if _key_id_ok(m)]
    for start, end in key_ids:
        yield ACCESS_KEY_ID, start, end
        split = _split_secret_after(text, end)
        if split:
            yield split

    for m in _SECRET_KEY_SHAPE.finditer(text):
        candidate, (s, e) = m.group(), m.span()
        if not _secret_ok(candidate):
            continue
        lo, hi = max(0, s - _CONTEXT_WINDOW), e + _CONTEXT_WINDOW
        vouched = _near(key_ids, lo, hi) or bool(_SECRET_CONTEXT.search(text, lo, hi))
        # A bare git SHA (40 hex chars) is only a secret when something says so; on the
        # line-joined view a shape alone is not enough (two joined lines can look random).
        if vouched or (not joined and _looks_random(candidate)):
            yield SECRET_ACCESS_KEY, s, e

    aws_names = _AWS_ASSIGNMENT.finditer(text) if _has(lowered, _AWS_NAME_WORDS) else ()
    for m in aws_names:
        kind = SESSION_TOKEN if "token" in m.group("name").lower() else SECRET_ACCESS_KEY
        if kind == SECRET_ACCESS_KEY:
            split = _split_secret_after(text, m.start("value"))
            if split:
                yield split
        yield kind, m.start("value"), m.end("value")

    yield from ((SESSION_TOKEN, *m.span()) for m in _SESSION_TOKEN.finditer(text))
    for m in _LONG_B64.finditer(text):
        s, e = m.span()
        lo, hi = max(0, s - _CONTEXT_WINDOW), e + _CONTEXT_WINDOW
        if _near(key_ids, lo, hi) or _TOKEN_CONTEXT.search(text, lo, s):
            yield SESSION_TOKEN, s, e


# (kind, pattern, keywords: at least one must occur, lower-cased, for the pattern to run)
_SIMPLE_DETECTORS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    (PRIVATE_KEY, _PRIVATE_KEY, ("private key",)),
    (PRIVATE_KEY, _HEADERLESS_KEY, ("mii", "mhcc", "mhqc", "mig", "mc4c", "b3blbnnzac1")),
    (SLACK_TOKEN, _SLACK_TOKEN, ("xox", "xapp-")),
    (SLACK_WEBHOOK, _SLACK_WEBHOOK, ("hooks.slack",)),
    (GITHUB_TOKEN, _GITHUB_TOKEN, ("gh", "github_pat_")),
    (JWT, _JWT, ("eyj",)),
)


def _other_hits(text: str, lowered: str) -> Iterator[_Hit]:
    for kind, pattern, keywords in _SIMPLE_DETECTORS:
        if _has(lowered, keywords):
            yield from ((kind, *m.span()) for m in pattern.finditer(text))
    for m in _URL_PASSWORD.finditer(text) if "://" in text else ():
        if not _is_placeholder(m.group("password")):
            yield URL_PASSWORD, m.start("password"), m.end("password")
    for m in _OTHER_ASSIGNMENT.finditer(text) if _has(lowered, _OTHER_NAME_WORDS) else ():
        group = "bearer" if m.group("bearer") else "value"
        if not _is_placeholder(m.group(group)):
            yield PASSWORD, m.start(group), m.end(group)


def _merge(found: list[SecretFinding]) -> list[SecretFinding]:
    """Earliest, longest first; overlapping findings become one, so each secret is replaced
    exactly once (a key inside a PEM block, the same key seen in two views)."""
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    result: list[SecretFinding] = []
    for finding in found:
        if result and finding.start < result[-1].end:
            if finding.end > result[-1].end:
                last = result[-1]
                result[-1] = SecretFinding(last.kind, last.start, finding.end)
            continue
        result.append(finding)
    return result


def find_secrets(text: str) -> list[SecretFinding]:
    """The credentials in ``text`` (positions in ``text`` as given), in order, no overlaps.

    Scan the whole message: a secret cut by truncation is no longer recognisable.
    """
    if not text:
        return []
    found: list[SecretFinding] = []
    for view, joined in _views(text):
        # Only for the keyword prefilters: lower() may change lengths, so never index it.
        lowered = view.text.lower()
        hits = (*_aws_hits(view.text, lowered, joined), *_other_hits(view.text, lowered))
        for kind, start, end in hits:
            if end > start:
                found.append(SecretFinding(kind, *view.original_span(start, end)))
    return _merge(found)


def redact(text: str) -> str:
    """``text`` with every credential replaced by ``[REDACTED <kind>]``; the rest as typed."""
    findings = find_secrets(text)
    if not findings:
        return text
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(f"[REDACTED {f.kind}]")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def contains_secret(text: str) -> bool:
    return bool(find_secrets(text))


_SHAPED_RUN = re.compile(rf"[A-Za-z0-9/+=_-]{{{_SHAPED_MIN_CHARS},}}")


def looks_secret_shaped(text: str) -> bool:
    """True when ``text`` holds a credential or anything shaped like one (a long run mixing
    upper case, lower case and digits): such text must not be quoted back publicly."""
    if contains_secret(text):
        return True
    # View A only: joining lines glues ordinary words into random-looking runs.
    view_a, _joined = next(_views(text))
    return any(
        _looks_random(m.group()) and not _looks_like_path(m.group())
        for m in _SHAPED_RUN.finditer(view_a.text)
    )


class RedactingLogFilter(logging.Filter):
    """Redact credentials in log records before any handler formats them.

    Install on handlers (not loggers): a logger's filters do not see records propagated from
    child loggers, a handler's do. The record is rewritten in place, so every handler that
    sees it afterwards gets the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A broken format string: logging will report it; still hide what we can.
            message = f"{record.msg} {record.args!r}"
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the traceback text is redacted too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
