"""Every setting of the matcher, in one place, each with what it trades.

Three kinds live here:
- fixed settings, chosen by reasoning (how much to trust a typo fix, how many candidates
  get the costlier fuzzy score); each says what moving it would cost;
- the *defaults* of the fitted parameters. The values in use come from `fitted.json`, which
  `awssec fit` writes by cross-validation (see docs/matching.md); the defaults here only serve
  when that file is missing or was written for another feature set;
- and, last, the settings of that fit itself (penalties, how much each kind of example counts).

docs/matching.md ("Every setting") has them all in one table; a test keeps it complete.
"""

from __future__ import annotations

# -- reading the question ----------------------------------------------------------------

# Questions are capped before matching: nobody asks a 40 KB question, and the matcher
# must stay fast whatever gets pasted.
MAX_QUESTION_CHARS = 1000
# Resource IDs pasted from the console or an error: the hex part of "sg-0a1b2c3d" or
# "i-0123456789abcdef0" is at least this long (ports and years are shorter, "deadbeef" has no
# digit, "sha256" and "x509" are not hex). Shorter: more hex-looking words dropped.
MIN_RESOURCE_ID_LENGTH = 8
# Numbers this long are account IDs (12 digits), timestamps or phone numbers, not ports,
# days or sizes ("3389", "90 days", "1024"). Shorter: more numbers dropped.
MIN_ID_NUMBER_LENGTH = 10
# Words shorter than this are never typo-corrected: short words have too many neighbours
# one edit away ("iam" / "ram" / "sam"). Lower: more typos fixed, more wrong fixes.
MIN_CORRECTABLE_LENGTH = 4
# An unknown word is read as two known words run together ("sessionmanager") only when each
# part is at least this long. Lower: more pasted identifiers read; more words cut wrongly.
MIN_SPLIT_PART_LENGTH = 3
# An unknown word one edit away from a filler word at least this long is that filler word
# mistyped ("servce", "pleaes"), not a typo of a knowledge word ("serve"). Shorter filler
# words have too many real words one edit away ("how" / "hsm"). Lower: more mistyped filler
# dropped, and more real words taken for filler.
MIN_MISTYPED_FILLER_LENGTH = 6
# Two edits are allowed only from this length on ("sheild" needs one; "athentication" two).
TWO_EDITS_FROM_LENGTH = 8
# A weak comparison word ("or", "between", "against", "different") makes a comparison of
# the topics a question names only when the naming words are at least this share of its
# words ("secrets manager or parameter store for db passwords": 4 of 6). Lower: more
# narratives with an "or" in them answered as a comparison of the topics they happen to
# name; higher: more "X or Y for Z?" questions answered with one topic.
WEAK_COMPARISON_MIN_NAMING_SHARE = 0.4
# A topic named inside another cloud provider's product name, at most this many words after
# the provider, is part of that product ("azure front door waf", "gcp workload identity
# federation", "azure key vault managed hsm"): the question is theirs. More: more questions
# read as about another provider's product; 0: only a name right after the provider
# ("cloudflare waf"). 2 -> 3 refused one more development question and lost none.
PRODUCT_NAME_GAP = 3
# How much a typo-corrected reading of a word counts, per edit, next to the word as typed.
# Lower: a correction can never outweigh what the asker actually wrote.
CORRECTED_TRUST = 0.9
# How much a synonym's expansion counts next to the word itself ("pii" -> "personal data").
SYNONYM_TRUST = 0.85
# A process corrects its first this many unknown words by comparing each with every known
# word of about its length (~0.4 ms a word), then builds typo correction's tables (~70 ms for
# the bundled knowledge; then ~10 us a word): a one-shot `awssec ask` never pays for the
# tables, a server soon does. Lower: tables sooner; the corrections are the same either way.
SCANS_BEFORE_TYPO_TABLES = 64
# Corrections are cached per process; bounded so that pasted junk cannot grow memory.
MAX_CACHED_CORRECTIONS = 50_000
# A word the knowledge has never seen weighs this share of the rarest known word's weight in
# the question's total. Higher: unknown words pull confidence down harder (more refusals).
UNKNOWN_WORD_WEIGHT = 0.8

# -- retrieval (BM25F over the topic's fields) --------------------------------------------

# Fields of a topic, in the order the fitted field weights are stored.
FIELDS = ("names", "keywords", "questions", "summary", "facts")
# Default field weights: a word in a topic's name or aliases ties a question to it more
# than the same word in a fact. Fitted values override these.
DEFAULT_FIELD_WEIGHTS = {
    "names": 3.0,
    "keywords": 2.0,
    "questions": 1.0,
    "summary": 0.8,
    "facts": 0.4,
}
# BM25 term-frequency saturation: higher lets a word repeated across many example questions
# count for more; lower treats "mentioned once" and "mentioned ten times" alike.
DEFAULT_K1 = 1.2
# BM25 length normalisation: 1 divides by the field's length fully, 0 ignores length.
# Higher favours topics with short, focused fields over long ones.
DEFAULT_B = 0.5
# Fields grouped by what a match in them says: the vocabulary people use about a topic (its
# names and keywords), how people ask about it (example questions), and what the docs say
# (summary and facts). Each group's coverage is its own feature, so the fit learns that a
# match on a word only the facts use ("maximum", "size") is weak evidence.
FIELD_GROUPS = {
    "vocabulary": ("names", "keywords"),
    "questions": ("questions",),
    "prose": ("summary", "facts"),
}
# Word pairs ("flow log", "key policy") are indexed from these fields only: pairs in prose
# are mostly noise, pairs in names and questions carry meaning.
PAIR_FIELDS = ("names", "keywords", "questions")

# -- candidates and the decision ------------------------------------------------------------

# Topics that get the full feature set (including the fuzzy paraphrase score, the costly
# part). More: slower, and a deeper ranking mistake can be repaired; fewer: faster.
CANDIDATES = 10
# Groups of readings (a typo fix, a synonym's expansions: "kms" is also "key management")
# whose best reading per document is kept per process once worked out; bounded so that
# pasted junk cannot grow memory (each entry is up to one tuple per document).
MAX_KEPT_GROUPS = 4_096
# Out-of-scope areas (knowledge `out_of_scope:`) that get the full feature set next to the
# topics' shortlist: only the best one matters to the decision. More: slower.
AREA_CANDIDATES = 2
# A question is refused when the best out-of-scope area's utility beats the best topic's by
# more than this ("how do I speed up lambda cold starts" reads like Lambda operations, not
# like AWS Signer). Higher: fewer refusals by area, and more neighbours answered for
# questions that are not about security; lower (negative): areas refuse even questions a
# topic wins narrowly.
AREA_REFUSAL_MARGIN = 0.0
# Candidates offered as "did you mean" when the bot does not answer.
MAX_SUGGESTIONS = 3
# A candidate is only suggested if its probability is at least this; keeps random topics out
# of the suggestions for "best pizza near the office". Lower: more (and weaker) suggestions.
MIN_SUGGESTION_PROBABILITY = 0.01
# When answering, a runner-up at least this fraction as likely as the winner is named as
# "did you mean". Higher: fewer, surer extra suggestions.
RUNNER_UP_RATIO = 0.5
# Up to this many topics are answered together in a comparison ("KMS vs CloudHSM").
MAX_COMPARED = 3

# The default of the one threshold: answer when the estimated probability that the top
# topic is right is at least this. The fitted threshold in fitted.json overrides it.
DEFAULT_ANSWER_THRESHOLD = 0.5

# -- follow-ups in a conversation -------------------------------------------------------

# A follow-up in a conversation about a topic ("how much does it cost?" in a thread the bot
# answered about GuardDuty) is answered with that topic when the fitted decision, taking it
# as the winner, gives it at least this. Set on its own, not from the fitted threshold: the
# subject's added name lifts any chatter, and on tests/followups.yaml chatter in a thread
# ("who broke the build?") scores up to ~0.4 and real follow-ups mostly above 0.45 (the
# fitted threshold, now chosen on the calibration sets and lower, would keep chatter on the
# topic). Lower: more follow-ups kept on the topic, and chatter answered with it.
FOLLOW_UP_THRESHOLD = 0.45
# ...and when the follow-up's own words (the topic's name, read into it, aside) explain at
# least this share of it (the subject's `rest_coverage`): the name alone makes any chatter
# look like a question about the topic ("did you see the game?"). On tests/followups.yaml
# with the final knowledge of 2026-12-01: at 0.2, 39/40 follow-ups, 2/8 chatter answered in
# its thread and 10/96 across every thread topic; at 0.25, 37/40, 2/8, 6/96; at 0.3, 35/40,
# 1/8, 3/96. Higher: less chatter answered, and terse follow-ups ("what does it cost per
# secret") lost.
FOLLOW_UP_MIN_OWN_EVIDENCE = 0.3

# -- fitting (`awssec fit`) ---------------------------------------------------------------

# L2 penalty on the weights: larger keeps weights small and the fit stable on little data;
# smaller follows the training data more closely (and overfits sooner).
RANKING_L2 = 1.0
DECISION_L2 = 1.0
# How much a leave-topic-out example counts next to a real question. They teach refusing
# questions about services the knowledge lacks; at 1.0 they outnumber real refusals 20 to 1
# and the bot grows timid on hard in-scope questions.
LEAVE_TOPIC_OUT_WEIGHT = 0.2
# The public set's questions count this much each: they were written as users type, unlike
# the knowledge's own example questions, which share the writers' wording with the facts.
PUBLIC_WEIGHT = 6.0
# How much each out-of-scope area's example question counts, matched with it left out of its
# area (and, at LEAVE_TOPIC_OUT_WEIGHT, with its whole area left out: a question no area
# covers). They teach the decision what a question to refuse looks like when it shares words
# with a topic; higher makes the bot warier of every question near an area.
AREA_WEIGHT = 1.0
# Coordinate search over retrieval settings: factors tried on each field weight, and b values.
FIELD_WEIGHT_FACTORS = (0.5, 0.75, 1.5, 2.0)
B_VALUES = (0.3, 0.5, 0.75)
SEARCH_ROUNDS = 2
NEWTON_ITERATIONS = 25
