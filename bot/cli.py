"""`awssec`: ask questions from a terminal, check knowledge, evaluate, report, serve Slack.

Heavy or optional layers (Slack, SQLAlchemy) are imported inside the commands that need
them, so `awssec ask` starts fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from bot import __version__
from bot.config import SettingsError, cache_dir_from_env
from bot.knowledge import KnowledgeError, check_knowledge, resolve_knowledge_path
from bot.matcher.answer import Answer
from bot.matcher.service import AnswerService, LearnedSource

if TYPE_CHECKING:  # only for types: SQLAlchemy is imported by the commands that need it
    from pathlib import Path

    from bot.knowledge import KnowledgeBase, Topic
    from bot.storage import Draft, LearnedQuestion, Store

T = TypeVar("T")


class CliError(Exception):
    """A problem to print as one line, exiting with `status`."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"awssec: knowledge has {len(exc.problems)} problem(s); nothing loaded", file=sys.stderr
        )
        return 1
    except CliError as exc:
        print(f"awssec: {exc}", file=sys.stderr)
        return exc.status
    except SettingsError as exc:  # e.g. a malformed AWSSEC_STALE_DAYS
        print(f"awssec: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `awssec list | head`
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="awssec", description="Answers AWS security and compliance questions."
    )
    parser.add_argument("--version", action="version", version=f"awssec {__version__}")
    knowledge = argparse.ArgumentParser(add_help=False)
    knowledge.add_argument(
        "--knowledge",
        metavar="PATH",
        help="knowledge file or folder (default: $AWSSEC_KNOWLEDGE, else the bundled knowledge)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = sub.add_parser("ask", parents=[knowledge], help="answer one question")
    ask.add_argument("question", nargs="+", help="the question; '-' reads one per line from stdin")
    ask.add_argument("--json", action="store_true", help="print JSON (one object per question)")
    ask.add_argument(
        "--explain",
        action="store_true",
        help="show how the question was read, the candidates' signals and why the winner won",
    )
    _learned_options(ask)
    ask.set_defaults(run=cmd_ask)

    chat = sub.add_parser("chat", parents=[knowledge], help="ask questions one after another")
    _learned_options(chat)
    chat.set_defaults(run=cmd_chat)

    lst = sub.add_parser("list", parents=[knowledge], help="list topics by category")
    lst.set_defaults(run=cmd_list)

    check = sub.add_parser("check", help="validate knowledge files")
    check.add_argument("path", nargs="?", help="file or folder (default: the knowledge in use)")
    check.add_argument(
        "--stale",
        type=_non_negative_int,
        metavar="DAYS",
        help="list the topics whose facts were reviewed more than DAYS ago",
    )
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")
    check.set_defaults(run=cmd_check)

    evaluate = sub.add_parser(
        "eval", parents=[knowledge], help="score the matcher on a question set"
    )
    evaluate.add_argument("file", nargs="?", help="YAML file of questions with expected topic ids")
    evaluate.add_argument("--min-accuracy", type=float, default=0.0, metavar="FRACTION")
    evaluate.add_argument("--min-refusal", type=float, default=0.0, metavar="FRACTION")
    evaluate.add_argument(
        "--sweep", action="store_true", help="accuracy and refusal across thresholds"
    )
    evaluate.add_argument(
        "--figures-only",
        action="store_true",
        help="print the figures, not the missed questions (to score a held-out set without "
        "reading its misses, which would make it a development set)",
    )
    evaluate.add_argument(
        "--cross-validate",
        action="store_true",
        help="score the knowledge's own example questions, each left out in turn "
        "(and each topic left out: those should be refused)",
    )
    _learned_options(evaluate)
    evaluate.set_defaults(run=cmd_eval)

    fit = sub.add_parser(
        "fit", parents=[knowledge], help="fit the matcher's parameters by cross-validation"
    )
    fit.add_argument(
        "--questions",
        action="append",
        metavar="FILE",
        help="question sets to fit on as well (default: tests/questions.yaml if present); "
        "never a held-out set",
    )
    fit.add_argument(
        "--development",
        action="append",
        metavar="FILE",
        help="question sets to choose the threshold on as well (only their out-of-scope "
        "questions when there are calibration sets), and fit nothing else on "
        "(default: the sets tests/heldout/development.txt lists); never a held-out set",
    )
    fit.add_argument(
        "--calibration",
        action="append",
        metavar="FILE",
        help="question sets nobody has read, whose in-scope questions choose the threshold "
        "in place of the other sets', and fit nothing else on "
        "(default: the sets tests/heldout/calibration.txt lists)",
    )
    fit.add_argument("--output", metavar="PATH", help="where to write (default: the bundled file)")
    fit.add_argument(
        "--no-search", action="store_true", help="keep the retrieval settings; fit the rest"
    )
    fit.set_defaults(run=cmd_fit)

    report = sub.add_parser(
        "report", parents=[knowledge], help="what people asked, missed and found (un)helpful"
    )
    report.add_argument("--since", default="7d", help="period, e.g. 24h, 7d, 2w (default 7d)")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.set_defaults(run=cmd_report)

    _learned_parser(sub, knowledge)

    serve = sub.add_parser(
        "serve", parents=[knowledge], help="run the Slack bot (Socket Mode or HTTP)"
    )
    serve.set_defaults(run=cmd_serve)
    return parser


def _service(args: argparse.Namespace) -> AnswerService:
    path = resolve_knowledge_path(args.knowledge)
    if not path.exists():
        raise CliError(f"knowledge not found: {path}")
    learned = None if getattr(args, "no_learned", True) else _learned_source(args.team)
    # No background thread: a command answers with what it read at start. The compiled
    # knowledge is kept between runs: each command is a new process.
    return AnswerService(
        path,
        reload_interval=None,
        learned=learned,
        background=False,
        cache_dir=cache_dir_from_env(),
    )


def _answer_json(answer: Answer, text: str) -> str:
    return json.dumps(
        {
            "question": answer.question,
            "kind": answer.kind.value,
            "topics": answer.topic_ids,
            "suggestions": answer.suggestion_ids,
            "confidence": answer.confidence,
            "text": text,
        },
        ensure_ascii=False,
    )


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.rendering.text import render_text

    service = _service(args)
    kb = service.knowledge
    if args.question == ["-"]:
        # Bytes in, decoded here: invalid UTF-8 becomes U+FFFD instead of lone surrogates
        # that would make the JSON output invalid.
        for raw in sys.stdin.buffer:
            answer = service.answer(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            text = render_text(answer, kb)
            print(_answer_json(answer, text) if args.json else text + "\n", flush=True)
        return 0
    question = _valid_text(" ".join(args.question))
    if not question.strip():
        raise CliError('the question is empty; try: awssec ask "which service finds PII?"')
    if args.explain:
        from bot.matcher.matcher import explanation_lines

        for line in explanation_lines(service.matcher_for().explain(question)):
            print(line)
        print()
    answer = service.answer(question)
    text = render_text(answer, kb)
    print(_answer_json(answer, text) if args.json else text)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.rendering.text import render_list_text, render_text

    service = _service(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"awssec: {len(service.knowledge)} topics. Ask away; 'list', 'help', 'quit'.")
    while True:
        try:
            line = input("awssec> " if interactive else "")
        except EOFError:
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in ("quit", "exit", "bye", ":q"):
            break
        if question.lower() == "list":
            print(render_list_text(service.knowledge))
        else:
            print(render_text(service.answer(question), service.knowledge, command=""))
        print()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bot.rendering.text import render_list_text

    print(render_list_text(_service(args).knowledge))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bot.knowledge.review import knowledge_warnings, stale_topics
    from bot.matcher.index import unread_texts

    path = resolve_knowledge_path(args.path)
    problems = check_knowledge(path)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    kb = AnswerService(path, reload_interval=None).knowledge
    warnings = sorted(knowledge_warnings(kb) + unread_texts(kb))
    for warning in warnings:
        print(warning)
    failed = bool(warnings) and args.strict
    if args.stale is not None:
        stale = stale_topics(kb, args.stale)
        for topic in stale:
            when = topic.reviewed.isoformat() if topic.reviewed else "never"
            print(f"{topic.file}:{topic.line}: stale: topic '{topic.id}' reviewed {when}")
        print(f"{len(stale)} topic(s) reviewed more than {args.stale} days ago")
        failed = failed or (bool(stale) and args.strict)
    summary = (
        f"{len(kb)} topics, {len(kb.synonyms)} synonyms, "
        f"{len(kb.out_of_scope)} out-of-scope areas in {path}"
    )
    if failed:
        print(f"FAIL (--strict): {summary}", file=sys.stderr)
        return 1
    print(f"OK: {summary}" + (f"; {len(warnings)} warning(s)" if warnings else ""))
    return 0


def _valid_text(text: str) -> str:
    """Command-line text with undecodable bytes (kept by Python as surrogates) replaced."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"days must not be negative: {text!r}")
    return value


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluation import cross_validate, cross_validate_areas, evaluate, load_questions

    service = _service(args)
    if args.cross_validate:
        leave_one_out, leave_topic_out = cross_validate(service.matcher_for())
        result = leave_one_out
        result.records.extend(leave_topic_out.records)
        print(
            "cross-validation: in scope, each example question left out of its topic; "
            "out of scope, each topic left out (its questions should then be refused)"
        )
        for line in result.figure_lines():
            print(line)
        without_question, without_area = cross_validate_areas(service.matcher_for())
        if without_question.records:
            print(
                "out-of-scope areas refused, each example question left out of its area: "
                f"{without_question.refusal_rate:.1%} ({without_question.refused}/"
                f"{without_question.out_of_scope}); each area left out: "
                f"{without_area.refusal_rate:.1%} ({without_area.refused}/"
                f"{without_area.out_of_scope})"
            )
    elif args.file:
        try:
            questions = load_questions(args.file, service.knowledge)
        except ValueError as exc:
            raise CliError(str(exc), status=1) from exc
        result = evaluate(service.matcher_for(), questions)
        for line in result.figure_lines() if args.figures_only else result.report_lines():
            print(line)
    else:
        raise CliError("give a question file, or --cross-validate")
    print()
    for line in result.reliability_lines():
        print(line)
    if args.sweep:
        print()
        for line in result.sweep_lines(service.matcher.threshold):
            print(line)
    failed = []
    if result.accuracy < args.min_accuracy:
        failed.append(f"accuracy {result.accuracy:.1%} < {args.min_accuracy:.1%}")
    if result.refusal_rate < args.min_refusal:
        failed.append(f"refusal {result.refusal_rate:.1%} < {args.min_refusal:.1%}")
    if failed:
        print("FAIL: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from pathlib import Path

    try:
        from bot.matcher.fit import fit
        from bot.matcher.model import FITTED_PATH
    except ImportError as exc:
        raise CliError(f"awssec fit needs numpy ({exc}); pip install numpy", status=1) from exc
    service = _service(args)
    kb = service.knowledge
    default_set = Path(__file__).resolve().parents[1] / "tests" / "questions.yaml"
    files = args.questions or ([str(default_set)] if default_set.exists() else [])
    public = _labelled_questions(files, kb)
    tests = default_set.parent
    development = _labelled_questions(args.development or _listed_sets(tests, "development"), kb)
    calibration = _labelled_questions(args.calibration or _listed_sets(tests, "calibration"), kb)
    model = fit(
        kb,
        public,
        search=not args.no_search,
        progress=print,
        development=development,
        calibration=calibration,
    )
    output = Path(args.output) if args.output else FITTED_PATH
    output.write_text(model.to_json(), encoding="utf-8")
    print(f"wrote {output}")
    return 0


def _labelled_questions(files: list[str], kb: KnowledgeBase) -> list[tuple[str, tuple[str, ...]]]:
    """(question, expected topic ids) from question set files; a bad file is a CliError."""
    from bot.evaluation import load_questions

    labelled: list[tuple[str, tuple[str, ...]]] = []
    for file in files:
        try:
            labelled.extend((q.text, q.expect) for q in load_questions(file, kb))
        except ValueError as exc:
            raise CliError(str(exc), status=1) from exc
    return labelled


def _listed_sets(tests: Path, kind: str) -> list[str]:
    """The question sets `tests/heldout/<kind>.txt` lists (one file name a line, `#`
    comments): "development" sets, whose misses have been read, or "calibration" sets, which
    nobody reads, that choose the threshold."""
    listing = tests / "heldout" / f"{kind}.txt"
    if not listing.exists():
        return []
    names = (line.split("#", 1)[0].strip() for line in listing.read_text().splitlines())
    return [str(listing.parent / name) for name in names if name]


def cmd_report(args: argparse.Namespace) -> int:
    from bot.storage import StorageError, Store
    from bot.storage.report import build_report, format_report, format_stale_topics, parse_since

    try:
        since = parse_since(args.since)
        store = Store.from_url()
        report = build_report(store, since)
    except (StorageError, ValueError) as exc:
        raise CliError(str(exc), status=1) from exc
    stale, days = _stale(args)
    if args.format == "json":
        document = report.to_dict()
        document["stale_topics"] = json.loads(format_stale_topics(stale, days, "json"))
        print(json.dumps(document, indent=2, ensure_ascii=False))
    elif args.format == "csv":
        print(format_report(report, "csv") + format_stale_topics(stale, days, "csv"), end="")
    else:
        print(format_report(report, "table"))
        print()
        print(format_stale_topics(stale, days))
    return 0


def _stale(args: argparse.Namespace) -> tuple[list[tuple[str, str | None]], int]:
    """Topics of the knowledge in use reviewed more than AWSSEC_STALE_DAYS ago."""
    from bot.config import stale_days
    from bot.knowledge import load_knowledge
    from bot.knowledge.review import stale_topics

    days = stale_days()
    kb = load_knowledge(resolve_knowledge_path(getattr(args, "knowledge", None)))
    topics = stale_topics(kb, days)
    return [(t.id, t.reviewed.isoformat() if t.reviewed else None) for t in topics], days


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.slack.server.serve import serve

    return serve(args.knowledge)


# --- learned questions -----------------------------------------------------------------------

# Where learned questions go when taught from the terminal.
CLI_SOURCE = "cli"
# Drafts exported as topics: not yet in any knowledge category, and a docs link to replace.
DRAFT_CATEGORY = "Drafts"
DRAFT_URL = "https://docs.aws.amazon.com/security/"
# A draft's name is its question, cut to this many characters (a name is a title, not prose).
DRAFT_NAME_CHARS = 80


def _learned_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-learned",
        action="store_true",
        help="leave out the learned questions stored in the database",
    )
    parser.add_argument(
        "--team",
        metavar="TEAM_ID",
        help="answer as for this Slack team (default: the learned questions of every team)",
    )


def _learned_parser(sub: argparse._SubParsersAction, knowledge: argparse.ArgumentParser) -> None:
    learned = sub.add_parser("learned", help="the questions taught to the bot, and drafts")
    actions = learned.add_subparsers(dest="learned_command", required=True, metavar="ACTION")

    lst = actions.add_parser("list", help="one line per learned question, starting with its id")
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.set_defaults(run=cmd_learned_list)

    add = actions.add_parser("add", parents=[knowledge], help="teach a question to a topic")
    add.add_argument("question", help="the wording to learn")
    add.add_argument("topic_id", help="the topic that answers it (see `awssec list`)")
    add.add_argument("--team", metavar="TEAM_ID", help="only for this Slack team (default: all)")
    add.set_defaults(run=cmd_learned_add)

    remove = actions.add_parser("remove", help="forget one learned question")
    remove.add_argument("id", type=_positive_int, help="its id, as `awssec learned list` shows")
    remove.set_defaults(run=cmd_learned_remove)

    drafts = actions.add_parser("drafts", help="experts' written answers awaiting review")
    drafts.add_argument("--json", action="store_true", help="print a JSON array")
    drafts.set_defaults(run=cmd_learned_drafts)

    export = actions.add_parser(
        "export",
        parents=[knowledge],
        help="learned questions and drafts in the knowledge-file format, for review",
    )
    export.add_argument("--format", choices=("yaml",), default="yaml")
    export.add_argument(
        "--into",
        metavar="FOLDER",
        help="write the knowledge with the learned questions added to their topics and the "
        "drafts as new topics (drafts.yaml) into FOLDER (a copy is made unless FOLDER is the "
        "knowledge folder itself); review with a diff, then `awssec check FOLDER`",
    )
    export.set_defaults(run=cmd_learned_export)


def _positive_int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not an id: {text[:40]!r}")
    return int(text)


class _Row:
    """A learned question as the matcher reads it (id, question, topic_id, team_id)."""

    __slots__ = ("id", "question", "team_id", "topic_id")

    def __init__(self, id: int, question: str, topic_id: str, team_id: str | None) -> None:
        self.id, self.question, self.topic_id, self.team_id = id, question, topic_id, team_id


class SqliteLearnedReader:
    """Learned questions read straight from the embedded SQLite file, without SQLAlchemy.

    Importing SQLAlchemy costs about 0.3 s, more than half of `awssec ask`'s budget; these
    two read-only queries need only the standard library. The table and column names are
    those of bot/storage/schema.py (tests check both read the same rows).
    """

    def __init__(self, path: str, team_id: str | None = None) -> None:
        self.path = path
        self.team_id = team_id

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import sqlite3
        from pathlib import Path

        # mode=ro: never creates or migrates anything (the Store does that).
        uri = Path(self.path).resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise CliError(f"cannot read {self.path}: {exc}", status=1) from None
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # a database from before learned questions: nothing learned
            raise CliError(f"cannot read {self.path}: {exc}", status=1) from None
        finally:
            conn.close()

    def learned_version(self) -> int:
        rows = self._query("SELECT version FROM learned_state WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    def learned(self, team_id: str | None = None) -> list[_Row]:
        sql = "SELECT id, question, topic_id, team_id FROM learned_questions"
        params: tuple = ()
        if self.team_id is not None:
            sql += " WHERE team_id IS NULL OR team_id = ?"
            params = (self.team_id,)
        return [_Row(*row) for row in self._query(sql + " ORDER BY id", params)]


class _StoreLearned:
    """The Store's learned questions as the CLI uses them: every team's, or one team's."""

    def __init__(self, store: Store, team_id: str | None) -> None:
        self.store = store
        self.team_id = team_id

    def learned_version(self) -> int:
        return int(self.store.learned_version())

    def learned(self, team_id: str | None = None) -> list[LearnedQuestion]:
        if self.team_id is None:
            return self.store.all_learned()
        return self.store.learned(self.team_id)


def _sqlite_file(url: str) -> str | None:
    """The file of an `sqlite:///…` URL, None for other databases or an in-memory one."""
    from pathlib import Path

    if not url.startswith("sqlite:"):
        return None
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        return ""
    return str(Path(path).expanduser())


def _learned_source(team_id: str | None) -> LearnedSource | None:
    """Where `ask`/`eval` read learned questions: None when no database is configured (no
    $DATABASE_URL and no embedded SQLite file: nothing is created just to ask)."""
    from pathlib import Path

    from bot.config import database_url, default_sqlite_path

    url = database_url()
    if url is None:
        path = default_sqlite_path()
        return SqliteLearnedReader(str(path), team_id) if path.is_file() else None
    file = _sqlite_file(url)
    if file is not None:
        return SqliteLearnedReader(file, team_id) if file and Path(file).is_file() else None
    return _StoreLearned(_open_store(), team_id)


def _open_store() -> Store:
    from bot.storage import StorageError, Store

    try:
        return Store.from_url()
    except StorageError as exc:
        raise CliError(str(exc), status=1) from None


def _storage_call(call: Callable[[], T]) -> T:
    from bot.storage import StorageError

    try:
        return call()
    except StorageError as exc:
        raise CliError(str(exc), status=1) from None


def _learned_dict(row: LearnedQuestion) -> dict:
    return {
        "id": row.id,
        "question": row.question,
        "topic_id": row.topic_id,
        "taught_by": row.taught_by,
        "source": row.source,
        "group_key": row.group_key,
        "team_id": row.team_id,
        "enterprise_id": row.enterprise_id,
        "created_at": row.created_at.isoformat(timespec="seconds") + "Z",
    }


def cmd_learned_list(args: argparse.Namespace) -> int:
    rows = _storage_call(_open_store().all_learned)
    if args.json:
        print(json.dumps([_learned_dict(r) for r in rows], ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        who = f" by {row.taught_by}" if row.taught_by else ""
        team = f", team {row.team_id}" if row.team_id else ""
        print(
            f"{row.id}\t{row.topic_id}\t{row.question}\t"
            f"({row.source}{who}, {row.created_at:%Y-%m-%d}{team})"
        )
    if not rows:
        print("no learned questions", file=sys.stderr)
    return 0


def cmd_learned_add(args: argparse.Namespace) -> int:
    import getpass
    from difflib import get_close_matches

    from bot.storage import StorageError

    question = _valid_text(args.question).strip()
    if not question:
        raise CliError('the question is empty; try: awssec learned add "QUESTION" TOPIC_ID')
    kb = _service(args).knowledge
    if kb.get(args.topic_id) is None:
        close = get_close_matches(args.topic_id, [t.id for t in kb.topics], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else " (see `awssec list`)"
        raise CliError(f"unknown topic id '{args.topic_id}'{hint}")
    try:
        user: str | None = getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        user = None
    store = _open_store()
    try:
        new_id = store.add_learned(
            question, args.topic_id, taught_by=user, source=CLI_SOURCE, team_id=args.team
        )
    except StorageError as exc:
        raise CliError(str(exc), status=1) from None
    if new_id is None:
        print(f"already learned for {args.topic_id}; nothing changed")
    else:
        print(f"{new_id}\tlearned for {args.topic_id}")
    return 0


def cmd_learned_remove(args: argparse.Namespace) -> int:
    store = _open_store()
    if not _storage_call(lambda: store.remove_learned(args.id)):
        raise CliError(f"no learned question with id {args.id}", status=1)
    print(f"removed {args.id}")
    return 0


def cmd_learned_drafts(args: argparse.Namespace) -> int:
    rows = _storage_call(_open_store().drafts)
    if args.json:
        out = [
            {
                "id": d.id,
                "question": d.question,
                "answer_text": d.answer_text,
                "expert_id": d.expert_id,
                "team_id": d.team_id,
                "enterprise_id": d.enterprise_id,
                "created_at": d.created_at.isoformat(timespec="seconds") + "Z",
            }
            for d in rows
        ]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for d in rows:
        answer = " ".join(d.answer_text.split())
        print(f"{d.id}\t{d.question}\t{answer}\t(by {d.expert_id}, {d.created_at:%Y-%m-%d})")
    if not rows:
        print("no drafts", file=sys.stderr)
    return 0


def _draft_topic(draft: Draft, today: dt.date) -> dict:
    """A draft as a knowledge topic that `awssec check` accepts, to be completed in review."""
    name = " ".join(draft.question.split())
    if len(name) > DRAFT_NAME_CHARS:
        name = name[: DRAFT_NAME_CHARS - 1].rstrip() + "…"
    return {
        "id": f"draft-{draft.id}",
        "name": name,
        "aliases": [],
        "category": DRAFT_CATEGORY,
        "source": "beyond-notes",
        "reviewed": today,
        "summary": " ".join(draft.answer_text.split()),
        "facts": [
            f"Answered by expert {draft.expert_id} on {draft.created_at:%Y-%m-%d}; "
            "check it against the AWS documentation before moving it into the knowledge."
        ],
        "questions": [draft.question],
        "related": [],
        "url": DRAFT_URL,
    }


def _yaml_item(text: str, indent: str) -> str:
    """One `- item` line for a YAML block list, quoted as YAML needs."""
    import yaml

    # One line: a wording's line breaks carry no meaning.
    dumped = yaml.safe_dump(
        [" ".join(text.split())], allow_unicode=True, width=10**6, default_flow_style=False
    )
    return indent + dumped.rstrip("\n")


def _learned_by_topic(
    kb: KnowledgeBase, rows: list[LearnedQuestion]
) -> tuple[dict[str, list[LearnedQuestion]], list[str]]:
    """Learned rows grouped by topic (wordings already among its example questions dropped),
    and the unknown topic ids."""
    grouped: dict[str, list] = {}
    unknown: list[str] = []
    for row in rows:
        topic = kb.get(row.topic_id)
        if topic is None:
            unknown.append(row.topic_id)
            continue
        known = {q.casefold().strip() for q in topic.questions}
        known.update(r.question.casefold().strip() for r in grouped.get(row.topic_id, []))
        if row.question.casefold().strip() not in known:
            grouped.setdefault(row.topic_id, []).append(row)
    return grouped, sorted(set(unknown))


def cmd_learned_export(args: argparse.Namespace) -> int:
    import yaml

    kb = _service(args).knowledge
    store = _open_store()
    rows = _storage_call(store.all_learned)
    drafts = _storage_call(store.drafts)
    grouped, unknown = _learned_by_topic(kb, rows)
    today = dt.date.today()
    if args.into:
        return _export_into(args, kb, grouped, drafts, today)
    lines = [
        f"# awssec learned export, {today.isoformat()}: "
        f"{sum(len(v) for v in grouped.values())} learned question(s) for {len(grouped)} "
        f"topic(s), {len(drafts)} draft(s).",
        "#",
        "# Learned questions, by topic: add them under that topic's `questions:` in the file",
        "# named (or run `awssec learned export --into FOLDER` to do it and review the diff).",
    ]
    for topic_id, items in sorted(grouped.items()):
        where = kb.get(topic_id)
        place = f"{where.file}:{where.line}" if where else "?"
        lines += ["#", f"# - id: {topic_id}    # {place}", "#   questions:"]
        lines += [
            "#" + _yaml_item(r.question, "     ") + f"  # learned {r.id} ({r.source})"
            for r in items
        ]
    for topic_id in unknown:
        lines.append(f"# (skipped: learned questions for '{topic_id}', not in the knowledge)")
    lines += [
        "#",
        "# Drafts: experts' answers as new topics; complete category, facts, related and url,",
        "# then move each into the knowledge file of its category.",
    ]
    topics = [_draft_topic(d, today) for d in drafts]
    body = yaml.safe_dump(
        {"topics": topics}, allow_unicode=True, sort_keys=False, width=100, indent=2
    )
    print("\n".join(lines))
    print(body, end="")
    return 0


def _export_into(
    args: argparse.Namespace,
    kb: KnowledgeBase,
    grouped: dict[str, list[LearnedQuestion]],
    drafts: list[Draft],
    today: dt.date,
) -> int:
    """Copy the knowledge into `args.into` (unless it is that folder) with the learned
    questions inserted at the end of each topic's `questions:` list, and drafts.yaml."""
    import shutil
    from pathlib import Path

    import yaml

    from bot.knowledge.loader import knowledge_files

    source = resolve_knowledge_path(args.knowledge)
    target = Path(args.into)
    files = knowledge_files(source)
    if target.exists() and not target.is_dir():
        raise CliError(f"not a folder: {target}")
    target.mkdir(parents=True, exist_ok=True)
    in_place = source.is_dir() and target.resolve() == source.resolve()
    if not in_place:
        for file in files:
            shutil.copy2(file, target / file.name)
    by_file: dict[str, list[Topic]] = {}
    for topic_id in grouped:
        topic = kb.get(topic_id)
        if topic is not None:  # grouped holds only the knowledge's topics
            by_file.setdefault(Path(topic.file).name, []).append(topic)
    added = 0
    for name, topics in sorted(by_file.items()):
        path = target / name
        lines = path.read_text(encoding="utf-8").split("\n")
        # Bottom-up, so earlier topics' line numbers stay right.
        for topic in sorted(topics, key=lambda t: -t.line):
            lines, count = _insert_questions(lines, topic, [r.question for r in grouped[topic.id]])
            added += count
        path.write_text("\n".join(lines), encoding="utf-8")
    if drafts:
        document = yaml.safe_dump(
            {"topics": [_draft_topic(d, today) for d in drafts]},
            allow_unicode=True,
            sort_keys=False,
            width=100,
            indent=2,
        )
        header = "# Drafts exported by `awssec learned export`: review, complete, then move.\n"
        (target / "drafts.yaml").write_text(header + document, encoding="utf-8")
    print(f"{added} learned question(s) added, {len(drafts)} draft(s) written, in {target}")
    return 0


def _insert_questions(
    lines: list[str], topic: Topic, questions: list[str]
) -> tuple[list[str], int]:
    """`lines` with `questions` appended to `topic`'s block-style `questions:` list."""
    import re

    start = topic.line - 1  # the `- id:` line
    item_indent = len(lines[start]) - len(lines[start].lstrip(" -"))
    key = re.compile(rf"^ {{{item_indent}}}questions:\s*(#.*)?$")
    at = next((i for i in range(start, len(lines)) if key.match(lines[i])), None)
    if at is None:
        raise CliError(
            f"{topic.file}:{topic.line}: topic '{topic.id}' has no block-style `questions:` "
            "list to add to; add its learned questions by hand"
        )
    end, indent = at, " " * (item_indent + 2)
    for i in range(at + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if len(line) - len(line.lstrip()) <= item_indent:
            break
        if line.lstrip().startswith("- ") and end == at:
            indent = line[: len(line) - len(line.lstrip())]
        end = i
    new = [_yaml_item(q, indent) for q in questions]
    return lines[: end + 1] + new + lines[end + 1 :], len(new)
