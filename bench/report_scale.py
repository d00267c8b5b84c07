"""Report time over many stored misses: `awssec report` / `/awssec report` must stay fast.

    python bench/report_scale.py [--misses 10000] [--answers 2000] [--runs 5]
                                 [--old-rows] [--keep FILE]

Stores ``misses`` generated missed questions (long, varied: openers, pasted context, error
lines, typos; some questions asked again in other words) and ``answers`` answered questions with
votes in an SQLite file in a temporary folder, then times ``build_report`` + the formatted
table ``runs`` times and prints min/median/max. Asserts nothing (machines are shared and noisy).

Misses carry their tidied text as Store.record_answer stores it; ``--old-rows`` leaves it out,
as in rows recorded before the ``question_tidied`` column (the report tidies those itself).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.storage import Store, build_report, format_report
from bot.storage.report import stored_tidy
from bot.storage.schema import answers, votes
from bot.storage.store import utcnow

SERVICES = [
    "EC2", "S3", "Lambda", "EKS", "ECS", "RDS", "Aurora", "DynamoDB", "CloudFront", "Route 53",
    "API Gateway", "SQS", "SNS", "Kinesis", "Glue", "Athena", "Redshift", "EMR", "SageMaker",
    "Bedrock", "Transfer Family", "Direct Connect", "Transit Gateway", "Workspaces", "AppStream",
    "Cognito", "Step Functions", "EventBridge", "Backup", "Elastic Beanstalk", "Lightsail",
]  # fmt: skip
ASKS = [
    "how do I restrict {s} access to our VPC only",
    "can {s} be encrypted with a customer managed key from another account",
    "what is the retention for {s} logs and can we extend it for the audit",
    "is {s} in scope for PCI DSS and HIPAA in {r}",
    "how do we stop developers from making {s} resources public",
    "does {s} support private endpoints without internet access",
    "who is responsible for patching {s} under the shared model",
    "how should we tag {s} resources for cost and data classification",
    "what permissions does a CI pipeline need to deploy {s} safely",
    "how can I get an alert when someone changes the {s} configuration",
    "is there a way to prove to auditors that {s} data never leaves {r}",
    "how do I resize {s} capacity without downtime",
    "what is the cheapest way to back up {s} across regions",
    "can we use {s} with our on premises Active Directory",
    "how to migrate {s} to a new account in the organization",
]
OPENERS = [
    "", "", "Hi team, ", "Quick question: ", "Sorry if this was asked before, but ",
    "We're preparing for our SOC 2 audit and ", "Our security lead wants to know ",
    "hey <@U02ABCDEF> ", "Following up on yesterday's thread, ", "For the FedRAMP review, ",
]  # fmt: skip
CONTEXT = [
    "We have {n} accounts in our AWS Organization and a landing zone built with Control Tower.",
    "Production runs in {r} with a disaster recovery copy in us-west-2.",
    "The auditor asked for evidence of encryption at rest and in transit for every data store.",
    "Right now everything is deployed with Terraform from a GitHub Actions runner.",
    "I tried following the docs but got: An error occurred (AccessDeniedException) when calling "
    "the {op} operation: User: arn:aws:sts::{acct}:assumed-role/deploy/ci is not authorized.",
    "Our SCPs deny everything outside {r} except IAM and CloudFront.",
    "We store customer PII, card data for about {n} merchants, and some health records.",
    "The team is small so we would prefer a managed option over running our own tooling.",
    "Last week a contractor left and we are not sure which keys and roles they still have.",
    "Is there a runbook or a reference architecture we can follow?",
    "Budget is tight, so anything that adds a per-request charge is hard to justify.",
    "Logs currently go to a central bucket in the log archive account, kept for {n} days.",
]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2", "ca-central-1"]
OPERATIONS = ["PutBucketPolicy", "CreateGrant", "AssumeRole", "PutObject", "UpdateFunctionCode"]
ACTIONS = ["s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey", "iam:PassRole"]


def _pasted_policy(rng: random.Random) -> str:
    """A pasted IAM policy or log excerpt: what makes real misses long."""
    statements = [
        f'{{"Sid": "S{i}", "Effect": "{rng.choice(["Allow", "Deny"])}", '
        f'"Action": ["{rng.choice(ACTIONS)}", "{rng.choice(ACTIONS)}"], '
        f'"Resource": "arn:aws:s3:::bucket-{rng.randrange(10**6)}/*", "Condition": '
        f'{{"StringEquals": {{"aws:PrincipalOrgID": "o-{rng.randrange(10**9)}"}}}}}}'
        for i in range(rng.randint(3, 14))
    ]
    return 'Here is the policy: {"Version": "2012-10-17", "Statement": [' + ", ".join(statements)


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        s=rng.choice(SERVICES),
        r=rng.choice(REGIONS),
        n=rng.choice([3, 12, 40, 250, 1200]),
        op=rng.choice(OPERATIONS),
        acct=rng.randrange(10**11, 10**12),
    )


def generated_misses(count: int, seed: int = 11) -> list[str]:
    """``count`` missed questions; about a third repeat an earlier core question in new words."""
    return [question for _core, question in generated_asks(count, seed)]


def generated_asks(count: int, seed: int = 11) -> list[tuple[str, str]]:
    """(core question, the miss as typed): the core says which misses are the same question."""
    rng = random.Random(seed)
    cores: list[str] = []
    out: list[tuple[str, str]] = []
    for _ in range(count):
        if cores and rng.random() < 0.35:
            core = rng.choice(cores[-300:])  # asked again: same need, new framing
        else:
            core = _fill(rng.choice(ASKS), rng)
            cores.append(core)
        words = [_typo(w, rng) if rng.random() < 0.03 else w for w in core.split()]
        context = [_fill(c, rng) for c in rng.sample(CONTEXT, rng.randint(0, 6))]
        question = rng.choice(OPENERS) + " ".join(words) + rng.choice(["?", "??", "", "."])
        paste = [_pasted_policy(rng)] if rng.random() < 0.15 else []
        out.append((core, " ".join([question, *context, *paste])))
    return out


def fill(store: Store, misses: int, answered: int, *, old_rows: bool = False) -> None:
    """Bulk-insert rows shaped like Store.record_answer's (one transaction: setup speed);
    ``old_rows``: misses without their tidied text, as recorded before that column."""
    now = utcnow()
    rng = random.Random(5)
    common = {"team_id": "TBENCH", "channel_id": "CBENCH", "surface": "mention"}
    miss_rows = [
        {
            **common,
            "created_at": now - timedelta(minutes=i),
            "question": question,
            "question_tidied": None if old_rows else stored_tidy(question),
            "topic_ids": [],
            "suggestion_ids": rng.sample(["macie", "kms", "iam", "guardduty", "s3-encryption"], 2),
            "confidence": 0.2,
            "is_miss": True,
            "user_id": f"U{i % 97}",
        }
        for i, question in enumerate(generated_misses(misses))
    ]
    answer_rows = [
        {
            **common,
            "created_at": now - timedelta(minutes=i, seconds=30),
            "question": f"answered question {i}",
            "question_tidied": None,
            "topic_ids": [f"topic-{i % 40}"],
            "suggestion_ids": [],
            "confidence": 0.9,
            "is_miss": False,
            "user_id": f"U{i % 97}",
        }
        for i in range(answered)
    ]
    with store.engine.begin() as conn:
        if miss_rows:
            conn.execute(answers.insert(), miss_rows)
        if answer_rows:
            conn.execute(answers.insert(), answer_rows)
            ids = conn.execute(answers.select().where(~answers.c.is_miss)).all()
            conn.execute(
                votes.insert(),
                [
                    {
                        "answer_id": row.id,
                        "team_id": "TBENCH",
                        "user_id": "U1",
                        "channel_id": "CBENCH",
                        "helpful": row.id % 3 != 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for row in ids[::2]
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--old-rows", action="store_true", help="misses without their stored tidied text"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="FILE",
        help="write the database to FILE and keep it (to time `awssec report` as a process: "
        "DATABASE_URL=sqlite:///FILE awssec report --since 90d)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep.resolve() if args.keep else Path(tmp) / "bench.db"
        store = Store.from_url(f"sqlite:///{path}", auto_purge=False)
        fill(store, args.misses, args.answers, old_rows=args.old_rows)
        times, table = [], ""
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = build_report(store, timedelta(days=90))
            table = format_report(report, "table")
            times.append(time.perf_counter() - t0)
        store.dispose()

    print(table.split("\n\nMost")[0])
    print(
        f"\n{args.misses} misses{' (old rows)' if args.old_rows else ''} + {args.answers} "
        f"answers, {args.runs} runs: "
        f"report + table min {min(times):.3f} s, median {statistics.median(times):.3f} s, "
        f"max {max(times):.3f} s"
    )


if __name__ == "__main__":
    main()
