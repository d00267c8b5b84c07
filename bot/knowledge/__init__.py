"""Knowledge layer: YAML knowledge files in, a validated `KnowledgeBase` out."""

from bot.knowledge.loader import (
    bundled_knowledge_path,
    check_knowledge,
    load_knowledge,
    resolve_knowledge_path,
)
from bot.knowledge.model import KnowledgeBase, Topic
from bot.knowledge.problems import KnowledgeError, Problem

__all__ = [
    "KnowledgeBase",
    "KnowledgeError",
    "Problem",
    "Topic",
    "bundled_knowledge_path",
    "check_knowledge",
    "load_knowledge",
    "resolve_knowledge_path",
]
